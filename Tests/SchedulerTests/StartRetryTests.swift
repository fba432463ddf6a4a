import BrigantineCore
import Foundation
import Glibc
import JobRunners
import Logging
@testable import Scheduler
import Store
import Synchronization
import Testing
import TestSupport
import Worker

/// A build that could not start for a reason that may pass (the container engine or the
/// repository's host out of reach) is tried again after each of `startRetryDelays`.
@Suite struct StartRetryTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("start-retry-\(UUID().uuidString)")

    struct EngineDown: TransientError, CustomStringConvertible {
        var description: String { "no container engine answers at /run/test.sock" }
    }

    struct NoSuchRunner: Error, CustomStringConvertible {
        var description: String { "the kubernetes runner is not available in this version" }
    }

    /// A runner factory that fails with each of `failures` in turn, then gives a runner.
    final class FlakyRunners: Sendable {
        private let remaining: Mutex<[any Error]>
        private let asked = Mutex(0)
        init(failing failures: [any Error]) { remaining = Mutex(failures) }
        var calls: Int { asked.withLock { $0 } }

        func runner() throws -> any JobRunner {
            asked.withLock { $0 += 1 }
            if let failure = remaining.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw failure }
            return SimulateRunner()
        }
    }

    struct Started {
        let store: SQLiteBuildStore
        let scheduler: BuildScheduler
        let running: Task<Void, Never>
        let buildID: String

        func ended(within seconds: Int = 20) async throws -> StoredBuild {
            for _ in 0..<(seconds * 20) {
                if let build = try await store.build(id: buildID), build.status == .succeeded || build.status == .failed { return build }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("build \(buildID) did not end within \(seconds) s")
        }

        /// Returns once the build's log says it waits to try its start again.
        func waitingToStartAgain() async throws {
            for _ in 0..<400 {
                if try await log().contains(where: { $0.hasPrefix("[brigade] could not start") }) { return }
                try await Task.sleep(for: .milliseconds(25))
            }
            throw TestFailure("build \(buildID) did not come to wait for its next try")
        }

        func log() async throws -> [String] {
            try await store.logs(buildID: buildID, after: 0, limit: 1000).map(\.line.text)
        }
    }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    func start(_ runners: FlakyRunners, delays: [Duration], data: String = "data",
               poll: Duration = .milliseconds(50), repository: String? = nil,
               fetchTimeLimit: Duration = BuildScheduler.Settings.defaultFetchTimeLimit) async throws -> (Started, Counter) {
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent(data))
        var project = Project(name: "acme/web", directory: directory.path)
        project.repo = .init(cloneURL: repository)
        project.defaultScript = "require('brigadier').events.on('image_push', () => new (require('brigadier').Job)('test', 'alpine').run());"
        let retries = Counter()
        var observer = BuildScheduler.Observer()
        observer.startRetried = { retries.value.withLock { $0 += 1 } }
        let scheduler = BuildScheduler(
            store: store, projects: { [project] in $0 == project.id ? project : nil }, runners: { _ in try runners.runner() },
            settings: .init(lanes: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")),
                            pollInterval: poll, startRetryDelays: delays, fetchTimeLimit: fetchTimeLimit),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, observer: observer)
        let id = try await store.create(NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push",
                                                 provider: "dockerhub", payload: Data("{}".utf8))).id
        let running = Task { await scheduler.run() }
        scheduler.wake()
        return (Started(store: store, scheduler: scheduler, running: running, buildID: id), retries)
    }

    @Test func aStartThatFailsForAWhileIsTriedAgainAndRuns() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let runners = FlakyRunners(failing: [EngineDown(), EngineDown()])
        let (started, retries) = try await start(runners, delays: [.milliseconds(200), .milliseconds(300), .seconds(60)])
        defer { started.running.cancel() }
        let build = try await started.ended()
        #expect(build.status == .succeeded, "\(build)")
        #expect(runners.calls == 3 && retries.value.withLock { $0 } == 2)
        let log = try await started.log()
        #expect(log.contains("[brigade] could not start: no container engine answers at /run/test.sock; trying again in 0.2 s (try 2 of 4)"), "\(log)")
        #expect(log.contains("[brigade] could not start: no container engine answers at /run/test.sock; trying again in 0.3 s (try 3 of 4)"))
        #expect(try await started.store.jobs(buildID: started.buildID).map(\.status) == ["succeeded"])
    }

    @Test func aStartThatKeepsFailingFailsWithItsReasonAfterTheLastTry() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let runners = FlakyRunners(failing: Array(repeating: EngineDown(), count: 5))
        let (started, retries) = try await start(runners, delays: [.milliseconds(100), .milliseconds(100)])
        defer { started.running.cancel() }
        let build = try await started.ended()
        #expect(build.status == .failed && build.reason == "no container engine answers at /run/test.sock (tried 3 times)", "\(build)")
        #expect(runners.calls == 3 && retries.value.withLock { $0 } == 2)
    }

    /// A failure that will not pass by waiting (a runner this version lacks) fails at once.
    @Test func aFailureThatWillNotPassIsNotTriedAgain() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let runners = FlakyRunners(failing: [NoSuchRunner()])
        let (started, retries) = try await start(runners, delays: [.milliseconds(100)])
        defer { started.running.cancel() }
        let build = try await started.ended()
        #expect(build.status == .failed && build.reason == "the kubernetes runner is not available in this version", "\(build)")
        #expect(runners.calls == 1 && retries.value.withLock { $0 } == 0)
        #expect(try await started.log().allSatisfy { !$0.contains("trying again") })
    }

    /// A build waiting a minute for its next try ends at once when asked to stop through the
    /// store (`brig build cancel`, another gateway's API); when the gateway stops instead, it
    /// goes back in the queue (nothing of it ran), and the next gateway runs it.
    @Test func aBuildWaitingToStartAgainStopsWhenAsked() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let cancelled = try await start(FlakyRunners(failing: [EngineDown()]), delays: [.seconds(60)]).0
        defer { cancelled.running.cancel() }
        try await cancelled.waitingToStartAgain()
        #expect(try await cancelled.store.requestCancel(buildID: cancelled.buildID, reason: "cancelled with brig build cancel") == .requested)
        let stopped = try await cancelled.ended(within: 10)
        #expect(stopped.status == .failed && stopped.reason == "cancelled with brig build cancel", "\(stopped)")

        let shutDown = try await start(FlakyRunners(failing: [EngineDown()]), delays: [.seconds(60)], data: "data-2").0
        try await shutDown.waitingToStartAgain()
        shutDown.running.cancel()
        await shutDown.running.value
        let queued = try #require(try await shutDown.store.build(id: shutDown.buildID))
        #expect(queued.status == .pending && queued.reason == nil && queued.startedAt == nil, "\(queued)")
        #expect(try await shutDown.log().isEmpty, "the log of the try that never started is cleared")

        // The next gateway (here a scheduler on the same store, its engine back) runs it.
        var project = Project(name: "acme/web", directory: directory.path)
        project.defaultScript = "require('brigadier').events.on('image_push', () => console.log('ran after all'));"
        let next = BuildScheduler(
            store: shutDown.store, projects: { [project] in $0 == project.id ? project : nil }, runners: { _ in SimulateRunner() },
            settings: .init(lanes: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { await next.run() }
        defer { running.cancel() }
        next.wake()
        let ran = try await shutDown.ended()
        #expect(ran.status == .succeeded, "\(ran)")
        #expect(try await shutDown.log().contains("ran after all"))
    }

    /// A repository host that takes the connection and never answers: the fetch ends at
    /// the fetch time limit as the host being out of reach (tried again, then failed with
    /// that reason), and a stop ends it at once, leaving no git behind. Before, the build
    /// stayed Running for good, its build timeout never came, and a cancel found nothing
    /// to stop.
    @Test func aRepositoryHostThatNeverAnswersEndsTheFetch() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let host = try SilentHost()
        defer { host.close() }
        let url = "http://127.0.0.1:\(host.port)/acme/web.git"
        let timedOut = try await start(FlakyRunners(failing: []), delays: [.milliseconds(100)], repository: url,
                                       fetchTimeLimit: .seconds(1)).0
        defer { timedOut.running.cancel() }
        let failed = try await timedOut.ended(within: 30)
        #expect(failed.status == .failed && failed.reason == "could not fetch \(url): no answer within 1 s (tried 2 times)", "\(failed)")
        #expect(try await timedOut.log().contains("[brigade] could not start: could not fetch \(url): no answer within 1 s; trying again in 0.1 s (try 2 of 2)"))

        let cancelled = try await start(FlakyRunners(failing: []), delays: [], data: "data-2", repository: url).0
        defer { cancelled.running.cancel() }
        try await waitUntilGit(fetches: true, url)
        #expect(try await cancelled.store.requestCancel(buildID: cancelled.buildID, reason: "cancelled with brig build cancel") == .requested)
        let stopped = try await cancelled.ended(within: 10)
        #expect(stopped.status == .failed && stopped.reason == "cancelled with brig build cancel", "\(stopped)")
        try await waitUntilGit(fetches: false, url) // git was stopped with the build

        let shutDown = try await start(FlakyRunners(failing: []), delays: [], data: "data-3", repository: url).0
        try await waitUntilGit(fetches: true, url)
        shutDown.running.cancel()
        await shutDown.running.value
        let queued = try #require(try await shutDown.store.build(id: shutDown.buildID))
        #expect(queued.status == .pending && queued.reason == nil, "put back: nothing of it ran; \(queued)")
        try await waitUntilGit(fetches: false, url)
    }

    /// Returns once a git process is fetching `url` (`fetching`), or once none is: git's
    /// transport helper, in its process group, gets the same SIGTERM as git but may still
    /// be exiting when git itself has been waited for (a CI run once found it there).
    func waitUntilGit(fetches fetching: Bool, _ url: String) async throws {
        for _ in 0..<400 {
            if try gitProcesses(reaching: url).isEmpty != fetching { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure(fetching ? "no git came to fetch \(url)" : "git still fetches \(url): \(try gitProcesses(reaching: url))")
    }

    /// The processes whose command line names `url` (git and its transport helper).
    func gitProcesses(reaching url: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(url) ? line : nil
        }
    }

    /// A loopback port that takes connections and never says a word (the kernel completes
    /// the handshakes; nothing reads or answers).
    final class SilentHost: Sendable {
        let socket: Int32
        let port: Int

        init() throws {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.socket = socket
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    bind(socket, address, length) == 0 && listen(socket, 16) == 0 && getsockname(socket, address, &length) == 0
                }
            }
            guard bound else { throw TestFailure("cannot listen on loopback: \(String(cString: strerror(errno)))") }
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { Glibc.close(socket) }
    }

    /// A build asked to stop (through the store) just as the gateway stops is failed with
    /// that reason, not put back.
    @Test func aCancelledBuildIsNotPutBack() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        // No poll comes in time to see the request: it is the store that fails the build.
        let waiting = try await start(FlakyRunners(failing: [EngineDown()]), delays: [.seconds(60)], poll: .seconds(60)).0
        try await waiting.waitingToStartAgain()
        #expect(try await waiting.store.requestCancel(buildID: waiting.buildID, reason: "cancelled with brig build cancel") == .requested)
        waiting.running.cancel()
        await waiting.running.value
        let ended = try #require(try await waiting.store.build(id: waiting.buildID))
        #expect(ended.status == .failed && ended.reason == "cancelled with brig build cancel", "\(ended)")
    }
}
