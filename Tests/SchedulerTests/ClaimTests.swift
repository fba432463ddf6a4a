import BrigantineCore
import Foundation
import JobRunners
import Scheduler
import Store
import Synchronization
import Testing
import Worker

/// Claims cost a store write each: under load, the scheduler must not ask the store again
/// while the only projects with pending builds are at their limit, yet a build of another
/// project must still start at once.
@Suite struct ClaimTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claims-\(UUID().uuidString)")

    func project(_ name: String, script: String) throws -> Project {
        let projectDirectory = directory.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projectDirectory, withIntermediateDirectories: true)
        var project = Project(name: name, directory: projectDirectory.path)
        project.defaultScript = script
        return project
    }

    func settings() -> BuildScheduler.Settings {
        // No polling during the test: every claim comes from a wake-up or a build's end.
        .init(lanes: 1, perProjectLimit: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")),
              pollInterval: .seconds(600))
    }

    func newBuild(of project: Project) -> NewBuild {
        NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push", provider: "dockerhub", payload: Data("{}".utf8))
    }

    func waitUntil(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<400 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    /// Stores `count` builds of `projects` (taking turns), runs `scheduler` until each has
    /// ended, and returns their IDs.
    func runBuilds(_ count: Int, of projects: Project..., with scheduler: BuildScheduler, in store: CountingStore) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count { ids.append(try await store.create(newBuild(of: projects[index % projects.count])).id) }
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        scheduler.wake()
        #expect(try await waitUntil { try await ids.asyncMap { try await store.build(id: $0)!.status }.allSatisfy(\.isFinished) },
                "the builds did not all end")
        return ids
    }

    /// A build's end that the store does not take at first (a database out of reach) is tried
    /// again until it lands: the build does not stay Running.
    @Test func anEndThatCannotBeStoredAtFirstIsStoredWhenTheStoreAnswers() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let web = try project("acme/web", script: "require('brigadier').events.on('image_push', () => { console.log('ran'); });")
        let heard = Mutex((retries: 0, ended: [BuildStatus]()))
        var observer = BuildScheduler.Observer()
        observer.storeWriteFailed = { _ in heard.withLock { $0.retries += 1 } }
        observer.buildEnded = { status, _, _ in heard.withLock { $0.ended.append(status) } }
        let scheduler = BuildScheduler(store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in SimulateRunner() },
                                       settings: settings(), observer: observer)
        let id = try await store.create(newBuild(of: web)).id
        store.failWrites(4)
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        scheduler.wake()
        #expect(try await waitUntil { try await store.build(id: id)!.status.isFinished })
        #expect(store.failedWrites == 4)
        #expect(heard.withLock { $0.retries } == 4 && heard.withLock { $0.ended } == [.succeeded], "the observer hears of them")
        #expect(try await store.build(id: id)?.status == .succeeded)
        #expect(try await store.logs(buildID: id, after: 0, limit: 100).contains { $0.line.text.contains("ran") })
    }

    @Test func aBacklogOfABusyProjectCostsNoEmptyClaims() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let web = try project("acme/web", script: "require('brigadier').events.on('image_push', () => {});")
        let scheduler = BuildScheduler(store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in SimulateRunner() },
                                       settings: settings())
        _ = try await runBuilds(30, of: web, with: scheduler, in: store)
        // One build at a time: each build's end asks for the next one (30 claims). Asking
        // again while the project is at its limit would add an empty claim per build.
        #expect(store.claims.successful == 30)
        #expect(store.claims.empty <= 2, "\(store.claims.empty) empty claims")
    }

    /// Under a backlog, claims go out together and share commits (one at a time they set the
    /// pace: a commit each), yet never more builds run than the project's limit, and none
    /// skips the project while it has a backlog but the one that learns it is full.
    @Test func aBacklogsClaimsGoOutTogetherWithinTheLimit() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let web = try project("acme/web", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', () => new Job('step', 'alpine', ['true']).run());
            """)
        let runner = OrderRunner()
        let scheduler = BuildScheduler(
            store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in runner },
            settings: .init(lanes: 2, perProjectLimit: 4, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")),
                            pollInterval: .seconds(600)))
        let ids = try await runBuilds(60, of: web, with: scheduler, in: store)
        #expect(try await ids.asyncMap { try await store.build(id: $0)!.status }.allSatisfy { $0 == .succeeded })
        #expect(store.claims.successful == 60)
        #expect(store.mostClaimsAtOnce >= 2, "claims went out one at a time")
        #expect(runner.mostAtOnce <= 4, "\(runner.mostAtOnce) builds ran at once")
        // The project reaching its limit for the first time costs one claim that skips it
        // (the queue was not known yet). At the backlog's end the claims out together each
        // find nothing: 2–4 empty claims in all on a quiet machine, 6 in one loaded CI run;
        // what must not be is an empty claim per build.
        #expect(store.emptyClaimsWhilePending <= 1, "\(store.emptyClaimsWhilePending) claims skipped the backlog")
        #expect(store.claims.empty <= 8, "\(store.claims.empty) empty claims")
        print("empty claims: \(store.claims.empty), \(store.emptyClaimsWhilePending) while builds were pending")
    }

    /// Claims that go out together keep every project within its own limit too (one that
    /// sets a lower one, beside one on the default), and the backlogs of both are run.
    @Test func claimsThatGoOutTogetherKeepEachProjectsLimit() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let script = """
            const { events, Job } = require('brigadier');
            events.on('image_push', () => new Job('step', 'alpine', ['true']).run());
            """
        let web = try project("acme/web", script: script)
        var api = try project("acme/api", script: script)
        api.maxConcurrentBuilds = 2
        let runners = [web.id: OrderRunner(), api.id: OrderRunner()]
        let projects = [web.id: web, api.id: api]
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] }, runners: { runners[$0.id]! },
            settings: .init(lanes: 2, perProjectLimit: 4, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")),
                            pollInterval: .seconds(600)),
            limits: { [api] in [api.id: 2] })
        let ids = try await runBuilds(60, of: web, api, with: scheduler, in: store)
        #expect(try await ids.asyncMap { try await store.build(id: $0)!.status }.allSatisfy { $0 == .succeeded })
        #expect(runners[web.id]!.mostAtOnce <= 4 && runners[api.id]!.mostAtOnce <= 2,
                "at once: web \(runners[web.id]!.mostAtOnce), api \(runners[api.id]!.mostAtOnce)")
        #expect(store.claims.successful == 60)
    }

    /// A short build costs the store two writes, its claim and its end: the lines it logged
    /// go with its end, not in a commit of their own that the build would wait for while it
    /// still holds its place (under a backlog that cost a tenth of the builds run).
    @Test func aShortBuildsLogGoesWithItsEnd() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let web = try project("acme/web", script: "require('brigadier').events.on('image_push', () => { console.log('ran'); });")
        // No flush while a build runs, however slow the machine: only its end may write.
        var settings = settings()
        settings.logFlushInterval = .seconds(600)
        let scheduler = BuildScheduler(store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in SimulateRunner() },
                                       settings: settings)
        for id in try await runBuilds(5, of: web, with: scheduler, in: store) {
            #expect(try await store.logs(buildID: id, after: 0, limit: 100).map(\.line.text).contains("ran"))
        }
        #expect(store.logWrites == 0, "\(store.logWrites) writes of log lines alone")
    }

    @Test func aBuildOfAnotherProjectStartsWhileABusyOneHasABacklog() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CountingStore(try SQLiteBuildStore(directory: directory.appendingPathComponent("data")))
        let busy = try project("acme/busy", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', () => new Job('wait', 'alpine', ['true']).run());
            """)
        let other = try project("acme/other", script: "require('brigadier').events.on('image_push', () => {});")
        let projects = [busy.id: busy, other.id: other]
        // The busy project's jobs never finish (they wait for 100 to run at once).
        let blocked = InFlightRunner(openAt: 100)
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] },
            runners: { $0.id == busy.id ? blocked as any JobRunner : SimulateRunner() }, settings: settings())
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        for _ in 0..<3 {
            _ = try await store.create(newBuild(of: busy))
            scheduler.wake(for: busy.id)
        }
        #expect(try await waitUntil { blocked.mostAtOnce == 1 && store.claims.empty >= 1 })
        let emptyBefore = store.claims.empty
        // Webhooks of the busy project: nothing can start, so the store is not asked.
        for _ in 0..<10 { scheduler.wake(for: busy.id) }
        let build = try await store.create(newBuild(of: other))
        scheduler.wake(for: other.id)
        #expect(try await waitUntil { try await store.build(id: build.id)!.status == .succeeded })
        #expect(store.claims.empty <= emptyBefore + 2)
        #expect(blocked.mostAtOnce == 1, "the busy project stays at its limit")
    }
}

/// A store that counts its claims (with and without a build) and its writes of log lines,
/// and can fail the next writes of a build's log and end as a store out of reach does.
final class CountingStore: BuildStore {
    struct OutOfReach: Error {}
    private let store: any BuildStore
    private let counts = Mutex<(successful: Int, empty: Int, inFlight: Int, mostInFlight: Int, emptyWhilePending: Int)>((0, 0, 0, 0, 0))
    private let logWriteCount = Mutex(0)
    private let writesToFail = Mutex((left: 0, failed: 0))

    init(_ store: any BuildStore) { self.store = store }

    var claims: (successful: Int, empty: Int) { counts.withLock { ($0.successful, $0.empty) } }
    /// The most claims that were with the store at once.
    var mostClaimsAtOnce: Int { counts.withLock { $0.mostInFlight } }
    /// Claims that found nothing while builds were still pending (skipping their project),
    /// as seen right after: for tests that add no builds while the scheduler runs.
    var emptyClaimsWhilePending: Int { counts.withLock { $0.emptyWhilePending } }
    /// Writes of log lines alone (`appendLog`), not those that come with a build's end.
    var logWrites: Int { logWriteCount.withLock { $0 } }
    var failedWrites: Int { writesToFail.withLock { $0.failed } }
    func failWrites(_ count: Int) { writesToFail.withLock { $0.left = count } }

    private func write() throws {
        let fail = writesToFail.withLock { writes in
            guard writes.left > 0 else { return false }
            writes.left -= 1
            writes.failed += 1
            return true
        }
        if fail { throw OutOfReach() }
    }

    func claimNextPending(busyProjects: Set<String>, limits: [String: Int]) async throws -> StoredBuild? {
        counts.withLock {
            $0.inFlight += 1
            $0.mostInFlight = max($0.mostInFlight, $0.inFlight)
        }
        defer { counts.withLock { $0.inFlight -= 1 } }
        let build = try await store.claimNextPending(busyProjects: busyProjects, limits: limits)
        let stillPending = build == nil ? try await store.pendingCount() > 0 : false
        counts.withLock {
            if build != nil { $0.successful += 1 } else { $0.empty += 1 }
            if stillPending { $0.emptyWhilePending += 1 }
        }
        return build
    }

    func create(_ build: NewBuild) async throws -> StoredBuild { try await store.create(build) }
    func appendLog(buildID: String, lines: [LogLine]) async throws {
        logWriteCount.withLock { $0 += 1 }
        try write()
        try await store.appendLog(buildID: buildID, lines: lines)
    }
    func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?,
                lastLines: [LogLine], jobs: [StoredJob]) async throws {
        try write()
        try await store.finish(buildID: buildID, status: status, exitCode: exitCode, reason: reason, lastLines: lastLines, jobs: jobs)
    }
    func recoverInterrupted(reason: String, requeue: @Sendable (String) -> Bool) async throws -> Int {
        try await store.recoverInterrupted(reason: reason, requeue: requeue)
    }
    func requestCancel(buildID: String, reason: String) async throws -> CancelRequest {
        try await store.requestCancel(buildID: buildID, reason: reason)
    }
    func cancelRequests() async throws -> [String: String] { try await store.cancelRequests() }
    func build(id: String) async throws -> StoredBuild? { try await store.build(id: id) }
    func status(ofBuild id: String) async throws -> BuildStatus? { try await store.status(ofBuild: id) }
    func builds(projectID: String?, status: BuildStatus?, before: String?, limit: Int) async throws -> [StoredBuild] {
        try await store.builds(projectID: projectID, status: status, before: before, limit: limit)
    }
    func pendingCount() async throws -> Int { try await store.pendingCount() }
    func deleteEndedBuilds(createdBefore cutoff: Date) async throws -> Int { try await store.deleteEndedBuilds(createdBefore: cutoff) }
    func deleteBuild(id: String) async throws -> BuildDeletion { try await store.deleteBuild(id: id) }
    func putBack(buildID: String) async throws { try await store.putBack(buildID: buildID) }
    func markWaitingToStart(buildID: String, _ waiting: Bool) async throws { try await store.markWaitingToStart(buildID: buildID, waiting) }
    func jobs(buildID: String, withOutput: Bool) async throws -> [StoredJob] { try await store.jobs(buildID: buildID, withOutput: withOutput) }
    func job(id: String, withOutput: Bool) async throws -> StoredJob? { try await store.job(id: id, withOutput: withOutput) }
    func logs(buildID: String, after sequence: Int, limit: Int, maxBytes: Int) async throws -> [StoredLogLine] {
        try await store.logs(buildID: buildID, after: sequence, limit: limit, maxBytes: maxBytes)
    }
    func jobOutput(id: String, from offset: Int, maxBytes: Int) async throws -> Data? {
        try await store.jobOutput(id: id, from: offset, maxBytes: maxBytes)
    }
}
