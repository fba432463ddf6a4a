import Foundation
import Hummingbird
import Logging
import NIOHTTP1
import Synchronization

/// One line per request: method, the matched route's pattern (never the URL itself,
/// which can carry a webhook token or a generic gateway secret), status and duration, and
/// what the route noted (`RequestNote`); the same but the note go to the metrics.
struct RequestLog: RouterMiddleware {
    typealias Context = BasicRequestContext
    let logger: Logger
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let note = RequestNote()
        var status = HTTPResponse.Status.internalServerError
        defer {
            let elapsed = started.duration(to: .now)
            let milliseconds = elapsed.seconds * 1000
            let route = context.endpointPath ?? "none"
            logger.info("request", metadata: note.metadata.merging([
                "method": "\(request.method)", "route": "\(route)",
                "status": "\(status.code)", "ms": "\(String(format: "%.1f", milliseconds))",
            ]) { _, fixed in fixed })
            metrics.requestServed(method: "\(request.method)", route: route, status: status.code, duration: elapsed)
        }
        do {
            let response = try await RequestNote.$current.withValue(note) { try await next(request, context) }
            status = response.status
            return response
        } catch let error as any HTTPResponseError {
            status = error.status
            if status == .contentTooLarge { note.add("refused", "the body is larger than --max-body") }
            throw error
        } catch let error as HTTPParserError {
            status = .badRequest // a request that ended early or broke HTTP: Hummingbird answers it
            throw error
        } catch {
            // Anything else is the gateway's own failure, mostly the store's (Hummingbird
            // would log it only at debug and answer an empty 500). The store's errors name
            // the query, never its values.
            logger.error("\(request.method) \(context.endpointPath ?? "none") failed: \(error)")
            return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "the gateway could not answer this request (its log says why)\n")))
        }
    }
}

/// What a request came to, for its line in the log: the project a webhook was for, the
/// build it made or joined, or why it was refused — so that an operator can tie a sender's
/// delivery to its build, or see why a registry's webhooks get 401. Routes add to the note
/// of the request they serve (`RequestNote.add`); nothing in it may be a secret.
final class RequestNote: Sendable {
    @TaskLocal static var current: RequestNote?

    private let fields = Mutex<Logger.Metadata>([:])

    var metadata: Logger.Metadata { fields.withLock { $0 } }

    func add(_ key: String, _ value: String) {
        fields.withLock { $0[key] = .string(value) }
    }

    /// Adds to the note of the request this task serves (none outside a request).
    static func add(_ key: String, _ value: String) {
        current?.add(key, value)
    }
}
