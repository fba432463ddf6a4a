import BrigantineCore
import Foundation
import JobRunners
import Scheduler
import Store
import Testing
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
    func waitForAll(_ store: SQLiteBuildStore, ids: [String]) async throws -> [StoredBuild] {
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

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
