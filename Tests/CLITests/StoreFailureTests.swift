import BrigantineCore
import Foundation
import Gateway
import Logging
import Store
import Testing

/// A store whose disk is gone: every write fails, and so does listing builds.
final class FailingStore: BuildStore {
    struct DiskGone: Error, CustomStringConvertible { var description: String { "disk I/O error" } }
    func create(_ build: NewBuild) async throws -> StoredBuild { throw DiskGone() }
    func claimNextPending(busyProjects: Set<String>, limits: [String: Int]) async throws -> StoredBuild? { nil }
    func appendLog(buildID: String, lines: [LogLine]) async throws { throw DiskGone() }
    func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?,
                lastLines: [LogLine], jobs: [StoredJob]) async throws { throw DiskGone() }
    func recoverInterrupted(reason: String, requeue: @Sendable (String) -> Bool) async throws -> Int { 0 }
    func requestCancel(buildID: String, reason: String) async throws -> CancelRequest { throw DiskGone() }
    func cancelRequests() async throws -> [String: String] { [:] }
    func build(id: String) async throws -> StoredBuild? { nil }
    func status(ofBuild id: String) async throws -> BuildStatus? { nil }
    func builds(projectID: String?, status: BuildStatus?, before: String?, limit: Int) async throws -> [StoredBuild] { throw DiskGone() }
    func pendingCount() async throws -> Int { throw DiskGone() }
    func deleteEndedBuilds(createdBefore cutoff: Date) async throws -> Int { throw DiskGone() }
    func deleteBuild(id: String) async throws -> BuildDeletion { throw DiskGone() }
    func putBack(buildID: String) async throws { throw DiskGone() }
    func markWaitingToStart(buildID: String, _ waiting: Bool) async throws { throw DiskGone() }
    func jobs(buildID: String, withOutput: Bool) async throws -> [StoredJob] { [] }
    func job(id: String, withOutput: Bool) async throws -> StoredJob? { nil }
    func logs(buildID: String, after sequence: Int, limit: Int, maxBytes: Int) async throws -> [StoredLogLine] { [] }
    func jobOutput(id: String, from offset: Int, maxBytes: Int) async throws -> Data? { nil }
}

@Suite struct StoreFailureTests {
    /// A gateway on `FailingStore`, serving on loopback while `body` runs.
    func serving(logger: Logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                 _ body: (Int) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("store-failure-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try "name: open\ndefaultScript: ''\ninsecure: true\ngateways: [container-registry]\n"
            .write(to: root.appendingPathComponent("open.yaml"), atomically: true, encoding: .utf8)
        let server = try GatewayServer(
            projectsDirectory: root.path, dataDirectory: root.appendingPathComponent("data"),
            options: .init(host: "127.0.0.1", port: 0), logger: logger, store: FailingStore())
        let port = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run { _, bound in port.continuation.yield(bound) } }
        defer { serving.cancel() }
        var iterator = port.stream.makeAsyncIterator()
        try await body(try #require(await iterator.next()))
    }

    /// Never a 200 for a build that does not exist.
    @Test func aBuildThatCannotBeStoredIsNotAccepted() async throws {
        try await serving { port in
            let reply = try await LoopbackHTTP.send(port: port, "POST", "/events/webhook/open", body: Data("{}".utf8))
            #expect(reply.status == 503)
            #expect(String(decoding: reply.body, as: UTF8.self) == "{\"status\":\"the build could not be stored; nothing was accepted, try again\"}\n")
        }
    }

    /// A read the store fails gets a 500 that says where the reason is, and the log says it
    /// (Hummingbird alone answers an empty 500 and logs the error only at debug).
    @Test func aReadTheStoreFailsIsAnsweredAndLogged() async throws {
        let said = LogLines()
        try await serving(logger: said.logger) { port in
            let reply = try await LoopbackHTTP.send(port: port, "GET", "/v1/builds")
            #expect(reply.status == 500)
            #expect(String(decoding: reply.body, as: UTF8.self) == "the gateway could not answer this request (its log says why)\n")
            #expect(said.lines.withLock { $0 }.contains("error: GET /v1/builds failed: disk I/O error"), "\(said.lines.withLock { $0 })")
            let health = try await LoopbackHTTP.send(port: port, "GET", "/healthz")
            #expect(health.status == 200)
        }
    }
}
