import BrigantineCore
import Foundation
@testable import Store
import Synchronization
import Testing

@Suite struct SQLiteBuildStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")

    func newBuild(_ project: String, payload: String = #"{"push_data":{"tag":"latest"}}"#) -> NewBuild {
        BuildStoreContract.newBuild(project, payload: payload)
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

    /// A store whose files are moved away (or deleted) under it refuses writes, which would
    /// land in files nothing finds again, rather than committing them there: nothing is
    /// acknowledged that a restart would not find. Put back, it takes writes again.
    @Test func writesAreRefusedWhileTheFilesAreNotWhereTheStoreOpenedThem() async throws {
        let moved = directory.appendingPathExtension("moved")
        defer {
            try? FileManager.default.removeItem(at: directory)
            try? FileManager.default.removeItem(at: moved)
        }
        let store = try SQLiteBuildStore(directory: directory)
        let kept = try await store.create(newBuild("acme/web"))
        try FileManager.default.moveItem(at: directory, to: moved)
        let refused = newBuild("acme/web")
        await #expect {
            _ = try await store.create(refused)
        } throws: { error in
            "\(error)" == "\(directory.path)/brigantine.sqlite is no longer the file the gateway opened (deleted, moved or replaced while it ran): "
                + "writes are refused, since nothing would keep them; put it back, or restart the gateway"
        }
        try FileManager.default.moveItem(at: moved, to: directory)
        let later = try await store.create(newBuild("acme/web"))
        let reopened = try SQLiteBuildStore(directory: directory)
        #expect(try await reopened.build(id: kept.id) != nil)
        #expect(try await reopened.build(id: later.id) != nil)
        #expect(try await reopened.build(id: refused.id) == nil, "the refused write was rolled back, not left in the file")
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
        // Writing goes on until the log has started over twice (or 60 s pass): how long that
        // takes depends on the disk, which is slow on a busy machine.
        let deadline = ContinuousClock.now + .seconds(60)
        final class Flag: Sendable { let raised = Atomic<Bool>(false) }
        let enough = Flag()
        let written = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var count = 0
                    while !enough.raised.load(ordering: .relaxed), ContinuousClock.now < deadline {
                        try await store.appendLog(buildID: build.id, lines: Array(repeating: line, count: 10))
                        count += 10
                    }
                    return count
                }
            }
            group.addTask {
                while ContinuousClock.now < deadline, try checkpointSequence() &- first < 2 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                enough.raised.store(true, ordering: .relaxed)
                return 0
            }
            return try await group.reduce(0, +)
        }
        let startedOver = try checkpointSequence() &- first
        #expect(startedOver >= 2, "the log started over \(startedOver) times while \(written) lines were written")
        let stored = try await store.logs(buildID: build.id, after: 0, limit: written + 1)
        #expect(stored.count == written)
        #expect(stored.map(\.sequence) == Array(1...written))
    }

    // What every store must do, on this one.
    @Test func queueTakesOldestFirstAndSkipsBusyProjects() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.queueTakesOldestFirstAndSkipsBusyProjects(SQLiteBuildStore(directory: directory))
    }

    @Test func queueIsOldestFirstAcrossProjects() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.queueIsOldestFirstAcrossProjects(SQLiteBuildStore(directory: directory))
    }

    @Test func logsJobsAndOutcome() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.logsJobsAndOutcome(SQLiteBuildStore(directory: directory))
    }

    @Test func logsAndOutputAreReadInParts() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.logsAndOutputAreReadInParts(SQLiteBuildStore(directory: directory))
    }

    /// A store an earlier Brigantine left, with the payload before the columns read most, is
    /// made again with it last: nothing is lost, jobs and logs included (their rows refer to
    /// the builds), and a build's status is read without walking past its payload.
    @Test func aStoreFromBeforeThePayloadWentLastKeepsEverything() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = #"{"pad":""# + String(repeating: "p", count: 1 << 20) + #""}"#
        var builds: [StoredBuild] = []
        let job: StoredJob
        do {
            let earlier = try SQLiteBuildStore(directory: directory, schemaUpTo: "long lines")
            for payload in [big, #"{"small":1}"#] {
                _ = try await earlier.create(newBuild("acme/web", payload: payload))
            }
            let ended = try #require(try await earlier.claimNextPending(busyProjects: []))
            try await earlier.appendLog(buildID: ended.id, lines: [LogLine(.stdout, "one"), LogLine(.stderr, "tw", continues: true)])
            job = StoredJob(buildID: ended.id, id: "test-\(ended.id)", name: "test", image: "alpine", status: "succeeded",
                            exitCode: 0, startedAt: Date(timeIntervalSince1970: 1_700_000_000), finishedAt: nil, failure: nil, output: "ok\n")
            try await earlier.finish(buildID: ended.id, status: .failed, exitCode: 1, reason: "why", lastLines: [LogLine(.stderr, "o")], jobs: [job])
            for build in try await earlier.builds(projectID: nil, limit: 10) { builds.append(try #require(try await earlier.build(id: build.id))) }
        }
        let store = try SQLiteBuildStore(directory: directory)
        for build in builds { #expect(try await store.build(id: build.id) == build) }
        #expect(builds.map(\.build.payload.count).contains(big.utf8.count))
        let ended = builds.first { $0.status == .failed }!
        #expect(try await store.logs(buildID: ended.id, after: 0, limit: 10).map(\.line) == [
            LogLine(.stdout, "one"), LogLine(.stderr, "tw", continues: true), LogLine(.stderr, "o"),
        ])
        #expect(try await store.jobs(buildID: ended.id) == [job])
        #expect(try await store.status(ofBuild: builds[0].id) != nil)
        #expect(try await store.deleteBuild(id: ended.id) == .deleted)
        #expect(try await store.jobs(buildID: ended.id).isEmpty, "jobs still go with their build")
        #expect(try await store.logs(buildID: ended.id, after: 0, limit: 10).isEmpty)
        let layout = try await store.columnsOfBuilds()
        #expect(layout.last == "payload" && layout.firstIndex(of: "status")! < 5, "\(layout)")
    }

    @Test func buildsPutBackAreQueuedAgain() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.buildsPutBackAreQueuedAgain(SQLiteBuildStore(directory: directory))
    }

    @Test func oldEndedBuildsAreDeleted() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.oldEndedBuildsAreDeleted(SQLiteBuildStore(directory: directory))
    }

    /// More than a batch: every batch is deleted, and counted.
    @Test func deletionGoesOnPastOneBatch() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory)
        let count = SQLiteBuildStore.deletionBatch * 2 + 7
        for _ in 0..<count {
            var build = BuildStoreContract.newBuild("acme/web")
            build.id = ULID.make(at: Date().addingTimeInterval(-86_400))
            _ = try await store.create(build)
            let claimed = try #require(try await store.claimNextPending(busyProjects: []))
            try await store.finish(buildID: claimed.id, status: .succeeded, exitCode: 0, reason: nil)
        }
        #expect(try await store.deleteEndedBuilds(createdBefore: Date()) == count)
        #expect(try await store.builds(projectID: nil, limit: 10).isEmpty)
    }

    @Test func cancelEndsPendingBuildsAndMarksRunningOnes() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.cancelEndsPendingBuildsAndMarksRunningOnes(SQLiteBuildStore(directory: directory)) {
            try SQLiteBuildStore(directory: directory)
        }
    }

    @Test func deliveryKeysKeepOneBuildPerDelivery() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.deliveryKeysKeepOneBuildPerDelivery(SQLiteBuildStore(directory: directory))
    }

    @Test func coalescingJoinsThePendingBuildOfItsKey() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.coalescingJoinsThePendingBuildOfItsKey(SQLiteBuildStore(directory: directory))
    }

    @Test func recoveryFailsOrRequeuesInterruptedBuilds() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try await BuildStoreContract.recoveryFailsOrRequeuesInterruptedBuilds(SQLiteBuildStore(directory: directory)) {
            try SQLiteBuildStore(directory: directory)
        }
    }
}
