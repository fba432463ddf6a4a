import BrigantineCore
import Foundation
import Store
import Testing

/// What every `BuildStore` must do, run against each of them by its own suite.
enum BuildStoreContract {
    static func newBuild(_ project: String, payload: String = #"{"push_data":{"tag":"latest"}}"#) -> NewBuild {
        NewBuild(projectID: ProjectID.of(project), projectName: project, eventType: "image_push", provider: "dockerhub",
                 ref: "latest", payload: Data(payload.utf8))
    }

    static func queueTakesOldestFirstAndSkipsBusyProjects(_ store: any BuildStore) async throws {
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
    static func queueIsOldestFirstAcrossProjects(_ store: any BuildStore) async throws {
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

    static func logsJobsAndOutcome(_ store: any BuildStore) async throws {
        let build = try await store.create(newBuild("acme/web"))
        #expect(try await store.status(ofBuild: build.id) == .pending)
        #expect(try await store.claimNextPending(busyProjects: [])?.id == build.id) // logs and ends come from a claim
        #expect(try await store.status(ofBuild: build.id) == .running)
        #expect(try await store.status(ofBuild: "no-such-build") == nil)
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
        #expect(try await store.status(ofBuild: build.id) == .failed)
        #expect(try await store.waitForEnd(of: build.id, timeout: .zero) == finished)
        #expect(finished.finishedAt != nil)
        #expect(try await store.logs(buildID: build.id, after: 3, limit: 100).map(\.line) == [LogLine(.stderr, "four")])
        #expect(try await store.jobs(buildID: build.id).sorted { $0.id < $1.id } == [deploy, again])
        #expect(try await store.job(id: again.id) == again)
        // Without their output, for listings that do not show it; the rest as stored.
        var quiet = again
        quiet.output = ""
        #expect(try await store.job(id: again.id, withOutput: false) == quiet)
        #expect(try await store.jobs(buildID: build.id, withOutput: false).map(\.output) == ["", ""])
    }

    /// A reader takes a log, or a job's output, in parts of a bounded size, so that it never
    /// holds a whole 16 MiB of them while its client takes it.
    static func logsAndOutputAreReadInParts(_ store: any BuildStore) async throws {
        let build = try await store.create(newBuild("acme/web"))
        #expect(try await store.claimNextPending(busyProjects: [])?.id == build.id)
        let lines = (1...40).map { LogLine(.stdout, String(repeating: "ü", count: $0 * 10)) } // 20 to 800 bytes
        try await store.appendLog(buildID: build.id, lines: lines)
        let firstPart = try await store.logs(buildID: build.id, after: 0, limit: 100, maxBytes: 100)
        #expect(firstPart.map(\.sequence) == [1, 2, 3], "lines that start within 100 bytes: 20 + 40 + 60")
        #expect(try await store.logs(buildID: build.id, after: 39, limit: 100, maxBytes: 1).map(\.sequence) == [40],
                "a line longer than the part is handed out whole")
        #expect(try await store.logs(buildID: build.id, after: 10, limit: 3, maxBytes: 1 << 20).map(\.sequence) == [11, 12, 13])
        var batches: [[Int]] = []
        try await store.forEachLogBatch(of: build.id, follow: false) { batches.append($0.map(\.sequence)) }
        #expect(batches == [Array(1...40)])
        // Pieces of a long line keep their mark, so that they are shown joined.
        let pieces = [LogLine(.stderr, "a long ", continues: true), LogLine(.stderr, "line"), LogLine(.stdout, "next")]
        try await store.appendLog(buildID: build.id, lines: pieces)
        #expect(try await store.logs(buildID: build.id, after: 40, limit: 10).map(\.line) == pieces)

        // Bytes, not characters: a part may end inside a character, and the parts make the output.
        let output = "start " + String(repeating: "é€", count: 5000) + " end\n"
        let job = StoredJob(buildID: build.id, id: "big-\(build.id)", name: "big", image: "alpine", status: "succeeded",
                            exitCode: 0, startedAt: Date(), finishedAt: Date(), failure: nil, output: output)
        var empty = job
        empty.id = "quiet-\(build.id)"
        empty.output = ""
        try await store.finish(buildID: build.id, status: .succeeded, exitCode: 0, reason: nil, lastLines: [], jobs: [job, empty])
        var read = Data()
        var parts = 0
        while let part = try await store.jobOutput(id: job.id, from: read.count, maxBytes: 1001), !part.isEmpty {
            #expect(part.count <= 1001)
            read += part
            parts += 1
        }
        #expect(String(decoding: read, as: UTF8.self) == output && parts == (output.utf8.count + 1000) / 1001)
        #expect(try await store.jobOutput(id: job.id, from: 1 << 30, maxBytes: 10) == Data(), "past its end: nothing")
        #expect(try await store.jobOutput(id: "none-\(build.id)", from: 0, maxBytes: 10) == nil)
        #expect(try await store.jobOutput(id: empty.id, from: 0, maxBytes: 10) == Data())
    }

    /// Old ended builds go, with their jobs and logs; pending and running ones stay however
    /// old, as do ended ones newer than the cutoff.
    static func oldEndedBuildsAreDeleted(_ store: any BuildStore) async throws {
        let longAgo = Date().addingTimeInterval(-40 * 86_400)
        func build(_ project: String, at date: Date) -> NewBuild {
            var build = newBuild(project)
            build.id = ULID.make(at: date)
            return build
        }
        // Claimed in this order (oldest first): the first three are old.
        var ids: [String] = []
        let now = Date()
        for date in [longAgo, longAgo + 1, longAgo + 2, now, now + 1] {
            ids.append(try await store.create(build("acme/web", at: date)).id)
        }
        let oldPending = try await store.create(build("acme/later", at: longAgo)).id
        for id in ids {
            #expect(try await store.claimNextPending(busyProjects: [ProjectID.of("acme/later")])?.id == id)
        }
        let job = StoredJob(buildID: ids[0], id: "test-\(ids[0])", name: "test", image: "alpine", status: "succeeded",
                            exitCode: 0, startedAt: longAgo, finishedAt: longAgo, failure: nil, output: "ok\n")
        try await store.appendLog(buildID: ids[0], lines: [LogLine(.stdout, "one")])
        try await store.finish(buildID: ids[0], status: .succeeded, exitCode: 0, reason: nil, lastLines: [LogLine(.stdout, "two")], jobs: [job])
        try await store.finish(buildID: ids[1], status: .failed, exitCode: 1, reason: "it failed")
        // ids[2] stays running; ids[3] and ids[4] end, but are new.
        try await store.finish(buildID: ids[3], status: .succeeded, exitCode: 0, reason: nil)
        try await store.finish(buildID: ids[4], status: .failed, exitCode: 1, reason: "it failed")

        // Lists by status and project, newest first.
        #expect(try await store.builds(projectID: nil, status: .failed, limit: 10).map(\.id) == [ids[4], ids[1]])
        #expect(try await store.builds(projectID: ProjectID.of("acme/later"), status: .pending, limit: 10).map(\.id) == [oldPending])
        #expect(try await store.builds(projectID: ProjectID.of("acme/later"), status: .running, limit: 10).isEmpty)
        #expect(try await store.builds(projectID: nil, status: .succeeded, limit: 1).map(\.id) == [ids[3]])
        // Pages: the builds before the last of the previous page.
        #expect(try await store.builds(projectID: nil, status: nil, before: ids[4], limit: 2).map(\.id) == [ids[3], ids[2]])
        #expect(try await store.builds(projectID: nil, status: .failed, before: ids[4], limit: 10).map(\.id) == [ids[1]])
        #expect(try await store.builds(projectID: ProjectID.of("acme/web"), status: nil, before: ids[1], limit: 10).map(\.id) == [ids[0]])
        // Without their payloads (a page of them could be gigabytes), but with their sizes.
        let listed = try #require(try await store.builds(projectID: nil, status: .succeeded, limit: 1).first)
        let whole = try #require(try await store.build(id: ids[3]))
        #expect(listed.build.payload.isEmpty && listed.payloadBytes == whole.build.payload.count && whole.payloadBytes > 0)
        var sameButPayload = listed
        sameButPayload.build.payload = whole.build.payload
        sameButPayload.listedPayloadBytes = nil
        #expect(sameButPayload == whole, "the rest is as stored")

        #expect(try await store.deleteEndedBuilds(createdBefore: Date().addingTimeInterval(-30 * 86_400)) == 2)
        for gone in ids[0...1] { #expect(try await store.build(id: gone) == nil) }
        #expect(try await store.logs(buildID: ids[0], after: 0, limit: 10).isEmpty)
        #expect(try await store.jobs(buildID: ids[0]).isEmpty)
        #expect(try await store.job(id: job.id) == nil)
        #expect(try await store.build(id: ids[2])?.status == .running)
        #expect(try await store.build(id: oldPending)?.status == .pending)
        for kept in ids[3...4] { #expect(try await store.build(id: kept) != nil) }
        #expect(try await store.deleteEndedBuilds(createdBefore: Date().addingTimeInterval(-30 * 86_400)) == 0)

        // One at a time: an ended one goes with its jobs and logs, a live one stays.
        try await store.appendLog(buildID: ids[3], lines: [LogLine(.stdout, "three")])
        #expect(try await store.deleteBuild(id: ids[3]) == .deleted)
        #expect(try await store.build(id: ids[3]) == nil)
        #expect(try await store.logs(buildID: ids[3], after: 0, limit: 10).isEmpty)
        #expect(try await store.deleteBuild(id: ids[3]) == .notFound)
        #expect(try await store.deleteBuild(id: ids[2]) == .notEnded(.running))
        #expect(try await store.deleteBuild(id: oldPending) == .notEnded(.pending))
        for kept in [ids[2], oldPending, ids[4]] { #expect(try await store.build(id: kept) != nil) }
    }

    /// A claimed build put back is pending again without its log, and is claimed again; one
    /// asked to stop first is failed with that reason instead.
    static func buildsPutBackAreQueuedAgain(_ store: any BuildStore) async throws {
        let id = try await store.create(newBuild("acme/web")).id
        #expect(try await store.claimNextPending(busyProjects: [])?.id == id)
        try await store.appendLog(buildID: id, lines: [LogLine(.stdout, "could not start")])
        try await store.putBack(buildID: id)
        let queued = try #require(try await store.build(id: id))
        #expect(queued.status == .pending && queued.startedAt == nil && queued.reason == nil && queued.finishedAt == nil, "\(queued)")
        #expect(try await store.logs(buildID: id, after: 0, limit: 10).isEmpty)
        #expect(try await store.pendingCount() == 1)

        #expect(try await store.claimNextPending(busyProjects: [])?.id == id)
        #expect(try await store.requestCancel(buildID: id, reason: "cancelled with brig build cancel") == .requested)
        try await store.putBack(buildID: id)
        let failed = try #require(try await store.build(id: id))
        #expect(failed.status == .failed && failed.reason == "cancelled with brig build cancel" && failed.exitCode == 1, "\(failed)")
        #expect(try await store.claimNextPending(busyProjects: []) == nil)
    }

    /// `before` is the store of a gateway that stops with builds running; `restart` opens
    /// it again as the restarted gateway does.
    static func recoveryFailsOrRequeuesInterruptedBuilds(
        _ before: any BuildStore, restart: () async throws -> any BuildStore
    ) async throws {
        let failing = try await before.create(newBuild("acme/web"))
        let rerun = try await before.create(newBuild("acme/api"))
        let waiting = try await before.create(newBuild("acme/web"))
        let notStarted = try await before.create(newBuild("acme/ui"))
        _ = try await before.claimNextPending(busyProjects: [])
        _ = try await before.claimNextPending(busyProjects: [ProjectID.of("acme/web")])
        #expect(try await before.claimNextPending(busyProjects: [ProjectID.of("acme/web")])?.id == notStarted.id)
        // It waits to try its start again: whatever its project says, none of it ran.
        try await before.markWaitingToStart(buildID: notStarted.id, true)
        try await before.appendLog(buildID: rerun.id, lines: [LogLine(.stdout, "half done")])
        let store = try await restart()
        let api = ProjectID.of("acme/api")
        let touched = try await store.recoverInterrupted(reason: "the gateway stopped while the build was running") { $0 == api }
        #expect(touched == 3)
        #expect(try await store.build(id: notStarted.id)?.status == .pending)
        let failed = try #require(try await store.build(id: failing.id))
        #expect(failed.status == .failed && failed.reason == "the gateway stopped while the build was running")
        let requeued = try #require(try await store.build(id: rerun.id))
        #expect(requeued.status == .pending && requeued.attempts == 1)
        #expect(try await store.logs(buildID: rerun.id, after: 0, limit: 10).isEmpty)
        #expect(try await store.build(id: waiting.id)?.status == .pending)
        #expect(try await store.builds(projectID: nil, limit: 10).map(\.id) == [notStarted.id, waiting.id, rerun.id, failing.id])
        #expect(try await store.builds(projectID: api, limit: 10).map(\.id) == [rerun.id])
    }

    /// A pending build asked to stop ends at once and is never claimed; a running one is
    /// marked, listed for its gateway (with the first reason given) until it ends, and
    /// failed with that reason, not run again, if its gateway stopped meanwhile.
    static func cancelEndsPendingBuildsAndMarksRunningOnes(
        _ before: any BuildStore, restart: () async throws -> any BuildStore
    ) async throws {
        let running = try await before.create(newBuild("acme/web"))
        let interrupted = try await before.create(newBuild("acme/api"))
        let done = try await before.create(newBuild("acme/site"))
        for _ in 0..<3 { _ = try await before.claimNextPending(busyProjects: []) }
        try await before.finish(buildID: done.id, status: .succeeded, exitCode: 0, reason: nil)
        let pending = try await before.create(newBuild("acme/web"))

        #expect(try await before.requestCancel(buildID: pending.id, reason: "not wanted") == .ended)
        let ended = try #require(try await before.build(id: pending.id))
        #expect(ended.status == .failed && ended.reason == "not wanted" && ended.startedAt == nil && ended.finishedAt != nil)
        #expect(try await before.claimNextPending(busyProjects: []) == nil)

        #expect(try await before.requestCancel(buildID: running.id, reason: "first") == .requested)
        #expect(try await before.requestCancel(buildID: running.id, reason: "second") == .requested)
        #expect(try await before.requestCancel(buildID: interrupted.id, reason: "stop it") == .requested)
        #expect(try await before.cancelRequests() == [running.id: "first", interrupted.id: "stop it"])
        #expect(try await before.build(id: running.id)?.status == .running) // until its gateway stops it
        #expect(try await before.requestCancel(buildID: done.id, reason: "late") == .alreadyEnded(.succeeded))
        #expect(try await before.requestCancel(buildID: "no-such-build", reason: "none") == .notFound)

        try await before.finish(buildID: running.id, status: .failed, exitCode: 1, reason: "the build was stopped: first")
        #expect(try await before.cancelRequests() == [interrupted.id: "stop it"])

        let store = try await restart()
        #expect(try await store.recoverInterrupted(reason: "the gateway stopped") { _ in true } == 1)
        let recovered = try #require(try await store.build(id: interrupted.id))
        #expect(recovered.status == .failed && recovered.reason == "stop it")
        #expect(try await store.cancelRequests().isEmpty)
    }

    /// A project keeps one build per delivery key: the same key again returns the first build
    /// and stores nothing; another project, or no key, is never a duplicate; a rerun has no key.
    static func deliveryKeysKeepOneBuildPerDelivery(_ store: any BuildStore) async throws {
        func keyed(_ project: String, _ key: String?) -> NewBuild {
            var build = newBuild(project)
            build.deliveryKey = key
            return build
        }
        let first = try await store.create(keyed("acme/web", "delivery-1"))
        let again = keyed("acme/web", "delivery-1")
        let found = try await store.create(again)
        #expect(found.id == first.id && found.build.deliveryKey == "delivery-1")
        #expect(try await store.build(id: again.id) == nil)
        #expect(try await store.build(id: first.id)?.build.deliveryKey == "delivery-1")
        let otherProject = try await store.create(keyed("acme/api", "delivery-1"))
        #expect(otherProject.id != first.id)
        let unkeyed = [try await store.create(keyed("acme/web", nil)), try await store.create(keyed("acme/web", nil))]
        #expect(Set(unkeyed.map(\.id)).count == 2)
        var sameID = keyed("acme/web", "delivery-2")
        sameID.id = first.id
        await #expect(throws: (any Error).self, "a duplicate ID is refused whatever its key") { try await store.create(sameID) }
        let rerun = try #require(try await store.rerun(buildID: first.id))
        #expect(rerun.id != first.id && rerun.build.deliveryKey == nil && rerun.build.payload == first.build.payload)
        #expect(try await store.builds(projectID: ProjectID.of("acme/web"), limit: 10).count == 4)
    }

    /// While a build of a coalescing key waits out its window, a build of the same key and
    /// project joins it (its event replaces the pending one's, `coalesced` counts it) and is
    /// not stored; a pending build is not claimed before its `notBefore`, while others are.
    /// Once it is running, its key makes a new build; a delivery key still finds its first
    /// build; a build put back in the queue takes no more joins.
    static func coalescingJoinsThePendingBuildOfItsKey(_ store: any BuildStore) async throws {
        func keyed(_ project: String, _ key: String, tag: String, startsIn seconds: Double) -> NewBuild {
            var build = newBuild(project, payload: #"{"push_data":{"tag":"\#(tag)"}}"#)
            build.ref = tag
            build.coalesceKey = key
            build.notBefore = Date().addingTimeInterval(seconds)
            return build
        }
        let web = ProjectID.of("acme/web")
        let first = try await store.create(keyed("acme/web", "repository-1", tag: "1.2.3", startsIn: 600))
        #expect(first.coalesced == 0 && first.build.notBefore != nil)
        let second = keyed("acme/web", "repository-1", tag: "latest", startsIn: 600)
        let joined = try await store.create(second)
        #expect(joined.id == first.id && joined.coalesced == 1 && joined.build.ref == "latest", "\(joined)")
        #expect(try await store.build(id: second.id) == nil)
        let stored = try #require(try await store.build(id: first.id))
        #expect(stored.coalesced == 1 && stored.build.ref == "latest"
                && stored.build.payload == Data(#"{"push_data":{"tag":"latest"}}"#.utf8), "\(stored)")
        let window = try #require(stored.build.notBefore).timeIntervalSince(try #require(first.build.notBefore))
        #expect(abs(window) < 0.001, "a join does not move the window")
        let otherKey = try await store.create(keyed("acme/web", "repository-2", tag: "1.0", startsIn: 600))
        let otherProject = try await store.create(keyed("acme/api", "repository-1", tag: "1.0", startsIn: 600))
        #expect(Set([first.id, otherKey.id, otherProject.id]).count == 3)
        let unkeyed = try await store.create(newBuild("acme/web"))
        let due = try await store.create(keyed("acme/web", "repository-3", tag: "2.0", startsIn: -1))

        // The builds still within their windows are passed over.
        #expect(try await store.claimNextPending(busyProjects: [])?.id == unkeyed.id)
        let claimed = try #require(try await store.claimNextPending(busyProjects: []))
        #expect(claimed.id == due.id && claimed.coalesced == 0 && claimed.build.ref == "2.0")
        #expect(try await store.claimNextPending(busyProjects: []) == nil)
        #expect(try await store.pendingCount() == 3)

        // Running: its key starts a new build, which a delivery sent again finds.
        var third = keyed("acme/web", "repository-3", tag: "2.1", startsIn: 600)
        third.deliveryKey = "delivery-3"
        let next = try await store.create(third)
        #expect(next.id == third.id && next.coalesced == 0)
        var resent = keyed("acme/web", "repository-3", tag: "2.1", startsIn: 600)
        resent.deliveryKey = "delivery-3"
        let found = try await store.create(resent)
        #expect(found.id == third.id && found.coalesced == 0, "a duplicate delivery is not a join")

        // Put back in the queue, a build that ran once takes no more joins (nor conflicts with
        // the pending build of its key).
        try await store.putBack(buildID: due.id)
        #expect(try await store.build(id: due.id)?.status == .pending)
        let fourth = try await store.create(keyed("acme/web", "repository-3", tag: "2.2", startsIn: 600))
        #expect(fourth.id == third.id && fourth.coalesced == 1 && fourth.build.ref == "2.2", "\(fourth)")
        #expect(try await store.build(id: due.id)?.build.ref == "2.0")
        #expect(try await store.build(id: first.id)?.build.ref == "latest")
        #expect(try await store.builds(projectID: web, limit: 10).count == 5)
    }
}
