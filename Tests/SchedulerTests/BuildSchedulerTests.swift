import BrigantineCore
import Foundation
import JobRunners
import Logging
@testable import Scheduler
import Store
import Synchronization
import Testing
import TestSupport
import Worker

@Suite struct BuildSchedulerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(UUID().uuidString)")

    func project(_ name: String, script: String, secrets: [String: String] = [:]) throws -> Project {
        let projectDirectory = directory.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projectDirectory, withIntermediateDirectories: true)
        var project = Project(name: name, directory: projectDirectory.path)
        project.defaultScript = script
        project.secrets = secrets
        return project
    }

    /// Waits until every build is finished (or 20 s pass).
    func waitForAll(_ store: any BuildStore, ids: [String]) async throws -> [StoredBuild] {
        for _ in 0..<400 {
            let builds = try await ids.asyncMap { try await store.build(id: $0)! }
            if builds.allSatisfy({ $0.status == .succeeded || $0.status == .failed }) { return builds }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("builds did not finish")
        return []
    }

    @Test func runsStoredBuildsAndRecordsEverything() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let web = try project("acme/web", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', async (e, p) => {
              const hook = JSON.parse(e.payload);
              console.log('pushed', hook.tag, 'token', p.secrets.TOKEN);
              const job = new Job('test', 'alpine', ['echo job saw $TOKEN']);
              job.env = { TOKEN: p.secrets.TOKEN };
              await job.run();
            });
            """, secrets: ["TOKEN": "very-secret-token"])
        let broken = try project("acme/broken", script: "require('brigadier').events.on('image_push', () => Promise.reject(new Error('nope')));")
        let projects = [web.id: web, broken.id: broken]
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] }, runners: { _ in LocalRunner(cacheRoot: directory.appendingPathComponent("cache")) },
            settings: .init(lanes: 2, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }

        var ids: [String] = []
        for (project, tag) in [(web, "v1"), (broken, "v2"), (web, "v3")] {
            let build = NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push",
                                 provider: "dockerhub", ref: tag, payload: Data(#"{"tag":"\#(tag)"}"#.utf8))
            ids.append(try await store.create(build).id)
            scheduler.wake()
        }
        let builds = try await waitForAll(store, ids: ids)
        #expect(builds.map(\.status) == [.succeeded, .failed, .succeeded])
        #expect(builds[1].reason?.hasPrefix("unhandled rejection: Error: nope") == true)

        let log = try await store.logs(buildID: ids[0], after: 0, limit: 1000).map(\.line.text)
        #expect(log.contains("pushed v1 token ***"))
        let jobs = try await store.jobs(buildID: ids[0])
        #expect(jobs.map(\.id) == ["test-\(ids[0])"] && jobs.first?.status == "succeeded")
        #expect(jobs.first?.output == "job saw ***\n", "stored job output is masked too")
    }

    /// A build that may not start yet (its coalescing window) starts when its time comes,
    /// woken then rather than at the next poll (a minute away here), and not before, though
    /// another build's arrival made the scheduler look in between.
    @Test func aBuildWaitingOutItsWindowStartsWhenItEnds() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let web = try project("acme/web", script: "require('brigadier').events.on('image_push', (e) => console.log('ran', e.revision.ref));")
        let scheduler = BuildScheduler(
            store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in SimulateRunner() },
            settings: .init(lanes: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .seconds(60)))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }

        let notBefore = Date().addingTimeInterval(2)
        let waiting = NewBuild(projectID: web.id, projectName: web.name, eventType: "image_push", provider: "dockerhub",
                               ref: "1.2.3", payload: Data("{}".utf8), coalesceKey: "repository-1", notBefore: notBefore)
        _ = try await store.create(waiting)
        scheduler.wake(for: web.id, at: notBefore)
        let now = NewBuild(projectID: web.id, projectName: web.name, eventType: "image_push", provider: "dockerhub",
                           ref: "other", payload: Data("{}".utf8))
        _ = try await store.create(now)
        scheduler.wake(for: web.id, at: nil)
        let ended = try await waitForAll(store, ids: [waiting.id, now.id])
        #expect(ended.map(\.status) == [.succeeded, .succeeded])
        let late = try #require(ended.first)
        // Woken at its time: the poll would have come a minute later.
        #expect(try #require(late.startedAt) >= notBefore && late.startedAt! < notBefore.addingTimeInterval(30),
                "started \(late.startedAt!.timeIntervalSince(notBefore)) s after its window")
    }

    /// A build claimed just before shutdown, whose worker comes after the live builds were
    /// told to stop, is stopped too: shutdown does not wait for its hour-long timer.
    @Test func aBuildStartingAsShutdownBeginsIsStoppedToo() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let web = try project("acme/web", script: """
            require('brigadier').events.on('image_push', () => new Promise((resolve) => setTimeout(resolve, 3600 * 1000)));
            """)
        let runnerAsked = ExitSignal(), release = ExitSignal()
        let scheduler = BuildScheduler(
            store: store, projects: { $0 == web.id ? web : nil },
            runners: { _ in
                runnerAsked.signal()
                await release.wait() // the build has no worker yet while shutdown begins
                return SimulateRunner()
            },
            settings: .init(lanes: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work"))))
        let id = try await store.create(NewBuild(projectID: web.id, projectName: web.name, eventType: "image_push",
                                                 provider: "dockerhub", payload: Data("{}".utf8))).id
        let running = Task { await scheduler.run() }
        scheduler.wake()
        await runnerAsked.wait()
        running.cancel()
        try await Task.sleep(for: .milliseconds(300)) // the scheduler stops its live builds (none has a worker)
        release.signal()
        let ended = SettledOnce<Bool>()
        Task { await running.value; ended.settle(true) }
        Task { try await Task.sleep(for: .seconds(20)); ended.settle(false) }
        #expect(await ended.value, "the scheduler waited for a build that began as it stopped")
        let build = try #require(try await store.build(id: id))
        #expect(build.status == .failed && build.reason?.contains("the gateway is shutting down") == true, "\(build)")
    }

    /// The gateway stopping (SIGTERM) while a build runs: a project with `rerunInterrupted`
    /// gets it back in the queue, its log cleared, and the next start runs it again, as after
    /// a crash; without the setting it fails with the reason. Both scripts had started.
    @Test func stoppingPutsBackTheRunningBuildsOfProjectsThatRerunThem() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let waitAnHour = """
            require('brigadier').events.on('image_push', async () => {
              console.log('started');
              await new Promise((resolve) => setTimeout(resolve, 3600 * 1000));
            });
            """
        var interrupted = try project("acme/rerun", script: waitAnHour)
        interrupted.rerunInterrupted = true
        let rerun = interrupted
        let plain = try project("acme/plain", script: waitAnHour)
        let settings = BuildScheduler.Settings(lanes: 1, worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")),
                                               pollInterval: .milliseconds(50))
        let first = BuildScheduler(store: store, projects: { [rerun.id: rerun, plain.id: plain][$0] },
                                   runners: { _ in SimulateRunner() }, settings: settings)
        var ids: [String] = []
        for project in [rerun, plain] {
            ids.append(try await store.create(NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push",
                                                       provider: "dockerhub", payload: Data("{}".utf8))).id)
        }
        let running = Task { await first.run() }
        first.wake()
        for id in ids {
            for _ in 0..<400 where try await !store.logs(buildID: id, after: 0, limit: 100).map(\.line.text).contains("started") {
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(try await store.logs(buildID: id, after: 0, limit: 100).map(\.line.text).contains("started"), "its script ran")
        }
        running.cancel()
        await running.value

        let putBack = try #require(try await store.build(id: ids[0]))
        #expect(putBack.status == .pending && putBack.reason == nil && putBack.startedAt == nil, "\(putBack)")
        #expect(try await store.logs(buildID: ids[0], after: 0, limit: 10).isEmpty)
        let failed = try #require(try await store.build(id: ids[1]))
        #expect(failed.status == .failed && failed.reason == "the build was stopped: the gateway is shutting down", "\(failed)")

        // The next start runs it again (here with a script that ends).
        interrupted.defaultScript = "require('brigadier').events.on('image_push', () => console.log('ran again'));"
        let ending = interrupted
        let second = BuildScheduler(store: store, projects: { [ending.id: ending][$0] }, runners: { _ in SimulateRunner() }, settings: settings)
        let again = Task { await second.run() }
        defer { again.cancel() }
        second.wake()
        let ended = try #require(try await waitForAll(store, ids: [ids[0]]).first)
        #expect(ended.status == .succeeded && ended.attempts == 2, "\(ended)")
        let log = try await store.logs(buildID: ids[0], after: 0, limit: 100).map(\.line.text)
        #expect(log.contains("ran again") && !log.contains("started"), "only the new run's log: \(log)")
    }

    /// One lane runs as many live builds as `maxBuilds` allows, no more: builds waiting
    /// on their jobs do not hold the lane. (Their jobs wait until 8 run at once: with fewer
    /// live builds they would never finish.)
    @Test func liveBuildsAreBoundedByMaxBuildsNotLanes() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let web = try project("acme/web", script: """
            require('brigadier').events.on('image_push', () => new (require('brigadier').Job)('wait', 'alpine', ['true']).run());
            """)
        let runner = InFlightRunner(openAt: 8)
        let scheduler = BuildScheduler(
            store: store, projects: { $0 == web.id ? web : nil }, runners: { _ in runner },
            settings: .init(lanes: 1, maxBuilds: 8, perProjectLimit: 20,
                            worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        var ids: [String] = []
        for _ in 0..<12 {
            let build = NewBuild(projectID: web.id, projectName: web.name, eventType: "image_push", provider: "dockerhub", payload: Data("{}".utf8))
            ids.append(try await store.create(build).id)
        }
        scheduler.wake()
        let builds = try await waitForAll(store, ids: ids)
        #expect(builds.allSatisfy { $0.status == .succeeded })
        #expect(runner.mostAtOnce == 8)
    }

    /// A project's `maxConcurrentBuilds` replaces the gateway's per-project limit, lower
    /// or higher: at 1 its builds run one after another in the order they came; at 3 three
    /// run at once where the gateway allows one (the runner holds them until three do).
    @Test func aProjectsOwnLimitOnItsBuildsRunningAtOnce() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        let script = "require('brigadier').events.on('image_push', () => new (require('brigadier').Job)('j', 'alpine', ['true']).run());"
        var deploy = try project("acme/deploy", script: script)
        deploy.maxConcurrentBuilds = 1
        var tests = try project("acme/tests", script: script)
        tests.maxConcurrentBuilds = 3
        let serial = OrderRunner(), together = InFlightRunner(openAt: 3)
        let projects = [deploy.id: deploy, tests.id: tests]
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] }, runners: { [deployID = deploy.id] in $0.id == deployID ? serial as any JobRunner : together },
            settings: .init(lanes: 1, perProjectLimit: 2,
                            worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)),
            limits: { [deploy, tests] in [deploy.id: 1, tests.id: 3] })
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        var deployIDs: [String] = [], testIDs: [String] = []
        for index in 0..<6 {
            let build = { (project: Project) in
                NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push", provider: "dockerhub",
                         ref: "v\(index)", payload: Data("{}".utf8))
            }
            deployIDs.append(try await store.create(build(deploy)).id)
            if index < 3 { testIDs.append(try await store.create(build(tests)).id) }
        }
        scheduler.wake()
        let builds = try await waitForAll(store, ids: deployIDs + testIDs)
        #expect(builds.allSatisfy { $0.status == .succeeded }, "\(builds.map(\.reason))")
        #expect(serial.mostAtOnce == 1)
        #expect(serial.buildsInOrder == deployIDs)
        #expect(together.mostAtOnce == 3)
    }

    @Test func buildsOfMissingProjectsOrWithoutScriptsFail() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        var noScript = try project("acme/none", script: "")
        noScript.defaultScript = nil
        let projects = [noScript.id: noScript]
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] }, runners: { _ in SimulateRunner() },
            settings: .init(worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        let gone = try await store.create(NewBuild(projectID: "brigade-gone", projectName: "gone", eventType: "exec", provider: "x", payload: Data()))
        let none = try await store.create(NewBuild(projectID: noScript.id, projectName: noScript.name, eventType: "exec", provider: "x", payload: Data()))
        scheduler.wake()
        let builds = try await waitForAll(store, ids: [gone.id, none.id])
        #expect(builds.map(\.reason) == ["project gone no longer exists", "project acme/none has no script: set defaultScript or defaultScriptFile"])
    }
}

/// A project's own limit in a store that gateways share: the store counts a build as
/// running until its end is stored, after the build has given its place back.
@Suite(.enabled(if: PostgresServer.available, Comment(rawValue: PostgresServer.unavailableReason)))
struct SharedStoreSchedulingTests {
    /// With no poll to rescue it (an hour apart), each next build of a project limited to
    /// one is claimed once the one before it is stored as ended: the claim made as it ended
    /// found the project still full in the store.
    @Test func aLimitedProjectsNextBuildStartsOnceTheLastOneIsStoredAsEnded() async throws {
        let helper = BuildSchedulerTests()
        defer { try? FileManager.default.removeItem(at: helper.directory) }
        try await PostgresServer.withShared { postgres in
            let store = try await PostgresBuildStore(url: try await postgres.makeDatabase(), instance: "gateway-a",
                                                     logger: Logger(label: "test"))
            defer { store.close() }
            var serial = try helper.project("acme/serial", script: "require('brigadier').events.on('image_push', () => console.log('ran'));")
            serial.maxConcurrentBuilds = 1
            let scheduler = BuildScheduler(
                store: store, projects: { [serial] in $0 == serial.id ? serial : nil }, runners: { _ in SimulateRunner() },
                settings: .init(worker: WorkerSettings(workRoot: helper.directory.appendingPathComponent("work")), pollInterval: .seconds(3600)),
                limits: { [serial] in [serial.id: 1] })
            var ids: [String] = []
            for _ in 0..<5 {
                ids.append(try await store.create(NewBuild(projectID: serial.id, projectName: serial.name, eventType: "image_push",
                                                           provider: "dockerhub", payload: Data("{}".utf8))).id)
                try await Task.sleep(for: .milliseconds(2))
            }
            let running = Task { await scheduler.run() }
            defer { running.cancel() }
            scheduler.wake()
            let builds = try await helper.waitForAll(store, ids: ids)
            #expect(builds.map(\.status) == Array(repeating: .succeeded, count: 5))
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

@Suite struct RepositoryBuildTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("repo-builds-\(UUID().uuidString)")

    func script(_ label: String) -> String {
        "require('./lib/helper'); require('brigadier').events.on('image_push', (e) => console.log('script from \(label), ref', e.revision.ref));"
    }

    @Test func scriptsComeFromTheRepositoryAtTheBuildsRevision() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let repository = directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: repository)
        try "module.exports = 1;".write(to: repository.appendingPathComponent("lib/helper.js"), atomically: true, encoding: .utf8)
        try script("v1").write(to: repository.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: repository)
        try await git("commit", "--quiet", "-m", "one", in: repository)
        try await git("tag", "v1", in: repository)
        try script("main").write(to: repository.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("commit", "--quiet", "-am", "two", in: repository)

        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        var project = Project(name: "acme/repo", directory: directory.path)
        project.repo = .init(cloneURL: repository.path)
        project.defaultScript = "require('brigadier').events.on('image_push', () => console.log('default script'));"
        var empty = Project(name: "acme/empty", directory: directory.path)
        empty.repo = .init(cloneURL: repository.path + "-nothing-here")
        let projects = [project.id: project, empty.id: empty]
        let scheduler = BuildScheduler(
            store: store, projects: { projects[$0] }, runners: { _ in SimulateRunner() },
            settings: .init(worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50),
                            startRetryDelays: [.milliseconds(100)]))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }

        func build(_ project: Project, commit: String = "", ref: String) async throws -> (StoredBuild, [String]) {
            let stored = try await store.create(NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push",
                                                         provider: "dockerhub", commit: commit, ref: ref, payload: Data()))
            scheduler.wake()
            for _ in 0..<400 {
                let current = try await store.build(id: stored.id)!
                if current.status == .succeeded || current.status == .failed {
                    return (current, try await store.logs(buildID: stored.id, after: 0, limit: 100).map(\.line.text))
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw CancellationError()
        }
        let tagged = try await build(project, ref: "v1")
        #expect(tagged.1.contains("script from v1, ref v1"))
        // Mirrors keep clone URLs, credentials and all, in their config: for this user alone.
        let mirrors = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("work/repositories").path)
        #expect((mirrors[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o700)
        let head = try await build(project, ref: "")
        #expect(head.1.contains("script from main, ref "))
        let imageTag = try await build(project, ref: "latest")
        #expect(imageTag.1.contains("script from main, ref latest"))
        #expect(imageTag.1.contains("[brigade] ref latest is not in the repository; using its default branch"))
        let missing = try await build(project, commit: "0123456789abcdef0123456789abcdef01234567", ref: "")
        #expect(missing.0.status == .failed && missing.0.reason == "commit 0123456789abcdef0123456789abcdef01234567 is not in \(repository.path)")
        let unreachable = try await build(empty, ref: "")
        // A fetch that fails may be the host down for a while: it is tried again, once here.
        #expect(unreachable.0.status == .failed && unreachable.0.reason?.hasPrefix("could not fetch \(repository.path)-nothing-here") == true)
        #expect(unreachable.0.reason?.hasSuffix(" (tried 2 times)") == true, "\(unreachable.0.reason ?? "")")
        #expect(unreachable.1.contains { $0.hasPrefix("[brigade] could not start: could not fetch \(repository.path)-nothing-here") })
        #expect(missing.1.allSatisfy { !$0.contains("could not start") }, "a missing commit is not tried again")

        try FileManager.default.removeItem(at: repository.appendingPathComponent("brigade.js"))
        try await git("commit", "--quiet", "-am", "no script", in: repository)
        let fallback = try await build(project, ref: "main")
        #expect(fallback.1.contains("default script"))
        #expect(fallback.1.contains("[brigade] the repository has no brigade.js; using the project's default script"))

        // A repository's brigade.js that links out of the checkout (to a host's file) is not read.
        let outside = directory.appendingPathComponent("outside.js")
        try "require('brigadier').events.on('image_push', () => console.log('read from outside'));"
            .write(to: outside, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: repository.appendingPathComponent("brigade.js").path,
                                                   withDestinationPath: outside.path)
        try await git("add", "brigade.js", in: repository)
        try await git("commit", "--quiet", "-m", "a link out", in: repository)
        let linked = try await build(project, ref: "main")
        #expect(linked.0.status == .failed && linked.0.reason?.hasSuffix(
            "brigade.js: it leads to \(outside.resolvingSymlinksInPath().path), outside the project directory") == true,
            "\(linked.0.reason ?? "")")
        #expect(!linked.1.contains("read from outside"))
    }

    /// Jobs get the repository at the build's revision at their mountPath (`/src`), as
    /// Brigade's VCS sidecar cloned it, also when the script is the project's own.
    @Test func jobsGetTheCheckoutAtTheirMountPath() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let repository = directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: repository)
        try "1.0\n".write(to: repository.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: repository)
        try await git("commit", "--quiet", "-m", "one", in: repository)
        try await git("tag", "v1", in: repository)
        try "2.0\n".write(to: repository.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        try await git("commit", "--quiet", "-am", "two", in: repository)

        let store = try SQLiteBuildStore(directory: directory.appendingPathComponent("data"))
        var configured = Project(name: "acme/src", directory: directory.path)
        configured.repo = .init(cloneURL: repository.path)
        configured.defaultScript = """
            const { events, Job } = require('brigadier');
            events.on('image_push', async () => console.log('VERSION', (await new Job('v', 'alpine', ['cat /src/VERSION']).run()).toString().trim()));
            """
        let project = configured
        let scheduler = BuildScheduler(
            store: store, projects: { $0 == project.id ? project : nil },
            runners: { _ in LocalRunner(cacheRoot: directory.appendingPathComponent("cache")) },
            settings: .init(worker: WorkerSettings(workRoot: directory.appendingPathComponent("work")), pollInterval: .milliseconds(50)))
        let running = Task { await scheduler.run() }
        defer { running.cancel() }
        var ids: [String] = []
        for ref in ["v1", "main"] {
            ids.append(try await store.create(NewBuild(projectID: project.id, projectName: project.name, eventType: "image_push",
                                                       provider: "dockerhub", commit: "", ref: ref, payload: Data())).id)
        }
        scheduler.wake()
        for (id, version) in zip(ids, ["1.0", "2.0"]) {
            var build = try #require(try await store.build(id: id))
            for _ in 0..<400 where build.status == .pending || build.status == .running {
                try await Task.sleep(for: .milliseconds(50))
                build = try #require(try await store.build(id: id))
            }
            let lines = try await store.logs(buildID: id, after: 0, limit: 100).map(\.line.text)
            #expect(build.status == .succeeded, "\(build.reason ?? "") \(lines)")
            #expect(lines.contains("VERSION \(version)"), "\(lines)")
        }
    }

    @Test func credentialsStayOutOfMessages() {
        #expect(RepositoryCheckout.display("https://user:s3cret@git.example.com/acme/web.git") == "https://git.example.com/acme/web.git")
        #expect(RepositoryCheckout.display("https://user:p@ss@git.example.com/a@b.git") == "https://git.example.com/a@b.git")
        #expect(RepositoryCheckout.display("/srv/git/web.git") == "/srv/git/web.git")
    }
}

/// A runner whose first jobs wait until `openAt` of them are running at once, then all go
/// on (and later jobs pass straight through); it counts the most that ran at once. Builds
/// get through only if that many can be live together.
final class InFlightRunner: JobRunner {
    let name = "in-flight"
    private let openAt: Int
    private let state = Mutex<(now: Int, most: Int, open: Bool, waiting: [CheckedContinuation<Void, Never>])>((0, 0, false, []))

    init(openAt: Int) { self.openAt = openAt }

    var mostAtOnce: Int { state.withLock { $0.most } }

    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        await withCheckedContinuation { continuation in
            let release: [CheckedContinuation<Void, Never>] = state.withLock { state in
                state.now += 1
                state.most = max(state.most, state.now)
                if state.open { return [continuation] }
                state.waiting.append(continuation)
                guard state.now >= openAt else { return [] }
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in release { waiter.resume() }
        }
        state.withLock { $0.now -= 1 }
        return JobOutput(output: "", exitCode: 0)
    }
}

/// A runner that takes 30 ms a job and records the builds its jobs came from, in the order
/// they started, and the most that ran at once.
final class OrderRunner: JobRunner {
    let name = "order"
    private let state = Mutex<(now: Int, most: Int, builds: [String])>((0, 0, []))

    var mostAtOnce: Int { state.withLock { $0.most } }
    var buildsInOrder: [String] { state.withLock { $0.builds } }

    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        state.withLock { state in
            state.now += 1
            state.most = max(state.most, state.now)
            state.builds.append(context.buildID)
        }
        try await Task.sleep(for: .milliseconds(30))
        state.withLock { $0.now -= 1 }
        return JobOutput(output: "", exitCode: 0)
    }
}
