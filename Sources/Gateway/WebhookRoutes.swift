import BrigantineCore
import Foundation
import Hummingbird
import Store

/// The webhook routes: Brigade 1.x's container-registry gateway, its 0.x Docker Hub route,
/// and the generic gateway (SimpleEvent and CloudEvents), with authentication Brigade
/// lacked. Every accepted webhook is stored before the answer, which names the build.
struct WebhookRoutes: Sendable {
    let registry: ProjectRegistry
    let store: any BuildStore
    /// Told the project of each build stored, and when it may start (nil: at once).
    let accepted: @Sendable (_ projectID: String, _ notBefore: Date?) -> Void
    /// Told of each webhook that found a build instead of making one: `duplicate` or `coalesced`.
    let joined: @Sendable (_ how: String) -> Void
    let maxBodySize: Int
    let rateLimiter: WebhookRateLimiter
    let queueLimit: QueueLimit
    let storeOutage: StoreOutage

    func add(to router: Router<BasicRequestContext>) {
        // Brigade 1.x: /events/webhook/<name, ID or URL token>, /<org>/<repo>, /<org>/<repo>/<commit>.
        // One parameter name per position: the router insists. The first segment is a project
        // name, a Brigade ID or a URL token when it stands alone.
        router.post("events/webhook/:org") { request, context in
            try await registryWebhook(request, key: context.parameters.require("org"),
                                      commitish: request.uri.queryParameters["commit"].map(String.init) ?? "")
        }
        router.post("events/webhook/:org/:repo") { request, context in
            try await registryWebhook(request, key: "\(try context.parameters.require("org"))/\(try context.parameters.require("repo"))",
                                      commitish: request.uri.queryParameters["commit"].map(String.init) ?? "")
        }
        router.post("events/webhook/:org/:repo/:commit") { request, context in
            let query = request.uri.queryParameters["commit"].map(String.init) ?? ""
            return try await registryWebhook(
                request, key: "\(try context.parameters.require("org"))/\(try context.parameters.require("repo"))",
                commitish: query.isEmpty ? try context.parameters.require("commit") : query)
        }
        // Brigade 0.x: the event was still called imagePush and the commit was a path segment.
        router.post("events/dockerhub/:org/:project/:commit") { request, context in
            try await registryWebhook(
                request, key: "\(try context.parameters.require("org"))/\(try context.parameters.require("project"))",
                commitish: try context.parameters.require("commit"), legacy: true)
        }
        router.post("simpleevents/v1/:project/:secret") { request, context in
            try await genericWebhook(request, project: context.parameters.require("project"),
                                     secret: context.parameters.require("secret"), kind: .simpleEvent)
        }
        router.post("cloudevents/v02/:project/:secret") { request, context in
            try await genericWebhook(request, project: context.parameters.require("project"),
                                     secret: context.parameters.require("secret"), kind: .cloudEvent)
        }
    }

    // MARK: Container registries

    private func registryWebhook(_ request: Request, key: String, commitish: String, legacy: Bool = false) async throws -> Response {
        let entry: ProjectRegistry.Entry, body: ByteBuffer
        if let signature = WebhookSignature.presented(in: request) {
            // A signature is checked against the body, so the body comes first (for an
            // unknown project too, which then takes the same time as a wrong signature).
            let candidate = registry.entry(token: key) ?? registry.entry(named: key)
            body = try await request.body.collect(upTo: maxBodySize)
            guard let candidate, signature.matches(Data(buffer: body), secret: candidate.project.webhookSecret) else {
                if let candidate {
                    RequestNote.add("project", candidate.project.name)
                    RequestNote.add("refused", "the body's signature does not match the project's webhookSecret")
                } else {
                    _ = signature.matches(Data(buffer: body), secret: nil)
                    RequestNote.add("refused", Self.noSuchProject)
                }
                return Reply.unauthorized
            }
            entry = candidate
            RequestNote.add("project", entry.project.name)
        } else {
            guard let authenticated = authenticateRegistry(request, key: key) else { return Reply.unauthorized }
            entry = authenticated
            RequestNote.add("project", entry.project.name) // before the body, which may be over the cap
            body = try await request.body.collect(upTo: maxBodySize)
        }
        guard entry.project.gateways.contains(.containerRegistry) else {
            return Reply.refusal(.forbidden, "the container-registry gateway is not enabled for this project")
        }
        let payload = Data(buffer: body)
        // Parsed once, for the provider and the delivery key (the payload itself is kept as sent).
        let object = (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any]
        if Self.isPing(request, body: object) {
            RequestNote.add("ping", "true")
            return Reply.json(.ok, ["status": "Success", "ping": true,
                                    "message": "ping received: the webhook reaches its project; no build was made"])
        }
        // Brigade put the commitish in revision.ref; its 0.x route had a commit instead.
        var build = NewBuild(
            projectID: entry.project.id, projectName: entry.project.name,
            eventType: legacy ? "imagePush" : "image_push", provider: Self.registryProvider(of: object),
            commit: legacy ? commitish : "", ref: legacy ? "" : commitish, payload: payload,
            deliveryKey: deliveryKey(request, entry.project, body: object))
        coalesce(&build, entry.project, body: object)
        return await store(build, of: entry.project, answer: "Success")
    }

    /// Most bytes of a revision's commit or ref, which come from the request (`?commit=`, a
    /// SimpleEvent's or CloudEvent's body) and go with the build into every listing: git's
    /// names are far shorter, and a ref of 2 MB was stored and listed as it came.
    static let maxRevisionBytes = 1024

    /// Why the build's revision is refused; nil when it is not.
    static func revisionRefusal(_ build: NewBuild) -> String? {
        for (name, value) in [("commit", build.commit), ("ref", build.ref)] where value.utf8.count > maxRevisionBytes {
            return "the revision's \(name) is \(value.utf8.count) bytes long; at most \(maxRevisionBytes) are taken (a git commit or ref)"
        }
        return nil
    }

    /// A sender checking that its webhook works: GitHub's `ping` event (sent when a hook is
    /// made), ACR's ping (`{"action": "ping"}`, from its portal or `az acr webhook ping`).
    /// It is answered, but runs no build: a script written for pushes would only fail on it.
    static func isPing(_ request: Request, body: [String: Any]?) -> Bool {
        if let event = request.header(named: "x-github-event") { return event == "ping" }
        guard let body else { return false }
        return body["action"] as? String == "ping" && body["target"] == nil
    }

    /// The project a registry webhook is for, if the request proves it may post to it:
    /// the key is the project's URL token, or the project is `insecure`, or the request
    /// carries the token in `?token=` or the webhook secret in `Authorization`.
    /// An unknown project and a wrong secret look the same from outside.
    private func authenticateRegistry(_ request: Request, key: String) -> ProjectRegistry.Entry? {
        if let entry = registry.entry(token: key) { return entry }
        guard let entry = registry.entry(named: key) else {
            _ = WebhookSecrets.matches(key, digest: nil) // same work as a wrong secret
            RequestNote.add("refused", Self.noSuchProject)
            return nil
        }
        if entry.project.insecure { return entry }
        let token = request.uri.queryParameters["token"], secret = request.bearerCredential
        if let token, WebhookSecrets.matches(String(token), digest: entry.tokenDigest) {
            return entry
        }
        if let secret, WebhookSecrets.matches(secret, digest: entry.webhookSecretDigest) {
            return entry
        }
        RequestNote.add("project", entry.project.name)
        RequestNote.add("refused", token == nil && secret == nil
            ? "the project's name came without its URL token, a ?token=, an Authorization or a signature"
            : "the ?token= or Authorization does not match the project's")
        return nil
    }

    /// Said in the log of a webhook whose URL names no project (nor is a project's URL token).
    static let noSuchProject = "no project has this name or URL token"

    /// `acr` for Azure Container Registry's bodies (which Brigade also called `dockerhub`).
    static func registryProvider(of body: [String: Any]?) -> String {
        guard let body else { return "dockerhub" }
        return body["action"] is String && body["target"] is [String: Any] ? "acr" : "dockerhub"
    }

    // MARK: Generic gateway

    enum GenericKind { case simpleEvent, cloudEvent }

    private func genericWebhook(_ request: Request, project key: String, secret: String, kind: GenericKind) async throws -> Response {
        guard let entry = registry.entry(named: key) else {
            _ = WebhookSecrets.matches(secret, digest: nil)
            RequestNote.add("refused", "no project has this name")
            return Reply.unauthorized
        }
        RequestNote.add("project", entry.project.name)
        if entry.genericSecretDigest == nil, entry.project.insecure {
            // Brigade's answer, for projects that asked for Brigade's behaviour.
            return Reply.refusal(.unauthorized, "secret for this Brigade Project is empty, refusing to serve, please inform your Brigade admin")
        }
        guard WebhookSecrets.matches(secret, digest: entry.genericSecretDigest) else {
            RequestNote.add("refused", "the path's secret does not match the project's genericGatewaySecret")
            return Reply.unauthorized
        }
        guard entry.project.gateways.contains(.generic) else {
            return Reply.refusal(.forbidden, "the generic gateway is not enabled for this project")
        }
        let payload = Data(buffer: try await request.body.collect(upTo: maxBodySize))
        let parsed: Result<(commit: String, ref: String), GenericEventError>
        switch kind {
        case .simpleEvent: parsed = GenericEvents.simpleEventRevision(payload)
        case .cloudEvent: parsed = GenericEvents.cloudEventRevision(payload)
        }
        switch parsed {
        case .failure(let error):
            return Reply.refusal(.badRequest, error.message)
        case .success(let revision):
            let project = entry.project
            // Parsed again (the checks above keep no parse) only for a project that needs it.
            let body = project.deduplicate || project.coalesceWindow != nil
                ? (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] : nil
            var build = NewBuild(
                projectID: project.id, projectName: project.name,
                eventType: kind == .simpleEvent ? "simpleevent" : "cloudevent", provider: "GenericWebhook",
                commit: revision.commit, ref: revision.commit.isEmpty && revision.ref.isEmpty ? "master" : revision.ref,
                payload: payload, deliveryKey: deliveryKey(request, project, body: body))
            coalesce(&build, project, body: body)
            return await store(build, of: project, answer: kind == .simpleEvent ? "Success. Build created" : "Success")
        }
    }

    // MARK: Storing

    /// The body is parsed (when the caller has not) only for a project that deduplicates.
    private func deliveryKey(_ request: Request, _ project: Project, body: @autoclosure () -> [String: Any]?) -> String? {
        DeliveryKey.of(idempotencyKey: request.header(named: "idempotency-key"),
                       gitHubDelivery: request.header(named: "x-github-delivery"),
                       body: project.deduplicate ? body() : nil)
    }

    /// For a project with a coalescing window: what the webhook is about, and the window's end.
    private func coalesce(_ build: inout NewBuild, _ project: Project, body: [String: Any]?) {
        guard let window = project.coalesceWindow, let key = CoalesceKey.of(eventType: build.eventType, body: body) else { return }
        build.coalesceKey = key
        build.notBefore = Date().addingTimeInterval(window)
    }

    /// 200 with the build's ID once the build is durable; 503 when it could not be stored, or
    /// with `Retry-After` when the gateway's queue is full; 429 with `Retry-After` when the
    /// project is over its rate limit (nothing is stored in either case).
    /// A delivery sent again gets the first one's build, marked `"duplicate": true`; one that
    /// joined a pending build in its coalescing window gets that build, `"coalesced": true`.
    private func store(_ build: NewBuild, of project: Project, answer: String) async -> Response {
        if let refusal = Self.revisionRefusal(build) {
            RequestNote.add("refused", refusal)
            return Reply.refusal(.badRequest, refusal)
        }
        if case .full(let waiting, let limit) = queueLimit.check() {
            return Reply.tryAgain(.serviceUnavailable, "the gateway's queue is full (\(waiting) builds wait, its limit is \(limit))",
                                  in: QueueLimit.retryAfterSeconds)
        }
        if case .refused(let retryAfter) = rateLimiter.take(for: project) {
            return Reply.tryAgain(.tooManyRequests, "over this project's rate limit of \(project.rateLimit.map(String.init(describing:)) ?? "")",
                                  in: retryAfter)
        }
        do {
            let stored = try await store.create(build)
            storeOutage.succeeded()
            guard stored.id == build.id else {
                rateLimiter.giveBack(for: project) // no new build was made
                let how = build.deliveryKey != nil && stored.build.deliveryKey == build.deliveryKey ? "duplicate" : "coalesced"
                joined(how)
                RequestNote.add("build", stored.id)
                RequestNote.add("joined", how)
                return Reply.json(.ok, ["status": answer, "build": stored.id, how: true])
            }
            queueLimit.accepted()
            accepted(build.projectID, build.notBefore)
            RequestNote.add("build", stored.id)
            return Reply.json(.ok, ["status": answer, "build": stored.id])
        } catch {
            rateLimiter.giveBack(for: project)
            storeOutage.failed(error, webhook: true)
            return Reply.refusal(.serviceUnavailable, "the build could not be stored; nothing was accepted, try again")
        }
    }
}

/// Brigade's checks on generic gateway bodies, answered with its messages, but as 400s
/// where Brigade answered 500 or crashed.
enum GenericEvents {
    static let invalidJSON = GenericEventError("Malformed POST data - Invalid JSON")

    /// SimpleEvent: empty, `null`, or an object whose `commit`/`ref` (any letter case) are strings.
    static func simpleEventRevision(_ payload: Data) -> Result<(commit: String, ref: String), GenericEventError> {
        if payload.isEmpty { return .success(("", "")) }
        guard let value = try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed]) else {
            return .failure(invalidJSON)
        }
        if value is NSNull { return .success(("", "")) }
        guard let object = value as? [String: Any] else { return .failure(invalidJSON) }
        var commit = "", ref = ""
        for (key, field) in object {
            switch key.lowercased() {
            case "commit":
                guard let text = field as? String else { return .failure(invalidJSON) }
                commit = text
            case "ref":
                guard let text = field as? String else { return .failure(invalidJSON) }
                ref = text
            default: continue
            }
        }
        return .success((commit, ref))
    }

    /// CloudEvents 0.2 (and 1.0 structured mode): an object with non-empty string `type`,
    /// `specversion` and `id`, and a `source` that is an absolute URI or path.
    static func cloudEventRevision(_ payload: Data) -> Result<(commit: String, ref: String), GenericEventError> {
        guard let object = (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] else {
            return .failure(invalidJSON)
        }
        func nonEmpty(_ key: String) -> String? {
            (object[key] as? String).flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let version = nonEmpty("specversion"), nonEmpty("type") != nil, nonEmpty("id") != nil,
              let source = object["source"] as? String, source.hasPrefix("/") || URL(string: source)?.scheme != nil
        else {
            return .failure(GenericEventError("CloudEvent should have non empty type, specversion, source, id"))
        }
        guard version == "0.2" || version == "1.0" else {
            return .failure(GenericEventError("Brigade supports only '0.2' as CloudEvent specversion"))
        }
        let data = object["data"] as? [String: Any] ?? [:]
        return .success((data["commit"] as? String ?? "", data["ref"] as? String ?? ""))
    }
}

struct GenericEventError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// JSON answers shaped like Brigade's: `{"status": …}` and a newline.
enum Reply {
    static let unauthorized = status(.unauthorized, "unauthorized")

    static func status(_ status: HTTPResponse.Status, _ text: String) -> Response {
        json(status, ["status": text])
    }

    /// A webhook refused for `why`, which its line in the log says too.
    static func refusal(_ status: HTTPResponse.Status, _ why: String) -> Response {
        RequestNote.add("refused", why)
        return self.status(status, why)
    }

    /// A refusal that stored nothing: `Retry-After` and the same in the body (and the log).
    static func tryAgain(_ status: HTTPResponse.Status, _ why: String, in seconds: Int) -> Response {
        RequestNote.add("refused", why)
        var response = json(status, ["status": "\(why); nothing was accepted, try again in \(seconds) s", "retryAfter": seconds])
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    static func json(_ status: HTTPResponse.Status, _ object: Any) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: APIObjects.data(object))))
    }
}
