import Foundation
import Gateway
@testable import Store
import TestSupport
import Testing

/// The API under `/v1` as operators use it: its token, and stopping builds.
@Suite struct APITests {
    static let token = "api-token-for-tests-0123456789"
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("api-test-\(UUID().uuidString)")
    var projects: URL { root.appendingPathComponent("projects") }
    var data: URL { root.appendingPathComponent("data") }

    /// One insecure project whose builds wait a minute on a timer, one build at a time.
    func writeWaitingProject() throws {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            const { events } = require('brigadier');
            events.on('image_push', async () => {
              console.log('waiting');
              await new Promise((resolve) => setTimeout(resolve, 60000));
              console.log('the wait ended');
            });
            """.write(to: projects.appendingPathComponent("waits.js"), atomically: true, encoding: .utf8)
        try "name: waits\ndefaultScriptFile: waits.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("waits.yaml"), atomically: true, encoding: .utf8)
    }

    var payload: Data {
        get throws { try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json")) }
    }

    /// Times are ISO 8601 in UTC to the second, as Brigade's API gave them.
    @Test func timesAreISO8601() {
        let created = Date(timeIntervalSince1970: 1_700_000_000.7)
        let build = StoredBuild(build: NewBuild(projectID: "p", projectName: "p", eventType: "push", provider: "dockerhub", payload: Data()),
                                status: .running, createdAt: created, startedAt: created.addingTimeInterval(86_400 * 40), attempts: 1)
        let object = APIObjects.build(build)
        #expect(object["createdAt"] as? String == "2023-11-14T22:13:20Z")
        #expect(object["startedAt"] as? String == "2023-12-24T22:13:20Z")
        #expect(object["finishedAt"] is NSNull)
    }

    /// The API's JSON: keys sorted, each Swift value as its JSON kind (a Bool never a number,
    /// nor an Int a Bool), null for NSNull.
    @Test func objectsAsJSON() {
        let object: [String: Any] = [
            "s": "x/y", "t": true, "f": false, "one": 1, "zero": 0, "big": Int64(1) << 40, "half": 0.5, "whole": 30.0,
            "none": NSNull(), "list": [1, "two", ["k": false]], "inner": ["b": 2, "a": [String]()],
        ]
        #expect(String(decoding: APIObjects.data(object), as: UTF8.self) == #"""
            {"big":1099511627776,"f":false,"half":0.5,"inner":{"a":[],"b":2},"list":[1,"two",{"k":false}],"none":null,"one":1,"s":"x\/y","t":true,"whole":30,"zero":0}

            """#)
    }

    @Test func aTokenGuardsTheAPIButNotWebhooksOrHealthChecks() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeWaitingProject()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, apiToken: Self.token)
        let noToken = ["Authorization": ""]
        #expect(try await gateway.request("GET", "/healthz", headers: noToken).status == 200)
        let refused = try await gateway.request("GET", "/v1/builds", headers: noToken)
        #expect(refused.status == 401 && refused.json["status"] as? String == "unauthorized", "\(refused.status) \(refused.text)")
        #expect(try await gateway.request("GET", "/v1/builds", headers: ["Authorization": "Bearer not-the-token"]).status == 401)
        #expect(try await gateway.request("GET", "/v1/projects", headers: ["Authorization": "Bearer \(Self.token)x"]).status == 401)
        #expect(try await gateway.request("POST", "/v1/build/x/cancel", headers: noToken).status == 401)
        // Webhooks authenticate by their project's own secrets, not the API's token.
        let accepted = try await gateway.request("POST", "/events/webhook/waits", body: try payload, headers: noToken)
        let id = try #require(accepted.json["build"] as? String, "\(accepted.status) \(accepted.text)")
        let shown = try await gateway.get("/v1/build/\(id)")
        #expect(shown.status == 200 && shown.json["id"] as? String == id, "\(shown.status) \(shown.text)")
        #expect([200, 202].contains(try await gateway.post("/v1/build/\(id)/cancel", Data()).status))
        await gateway.stop()
        #expect(!gateway.log.contains(Self.token))
    }

    @Test func withoutATokenReadsAreOpenAndChangesRefused() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeWaitingProject()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        #expect(try await gateway.get("/v1/builds").status == 200)
        let id = try #require(try await gateway.post("/events/webhook/waits", try payload).json["build"] as? String)
        let refused = try await gateway.post("/v1/build/\(id)/cancel", Data())
        #expect(refused.status == 403 && refused.text.contains("--api-token-file"), "\(refused.status) \(refused.text)")
        await gateway.stop()
    }

    /// A pending build ends at once without running; a running one is stopped (its script
    /// is not entered again), from the API or from `brig build cancel` in another process.
    @Test func buildsAreStoppedThroughTheAPIOrTheCommandLine() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeWaitingProject()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--per-project", "1"],
                                                     apiToken: Self.token)
        var ids: [String] = []
        for _ in 0..<3 {
            let answer = try await gateway.post("/events/webhook/waits", try payload)
            ids.append(try #require(answer.json["build"] as? String, "\(answer.status) \(answer.text)"))
        }
        let (running, waiting, last) = (ids[0], ids[1], ids[2])
        try await waitUntilRunning(running, on: gateway)

        let ended = try await gateway.post("/v1/build/\(waiting)/cancel", Data())
        #expect(ended.status == 200 && ended.json["status"] as? String == "Failed", "\(ended.status) \(ended.text)")
        let never = try await gateway.finishedBuild(waiting, within: 30)
        #expect(never["reason"] as? String == "cancelled through the API" && never["startedAt"] is NSNull, "\(never)")

        let stopping = try await gateway.post("/v1/build/\(running)/cancel", Data())
        #expect(stopping.status == 202 && stopping.json["status"] as? String == "Cancelling", "\(stopping.status) \(stopping.text)")
        let stopped = try await gateway.finishedBuild(running, within: 30)
        #expect(stopped["status"] as? String == "Failed" && stopped["reason"] as? String == "the build was stopped: cancelled through the API", "\(stopped)")
        let lines = try await gateway.logLines(running)
        #expect(lines.contains("waiting") && !lines.contains("the wait ended"), "\(lines)")

        // The last one runs once the first is gone; another process asks through the store.
        try await waitUntilRunning(last, on: gateway)
        let cancelled = try await Brig.run(["build", "cancel", last, "--data", data.path])
        #expect(cancelled.status == 0 && cancelled.stdout.contains("asked its gateway to stop it"), "\(cancelled.stdout) \(cancelled.stderr)")
        let byCommand = try await gateway.finishedBuild(last, within: 30)
        #expect(byCommand["status"] as? String == "Failed" && byCommand["reason"] as? String == "the build was stopped: cancelled with brig build cancel",
                "\(byCommand)")

        let again = try await gateway.post("/v1/build/\(running)/cancel", Data())
        #expect(again.status == 409 && again.text.contains("already ended: Failed"), "\(again.status) \(again.text)")
        #expect(try await gateway.post("/v1/build/no-such-build/cancel", Data()).status == 404)
        let twice = try await Brig.run(["build", "cancel", last, "--data", data.path])
        #expect(twice.status != 0 && twice.stderr.contains("has already ended: Failed"), "\(twice.stderr)")
        await gateway.stop()
    }

    /// A rerun is a new build of the same event, run again; the first is left as it was.
    @Test func buildsAreRunAgainThroughTheAPIOrTheCommandLine() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            require('brigadier').events.on('image_push', (e) => {
              console.log('pushed ' + JSON.parse(e.payload).repository.repo_name + ' (' + e.payload.length + ' bytes)');
            });
            """.write(to: projects.appendingPathComponent("echo.js"), atomically: true, encoding: .utf8)
        try "name: echo\ndefaultScriptFile: echo.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("echo.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: data, apiToken: Self.token)
        let first = try #require(try await gateway.post("/events/webhook/echo", try payload).json["build"] as? String)
        let firstBuild = try await gateway.finishedBuild(first)
        let printed = try await gateway.logLines(first).filter { $0.hasPrefix("pushed ") }
        #expect(printed.count == 1, "\(printed)")

        let answer = try await gateway.post("/v1/build/\(first)/rerun", Data())
        #expect(answer.status == 200 && answer.json["rerunOf"] as? String == first, "\(answer.status) \(answer.text)")
        let again = try #require(answer.json["build"] as? String)
        let viaCommand = try await Brig.run(["build", "rerun", first, "--data", data.path])
        #expect(viaCommand.status == 0, "\(viaCommand.stderr)")
        let third = viaCommand.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for id in [again, third] {
            let build = try await gateway.finishedBuild(id)
            #expect(build["status"] as? String == "Succeeded" && build["payloadBytes"] as? Int == firstBuild["payloadBytes"] as? Int,
                    "\(build)")
            #expect(try await gateway.logLines(id).filter { $0.hasPrefix("pushed ") } == printed)
        }
        #expect(Set([first, again, third]).count == 3)
        #expect(try await gateway.get("/v1/build/\(first)").json["finishedAt"] as? String == firstBuild["finishedAt"] as? String)
        #expect(try await gateway.post("/v1/build/no-such-build/rerun", Data()).status == 404)
        let missing = try await Brig.run(["build", "rerun", "no-such-build", "--data", data.path])
        #expect(missing.status != 0 && missing.stderr.contains("no build no-such-build"), "\(missing.stderr)")
        await gateway.stop()
    }

    /// An ended build is deleted with its jobs and logs; a running one is kept (409, exit 1).
    @Test func endedBuildsAreDeletedThroughTheAPIOrTheCommandLine() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeWaitingProject()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, apiToken: Self.token)
        let first = try #require(try await gateway.post("/events/webhook/waits", try payload).json["build"] as? String)
        try await waitUntilRunning(first, on: gateway)
        let live = try await gateway.request("DELETE", "/v1/build/\(first)")
        #expect(live.status == 409 && live.json["status"] as? String == "the build is Running: cancel it first", "\(live.status) \(live.text)")
        let refused = try await Brig.run(["build", "delete", first, "--data", data.path])
        #expect(refused.status == 1 && refused.stderr == "Error: build \(first) is Running: stop it first (brig build cancel \(first))\n")

        #expect(try await gateway.post("/v1/build/\(first)/cancel", Data()).status == 202)
        _ = try await gateway.finishedBuild(first)
        let deleted = try await gateway.request("DELETE", "/v1/build/\(first)")
        #expect(deleted.status == 200 && deleted.json["deleted"] as? Bool == true, "\(deleted.status) \(deleted.text)")
        #expect(try await gateway.get("/v1/build/\(first)").status == 404)
        #expect(try await gateway.get("/v1/build/\(first)/logs").status == 404)
        #expect(try await gateway.request("DELETE", "/v1/build/\(first)").status == 404)

        let second = try #require(try await gateway.post("/events/webhook/waits", try payload).json["build"] as? String)
        try await waitUntilRunning(second, on: gateway)
        #expect(try await gateway.post("/v1/build/\(second)/cancel", Data()).status == 202)
        _ = try await gateway.finishedBuild(second)
        let byCommand = try await Brig.run(["build", "delete", second, "no-such-build", "--data", data.path])
        #expect(byCommand.status == 1 && byCommand.stdout == "\(second): deleted\n" && byCommand.stderr == "Error: no build no-such-build\n",
                "\(byCommand.stdout) \(byCommand.stderr)")
        #expect(try await gateway.get("/v1/build/\(second)").status == 404)
        await gateway.stop()
    }

    /// `brig build logs --last --jobs`: the newest build's log, then each job's output.
    @Test func theLastBuildsLogWithItsJobs() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            const { events, Job } = require('brigadier');
            events.on('image_push', async () => {
              console.log('before the job');
              await new Job('hello', 'alpine', ['echo hello from the job', 'echo second line']).run();
            });
            """.write(to: projects.appendingPathComponent("hello.js"), atomically: true, encoding: .utf8)
        try "name: hello\ndefaultScriptFile: hello.js\ninsecure: true\ngateways: [container-registry]\nrunner: local\n"
            .write(to: projects.appendingPathComponent("hello.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        var ids: [String] = []
        for _ in 0..<2 {
            let id = try #require(try await gateway.post("/events/webhook/hello", try payload).json["build"] as? String)
            #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
            ids.append(id)
        }
        // Newest first, a page at a time.
        #expect(try await gateway.get("/v1/builds?limit=1").list?.compactMap { $0["id"] as? String } == [ids[1]])
        #expect(try await gateway.get("/v1/project/hello/builds?limit=1&before=\(ids[1])").list?.compactMap { $0["id"] as? String } == [ids[0]])
        #expect(try await gateway.get("/v1/builds?before=\(ids[0])").list?.isEmpty == true)
        // A page size or a wait that is not one is refused, not taken for the default.
        for query in ["limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=%EF%BC%91"] {
            let answer = try await gateway.get("/v1/builds?\(query)")
            #expect(answer.status == 400 && answer.json["status"] as? String == "limit must be a whole number from 1 (at most 1000 are given)",
                    "\(query): \(answer.status) \(answer.text)")
        }
        #expect(try await gateway.get("/v1/builds?limit=99999999999999999999").list?.count == 2, "more than there are: all of them")
        for query in ["timeout=nan", "timeout=-1", "timeout=soon"] {
            let answer = try await gateway.get("/v1/build/\(ids[0])/wait?\(query)")
            #expect(answer.status == 400 && answer.json["status"] as? String == "timeout must be seconds, from 0 to 60",
                    "\(query): \(answer.status) \(answer.text)")
        }
        #expect(try await gateway.get("/v1/build/\(ids[0])/wait?timeout=inf").status == 200, "an ended build, at once")
        let page = try await Brig.run(["build", "list", "--before", ids[1], "--data", data.path])
        #expect(page.stdoutLines.map { $0.split(separator: "\t").first.map(String.init) } == [ids[0]], "\(page.stdout)")

        let logs = try await Brig.run(["build", "logs", "--last", "--project", "hello", "--jobs", "--data", data.path])
        #expect(logs.status == 0, "\(logs.stderr)")
        let lines = logs.stdoutLines
        let header = try #require(lines.firstIndex(of: "==> job hello-\(ids[1]) (succeeded, exit 0) <=="), "\(logs.stdout)")
        #expect(lines.firstIndex(of: "before the job").map { $0 < header } == true)
        #expect(Array(lines[(header + 1)...].prefix(2)) == ["hello from the job", "second line"])
        #expect(try await Brig.run(["build", "logs", ids[0], "--data", data.path]).stdout.contains("==> job") == false)
        let none = try await Brig.run(["build", "logs", "--last", "--project", "nobody", "--data", data.path])
        #expect(none.status == 1 && none.stderr == "Error: no build of nobody yet\n", "\(none.stderr)")
        await gateway.stop()
    }

    /// Until the build's script has started (its first line is in the log).
    func waitUntilRunning(_ id: String, on gateway: GatewayProcess) async throws {
        for _ in 0..<400 {
            if try await gateway.get("/v1/build/\(id)").json["status"] as? String == "Running",
               try await gateway.logLines(id).contains("waiting") { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("build \(id) did not start")
    }
}
