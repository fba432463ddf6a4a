import BrigantineCore
import Foundation
import Hummingbird
import Store

/// The read API on Brigade's paths: projects (secrets never shown), builds, jobs, logs.
struct ReadAPI: Sendable {
    let registry: ProjectRegistry
    let store: any BuildStore
    let storeOutage: StoreOutage
    /// True once the gateway is stopping: a followed log or a wait ends then.
    let stopping: @Sendable () -> Bool

    /// `/healthz` and `/readyz` on `router`, the rest under `/v1` in `api`.
    func add(to router: Router<BasicRequestContext>, api: RouterGroup<BasicRequestContext>) {
        // Alive: the process answers (a load balancer restarts what does not).
        router.get("healthz") { _, _ in Self.text(.ok, "OK") }
        // Ready: a webhook now would be accepted, because the store answers a read within
        // `readinessTimeout` and its latest writes landed; else 503 saying why (the gateway
        // is stopping, the store is out of reach or refuses writes: webhooks get 503 too).
        router.get("readyz") { [store, storeOutage, stopping] _, _ in
            if stopping() { return Self.text(.serviceUnavailable, "not ready: the gateway is stopping") }
            let answered = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await store.pendingCount()) != nil }
                group.addTask {
                    try? await Task.sleep(for: Self.readinessTimeout)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            guard answered else {
                return Self.text(.serviceUnavailable, "not ready: the build store does not answer, so webhooks would get 503")
            }
            guard !storeOutage.isFailing else {
                // The reason (the store's own error) is in the log, not for anyone who can reach the port.
                return Self.text(.serviceUnavailable, "not ready: the build store refuses writes (the gateway's log says why), so webhooks would get 503")
            }
            return Self.text(.ok, "ready")
        }
        api.get("projects") { _, _ in
            Reply.json(.ok, registry.projects.map(APIObjects.project))
        }
        api.get("project/:id") { _, context in
            guard let project = registry.project(named: try context.parameters.require("id")) else { return notFound("project") }
            return Reply.json(.ok, APIObjects.project(project))
        }
        api.get("project/:id/builds") { request, context in
            guard let project = registry.project(named: try context.parameters.require("id")) else { return notFound("project") }
            guard case .valid(let status) = statusFilter(request) else { return badStatus() }
            guard let limit = limit(request) else { return badLimit() }
            let builds = try await store.builds(projectID: project.id, status: status, before: before(request), limit: limit)
            return Reply.json(.ok, builds.map(APIObjects.build))
        }
        api.get("builds") { request, _ in
            guard case .valid(let status) = statusFilter(request) else { return badStatus() }
            guard let limit = limit(request) else { return badLimit() }
            let builds = try await store.builds(projectID: nil, status: status, before: before(request), limit: limit)
            return Reply.json(.ok, builds.map(APIObjects.build))
        }
        api.get("build/:id") { _, context in
            guard let build = try await store.build(id: try context.parameters.require("id")) else { return notFound("build") }
            return Reply.json(.ok, APIObjects.build(build))
        }
        // Long polling, for a caller that started a build and wants its outcome: 200 once it
        // has ended, 202 if it has not within `timeout` seconds (30; at most 60).
        api.get("build/:id/wait") { request, context in
            guard let seconds = waitTimeout(request) else {
                return Reply.status(.badRequest, "timeout must be seconds, from 0 to 60")
            }
            guard let build = try await store.waitForEnd(of: try context.parameters.require("id"), timeout: .seconds(seconds),
                                                         stop: stopping) else {
                return notFound("build")
            }
            return Reply.json(build.status.isFinished ? .ok : .accepted, APIObjects.build(build))
        }
        api.get("build/:id/jobs") { _, context in
            let id = try context.parameters.require("id")
            guard try await store.status(ofBuild: id) != nil else { return notFound("build") }
            return Reply.json(.ok, try await store.jobs(buildID: id, withOutput: false).map(APIObjects.job))
        }
        api.get("build/:id/logs") { request, context in
            let id = try context.parameters.require("id")
            guard try await store.status(ofBuild: id) != nil else { return notFound("build") }
            let follow = request.uri.queryParameters["stream"] == "true"
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody { [store, stopping] writer in
                                try await Self.writeLogs(of: id, follow: follow, store: store, stop: stopping, to: &writer)
                            })
        }
        api.get("job/:id") { _, context in
            guard let job = try await store.job(id: try context.parameters.require("id"), withOutput: false) else { return notFound("job") }
            return Reply.json(.ok, APIObjects.job(job))
        }
        api.get("job/:id/logs") { _, context in
            let id = try context.parameters.require("id")
            guard try await store.job(id: id, withOutput: false) != nil else { return notFound("job") }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody { [store] writer in
                                try await Self.writeJobOutput(of: id, store: store, to: &writer)
                            })
        }
    }

    private func notFound(_ what: String) -> Response {
        Reply.status(.notFound, "\(what) not found")
    }

    private enum StatusFilter {
        /// nil: every status.
        case valid(BuildStatus?)
        case invalid
    }

    /// `?status=` of a build list.
    private func statusFilter(_ request: Request) -> StatusFilter {
        guard let word = request.uri.queryParameters["status"].map(String.init), !word.isEmpty else { return .valid(nil) }
        return BuildStatus(named: word).map { .valid($0) } ?? .invalid
    }

    private func badStatus() -> Response {
        Reply.status(.badRequest, "status must be one of \(BuildStatus.allCases.map(\.rawValue).joined(separator: ", "))")
    }

    static let readinessTimeout: Duration = .seconds(2)

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `?before=<build ID>`: the page after the one that ended with that build.
    private func before(_ request: Request) -> String? {
        request.uri.queryParameters["before"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `?limit=`: 100 if not given, at most 1,000; nil when it is not a whole number from 1.
    private func limit(_ request: Request) -> Int? {
        guard let text = request.uri.queryParameters["limit"].map(String.init), !text.isEmpty else { return 100 }
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let number = Int(text) else { return 1000 } // more digits than an Int holds
        return number >= 1 ? min(1000, number) : nil
    }

    private func badLimit() -> Response {
        Reply.status(.badRequest, "limit must be a whole number from 1 (at most 1000 are given)")
    }

    /// `?timeout=` of a wait, in seconds: 30 if not given, at most 60; nil when it is not a
    /// number from 0.
    private func waitTimeout(_ request: Request) -> Double? {
        guard let text = request.uri.queryParameters["timeout"].map(String.init), !text.isEmpty else { return 30 }
        guard let seconds = Double(text), !seconds.isNaN, seconds >= 0 else { return nil }
        return min(60, seconds)
    }

    /// Writes a job's output a part at a time.
    static func writeJobOutput(of id: String, store: any BuildStore, to writer: inout any ResponseBodyWriter) async throws {
        var written = 0
        var more = true
        while more, let part = try await store.jobOutput(id: id, from: written, maxBytes: ReadPart.outputBytes), !part.isEmpty {
            written += part.count
            more = part.count == ReadPart.outputBytes
            let buffer = ByteBuffer(bytes: part) // the part's last use: not held while the client takes the buffer
            try await writer.write(buffer)
        }
        try await writer.finish(nil)
    }

    /// Writes the build's log; with `follow`, keeps writing new lines until the build ends.
    static func writeLogs(of id: String, follow: Bool, store: any BuildStore, stop: @escaping @Sendable () -> Bool,
                          to writer: inout any ResponseBodyWriter) async throws {
        try await store.forEachLogBatch(of: id, follow: follow, stop: stop) { lines in
            var buffer = ByteBuffer()
            buffer.reserveCapacity(lines.reduce(0) { $0 + $1.line.text.utf8.count + 1 })
            for line in lines {
                buffer.writeString(line.line.text)
                if !line.line.continues { buffer.writeInteger(UInt8(ascii: "\n")) }
            }
            try await writer.write(buffer)
        }
        try await writer.finish(nil)
    }
}

