import Foundation
import TestSupport
import Testing

/// Gateways sharing one PostgreSQL store (`--store`): one queue, and a gateway's builds
/// outlive it — the others take them over.
@Suite(.enabled(if: PostgresServer.available, Comment(rawValue: PostgresServer.unavailableReason)))
struct SharedStoreTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("shared-store-\(UUID().uuidString)")
    var projects: URL { root.appendingPathComponent("projects") }

    /// Two gateways take webhooks; one is killed (-9) in the middle and never comes back. The
    /// other ends every build either acknowledged: the dead one's queued builds run there,
    /// and those it was running fail with a reason once their lease runs out.
    @Test func buildsOfAGatewayThatDiedAreTakenOverByAnother() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try await PostgresServer.withShared { try await takeOver($0, store: try await $0.makeDatabase()) }
    }

    /// The database goes away while builds run and comes back: what the builds did meanwhile
    /// (their last log lines, their end) is stored once it is back, and the gateway serves on.
    @Test func buildsThatEndWhileTheDatabaseIsAwayAreRecordedWhenItReturns() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try await PostgresServer.with { try await outage($0, store: try await $0.makeDatabase()) }
    }

    /// A build running on one gateway is stopped through the API of another.
    @Test func aBuildIsStoppedThroughAnyGatewaysAPI() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try await PostgresServer.withShared { postgres in
            let store = try await postgres.makeDatabase()
            try writeWaitingProject(waiting: 60_000)
            let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
            let token = "shared-api-token-0123456789"
            let runs = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("a"),
                                                      arguments: ["--store", store], apiToken: token)
            let id = try #require(try await runs.post("/events/webhook/waits", body).json["build"] as? String)
            for _ in 0..<400 {
                if try await runs.logLines(id).contains("started") { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            // Started only now, so the build is the first gateway's.
            let other = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("b"),
                                                       arguments: ["--store", store], apiToken: token)
            let asked = try await other.post("/v1/build/\(id)/cancel", Data())
            #expect(asked.status == 202, "\(asked.status) \(asked.text)")
            let build = try await other.finishedBuild(id, within: 15)
            #expect(build["reason"] as? String == "the build was stopped: cancelled through the API", "\(build)")
            #expect(!(try await other.logLines(id)).contains("done waiting"))
            await other.stop()
            await runs.stop()
        }
    }

    /// A project with `maxConcurrentBuilds: 1` runs one build at a time over both gateways,
    /// whichever took the webhook (the idle one looks for work every second meanwhile). Each
    /// build's job holds a directory for 300 ms (`mkdir` fails if it is held): a build
    /// running beside another fails.
    @Test func aProjectsLimitHoldsAcrossGateways() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try await PostgresServer.withShared { postgres in
            let store = try await postgres.makeDatabase()
            try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
            let held = root.appendingPathComponent("held").path
            try """
                const { events, Job } = require('brigadier');
                events.on('image_push', async () => {
                  const hold = new Job('hold', 'alpine', ['mkdir "$HELD" || { echo another build holds it; exit 1; }', 'sleep 0.3', 'rmdir "$HELD"']);
                  hold.env = { HELD: '\(held)' };
                  await hold.run();
                });
                """.write(to: projects.appendingPathComponent("serial.js"), atomically: true, encoding: .utf8)
            try "name: serial\ndefaultScriptFile: serial.js\ninsecure: true\ngateways: [container-registry]\nrunner: local\nmaxConcurrentBuilds: 1\n"
                .write(to: projects.appendingPathComponent("serial.yaml"), atomically: true, encoding: .utf8)
            let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
            let gateways = [
                try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("a"), arguments: ["--store", store]),
                try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("b"), arguments: ["--store", store]),
            ]
            var ids: [String] = []
            for n in 0..<6 {
                ids.append(try #require(try await gateways[n % 2].post("/events/webhook/serial", body).json["build"] as? String))
            }
            for id in ids {
                let build = try await gateways[0].finishedBuild(id, within: 30)
                #expect(build["status"] as? String == "Succeeded", "\(build)")
            }
            for gateway in gateways { await gateway.stop() }
        }
    }

    /// A project `waits` whose handler logs `started`, waits `waiting` ms, logs `done waiting`.
    private func writeWaitingProject(waiting: Int) throws {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            const { events } = require('brigadier');
            events.on('image_push', async () => {
              console.log('started');
              await new Promise((resolve) => setTimeout(resolve, \(waiting)));
              console.log('done waiting');
            });
            """.write(to: projects.appendingPathComponent("waits.js"), atomically: true, encoding: .utf8)
        try "name: waits\ndefaultScriptFile: waits.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("waits.yaml"), atomically: true, encoding: .utf8)
    }

    private func outage(_ postgres: PostgresServer, store: String) async throws {
        try writeWaitingProject(waiting: 1500)
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"),
                                                     arguments: ["--store", store])
        var ids: [String] = []
        for _ in 0..<3 {
            let answer = try await gateway.post("/events/webhook/waits", body)
            ids.append(try #require(answer.json["build"] as? String, "\(answer.status) \(answer.text)"))
        }
        for id in ids {
            for _ in 0..<200 {
                if try await gateway.get("/v1/build/\(id)").json["status"] as? String == "Running" { break }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        await postgres.pause() // the builds end while it is away
        // A webhook meanwhile is refused, soon (PostgresNIO's pool alone would hold it for a minute).
        let started = ContinuousClock.now
        let refused = try await gateway.post("/events/webhook/waits", body)
        #expect(refused.status == 503, "\(refused.status) \(refused.text)")
        // 5 s when run alone (`connectionWait`); room for a busy suite, still under the minute.
        #expect(ContinuousClock.now - started < .seconds(40))
        #expect(try await gateway.get("/healthz").status == 200)
        let unready = try await gateway.get("/readyz")
        #expect(unready.status == 503 && unready.text.contains("the build store does not answer"), "\(unready.text)")
        try await postgres.restart()

        for id in ids {
            // The pool's pause before each new try to connect grows by a quarter (PostgresNIO):
            // ~12 s after an outage of 45 s, which a busy suite's can be; then the build's
            // end is written within 5 s.
            let build: [String: Any]
            do {
                build = try await gateway.finishedBuild(id, within: 90)
            } catch {
                let seen = try await gateway.get("/v1/build/\(id)").text
                Issue.record("\(error); the build: \(seen); the gateway's log ends:\n\(gateway.log.split(separator: "\n").suffix(40).joined(separator: "\n"))")
                throw error
            }
            #expect(build["status"] as? String == "Succeeded", "\(build)")
            let lines = try await gateway.logLines(id)
            #expect(lines.contains { $0.contains("started") } && lines.contains { $0.contains("done waiting") }, "\(lines)")
        }
        var ready = try await gateway.get("/readyz")
        for _ in 0..<100 where ready.status != 200 { // the pool reconnects with growing pauses
            try await Task.sleep(for: .milliseconds(200))
            ready = try await gateway.get("/readyz")
        }
        #expect(ready.status == 200 && ready.text == "ready", "\(ready.text)")
        let after = try await gateway.post("/events/webhook/waits", body)
        let next = try #require(after.json["build"] as? String, "\(after.status) \(after.text)")
        #expect(try await gateway.finishedBuild(next)["status"] as? String == "Succeeded")
        await gateway.stop()
    }

    private func takeOver(_ postgres: PostgresServer, store: String) async throws {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try ReliabilityTests.pushHandler.write(to: projects.appendingPathComponent("shared.js"), atomically: true, encoding: .utf8)
        try "name: shared\ndefaultScriptFile: shared.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("shared.yaml"), atomically: true, encoding: .utf8)
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        func gateway(_ name: String) async throws -> GatewayProcess {
            try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent(name),
                                           arguments: ["--store", store, "--store-lease", "2", "--lanes", "1"])
        }
        let doomed = try await gateway("a")
        let survivor = try await gateway("b")

        let acknowledged = AcknowledgedBuilds()
        let sender = acknowledged.post(300, to: "/events/webhook/shared", body: body) { n in
            n.isMultiple(of: 3) ? survivor : doomed
        }
        try await acknowledged.wait(for: 120)
        await doomed.crash()
        await sender.value
        let ids = await acknowledged.ids
        #expect(ids.count >= 120)

        var interrupted = 0
        for id in ids {
            let build = try await survivor.finishedBuild(id, within: 60)
            let status = build["status"] as? String
            #expect(status == "Succeeded" || (status == "Failed" && (build["reason"] as? String)?.isEmpty == false), "\(build)")
            if status == "Failed" { interrupted += 1 }
        }
        // Nothing stays pending or running, acknowledged or not.
        func ended(_ build: [String: Any]) -> Bool { ["Succeeded", "Failed"].contains(build["status"] as? String ?? "") }
        var all: [[String: Any]] = []
        for _ in 0..<300 {
            all = try JSONSerialization.jsonObject(with: try await survivor.get("/v1/builds?limit=1000").body) as? [[String: Any]] ?? []
            guard !all.allSatisfy(ended) else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(all.count >= ids.count)
        // Only what the dead gateway was running fails; the survivor's own running builds are
        // not taken for interrupted ones.
        let failed = try await postgres.query(store, """
            SELECT count(*) FILTER (WHERE claimed_by LIKE '%/a'), count(*) FILTER (WHERE coalesce(claimed_by, '') NOT LIKE '%/a')
            FROM builds WHERE status = 'Failed'
            """)
        let allFailed = all.filter { $0["status"] as? String == "Failed" }.count
        #expect(failed == "\(allFailed)|0", "failed builds claimed by the dead gateway | by others: \(failed)")
        #expect(all.allSatisfy(ended))
        // The command line reads the same store.
        let listed = try await Brig.run(["build", "list", "--store", store, "--limit", "1000"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(Set(ids).isSubset(of: Set(listed.stdoutLines.map { String($0.prefix { $0 != "\t" }) })))
        let shown = try await Brig.run(["build", "get", ids[0], "--store", store])
        #expect(shown.status == 0 && shown.stdout.contains("build: \(ids[0])"), "\(shown.stdout) \(shown.stderr)")
        print("shared store: \(ids.count) of 300 webhooks acknowledged, all ended on the surviving gateway (\(interrupted) failed as interrupted)")
        await survivor.stop()
    }
}
