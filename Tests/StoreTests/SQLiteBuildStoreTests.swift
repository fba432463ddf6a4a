import BrigantineCore
import Foundation
@testable import Store
import Testing

@Suite struct SQLiteBuildStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")

    func newBuild(_ project: String, payload: String = #"{"push_data":{"tag":"latest"}}"#) -> NewBuild {
        NewBuild(projectID: ProjectID.of(project), projectName: project, eventType: "image_push", provider: "dockerhub",
                 ref: "latest", payload: Data(payload.utf8))
    }

    @Test func createdBuildsAreDurableAndExact() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let payload = Data([0x7B, 0x00, 0xFF, 0xC3, 0xA9, 0x0A, 0x7D]) // NUL and invalid UTF-8 too
        var build = newBuild("acme/web")
        build.payload = payload
        _ = try await SQLiteBuildStore(directory: directory).create(build)
        // A second store on the same file (as after a restart) sees it, byte for byte.
        let reopened = try SQLiteBuildStore(directory: directory)
        let stored = try #require(try await reopened.build(id: build.id))
        #expect(stored.build == build && stored.status == .pending && stored.attempts == 0)
    }

    /// Every commit is synced to disk (`synchronous = FULL` on the connection that writes):
    /// GRDB's pool sets NORMAL on it when it opens (after our set-up), under which a
    /// committed build could be lost with the machine.
    @Test func commitsAreSyncedToDisk() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        #expect(try await store.writerSynchronousMode() == 2, "2 is FULL")
    }

    /// Writes made at the same time share commits, yet each stands or falls alone: a
    /// duplicate build ID among 300 concurrent creates fails by itself and the rest are stored.
    @Test func concurrentWritesShareCommitsButFailAlone() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        let duplicate = try await store.create(newBuild("acme/web"))
        let builds = (0..<300).map { newBuild("acme/web", payload: #"{"n":\#($0)}"#) }
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for build in builds {
                group.addTask { (build.id, (try? await store.create(build)) != nil) }
            }
            group.addTask { (duplicate.id, (try? await store.create(duplicate.build)) != nil) }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(results[duplicate.id] == false)
        #expect(builds.allSatisfy { results[$0.id] == true })
        let reopened = try SQLiteBuildStore(directory: directory)
        #expect(try await reopened.builds(projectID: nil, limit: 1000).count == 301)
        for build in builds.prefix(20) {
            #expect(try await reopened.build(id: build.id)?.build == build)
        }
    }

    /// Under writes that never pause, a checkpoint beside them never reaches the log's end,
    /// so the log only starts over (its header's checkpoint sequence number goes up) because
    /// the writer finishes the checkpoint between two batches once the log passes its limit.
    @Test func writeAheadLogStartsOverUnderSteadyWrites() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory, walLimit: 256 << 10)
        let build = try await store.create(newBuild("acme/web"))
        let wal = directory.appendingPathComponent("brigantine.sqlite-wal").path
        func checkpointSequence() throws -> UInt32 {
            let handle = try #require(FileHandle(forReadingAtPath: wal))
            defer { try? handle.close() }
            let header = try #require(try handle.read(upToCount: 16))
            return header[12..<16].reduce(0) { $0 << 8 | UInt32($1) } // big-endian
        }
        let first = try checkpointSequence()
        let line = LogLine(.stdout, String(repeating: "x", count: 300))
        let deadline = ContinuousClock.now + .seconds(3)
        let written = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < deadline {
                        try await store.appendLog(buildID: build.id, lines: Array(repeating: line, count: 10))
                        count += 10
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let startedOver = try checkpointSequence() &- first
        #expect(startedOver >= 2, "the log started over \(startedOver) times while \(written) lines were written")
        let stored = try await store.logs(buildID: build.id, after: 0, limit: written + 1)
        #expect(stored.count == written)
        #expect(stored.map(\.sequence) == Array(1...written))
    }

    @Test func queueTakesOldestFirstAndSkipsBusyProjects() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        let first = try await store.create(newBuild("acme/web"))
        try await Task.sleep(for: .milliseconds(2))
        let second = try await store.create(newBuild("acme/web"))
        let other = try await store.create(newBuild("acme/api"))
        let claimed = try #require(try await store.claimNextPending(busyProjects: []))
        #expect(claimed.id == first.id && claimed.status == .running && claimed.attempts == 1 && claimed.startedAt != nil)
        let nextFree = try #require(try await store.claimNextPending(busyProjects: [ProjectID.of("acme/web")]))
        #expect(nextFree.id == other.id)
        #expect(try await store.claimNextPending(busyProjects: [ProjectID.of("acme/web")]) == nil)
        #expect(try await store.claimNextPending(busyProjects: [])?.id == second.id)
        #expect(try await store.claimNextPending(busyProjects: []) == nil)
    }

    /// Claims go by age over all projects, whatever order their IDs sort in.
    @Test func queueIsOldestFirstAcrossProjects() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        var created: [String] = [], busy: [String] = []
        for round in 0..<3 {
            for project in ["acme/web", "acme/api", "zeta/worker", "alpha/site"] where round > 0 || project != "alpha/site" {
                let id = try await store.create(newBuild(project)).id
                if project == "zeta/worker" { busy.append(id) } else { created.append(id) }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        var claimed: [String] = []
        while let build = try await store.claimNextPending(busyProjects: [ProjectID.of("zeta/worker")]) {
            claimed.append(build.id)
        }
        #expect(claimed == created)
        #expect(try await store.claimNextPending(busyProjects: [])?.id == busy.first)
    }

    @Test func logsJobsAndOutcome() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        let build = try await store.create(newBuild("acme/web"))
        try await store.appendLog(buildID: build.id, lines: [LogLine(.stdout, "one"), LogLine(.stderr, "two")])
        try await store.appendLog(buildID: build.id, lines: [LogLine(.stdout, "three ü")])
        let all = try await store.logs(buildID: build.id, after: 0, limit: 100)
        #expect(all.map(\.sequence) == [1, 2, 3])
        #expect(all.map(\.line) == [LogLine(.stdout, "one"), LogLine(.stderr, "two"), LogLine(.stdout, "three ü")])
        #expect(try await store.logs(buildID: build.id, after: 2, limit: 100).map(\.line.text) == ["three ü"])

        // The end comes with the last lines and the jobs, in one write. A script that ran a
        // job of one name twice has two records with one pod name: the later one is kept.
        let started = Date(timeIntervalSince1970: 1_700_000_000)
        let first = StoredJob(buildID: build.id, id: "test-\(build.id)", name: "test", image: "alpine", status: "succeeded",
                              exitCode: 0, startedAt: started, finishedAt: started.addingTimeInterval(1), failure: nil, output: "ok\n")
        var again = first
        again.status = "failed"
        again.exitCode = 3
        again.finishedAt = started.addingTimeInterval(2)
        again.failure = "Pod test failed to run to completion"
        again.output = "ran\n"
        var deploy = first
        deploy.id = "deploy-\(build.id)"
        try await store.finish(buildID: build.id, status: .failed, exitCode: 1, reason: "unhandled rejection",
                               lastLines: [LogLine(.stderr, "four")], jobs: [first, deploy, again])
        let finished = try #require(try await store.build(id: build.id))
        #expect(finished.status == .failed && finished.exitCode == 1 && finished.reason == "unhandled rejection")
        #expect(finished.finishedAt != nil)
        #expect(try await store.logs(buildID: build.id, after: 3, limit: 100).map(\.line) == [LogLine(.stderr, "four")])
        #expect(try await store.jobs(buildID: build.id).sorted { $0.id < $1.id } == [deploy, again])
        #expect(try await store.job(id: again.id) == again)
    }

    @Test func recoveryFailsOrRequeuesInterruptedBuilds() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        let failing = try await store.create(newBuild("acme/web"))
        let rerun = try await store.create(newBuild("acme/api"))
        let waiting = try await store.create(newBuild("acme/web"))
        _ = try await store.claimNextPending(busyProjects: [])
        _ = try await store.claimNextPending(busyProjects: [ProjectID.of("acme/web")])
        try await store.appendLog(buildID: rerun.id, lines: [LogLine(.stdout, "half done")])
        let api = ProjectID.of("acme/api")
        let touched = try await store.recoverInterrupted(reason: "the gateway stopped while the build was running") { $0 == api }
        #expect(touched == 2)
        let failed = try #require(try await store.build(id: failing.id))
        #expect(failed.status == .failed && failed.reason == "the gateway stopped while the build was running")
        let requeued = try #require(try await store.build(id: rerun.id))
        #expect(requeued.status == .pending && requeued.attempts == 1)
        #expect(try await store.logs(buildID: rerun.id, after: 0, limit: 10).isEmpty)
        #expect(try await store.build(id: waiting.id)?.status == .pending)
        #expect(try await store.builds(projectID: nil, limit: 10).map(\.id) == [waiting.id, rerun.id, failing.id])
        #expect(try await store.builds(projectID: api, limit: 10).map(\.id) == [rerun.id])
    }
}
