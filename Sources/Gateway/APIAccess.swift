import Hummingbird

/// Who may use the API under `/v1`, and `/metrics`. With a token (`--api-token-file`), only requests that
/// carry it as `Authorization: Bearer <token>`. Without one, reads stay open, as Brigade's
/// API was, and requests that change something (stopping a build) are refused: anyone who
/// can reach the port could make them.
struct APIAccess: RouterMiddleware {
    typealias Context = BasicRequestContext
    /// The token's digest; nil when none is configured.
    let tokenDigest: [UInt8]?

    init(token: String?) {
        tokenDigest = token.map(WebhookSecrets.digest)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let tokenDigest {
            guard let presented = request.bearerCredential, WebhookSecrets.matches(presented, digest: tokenDigest) else {
                var refused = Reply.unauthorized
                refused.headers[.wwwAuthenticate] = #"Bearer realm="brigantine""#
                return refused
            }
        } else if request.method != .get && request.method != .head {
            return Reply.status(.forbidden, "the gateway has no API token (--api-token-file): changes through the API are off")
        }
        return try await next(request, context)
    }
}

extension Request {
    /// The first value of a header that has no name of its own in HTTPTypes (`name` in lower case).
    func header(named name: String) -> String? {
        headers.first { $0.name.canonicalName == name }?.value
    }

    /// What `Authorization` carries: the credential of `Bearer <credential>`, else the whole value.
    var bearerCredential: String? {
        guard let authorization = headers[.authorization] else { return nil }
        return authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : authorization
    }
}
