import Foundation
import Testing
import TestSupport

/// Through a real gateway: a build whose repository cannot be fetched yet waits and tries
/// again (`--start-retry-delays`), says so in its log and metrics, and runs once it can.
@Suite struct StartRetryGatewayTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("start-retry-gateway-\(UUID().uuidString)")

    @Test func aBuildWhoseRepositoryIsNotThereYetRunsOnceItIs() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = root.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let repository = root.appendingPathComponent("repository") // made only after the webhook
        try "name: later\nrepo: {cloneURL: \(repository.path)}\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("later.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"),
                                                     arguments: ["--start-retry-delays", Array(repeating: "0.5", count: 60).joined(separator: ",")])
        let answer = try await gateway.post("/events/webhook/later",
                                            try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json")))
        let id = try #require(answer.json["build"] as? String, "\(answer.text)")

        var waiting = false
        for _ in 0..<200 where !waiting {
            waiting = try await gateway.logLines(id).contains { $0.hasPrefix("[brigade] could not start: could not fetch \(repository.path)") }
            if !waiting { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(waiting, "the build's log says why it waits")
        #expect(try await gateway.get("/v1/build/\(id)").json["status"] as? String == "Running")

        // Made beside it and moved into place, so that no try finds a repository without commits.
        let making = root.appendingPathComponent("making")
        try FileManager.default.createDirectory(at: making, withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: making)
        try "require('brigadier').events.on('image_push', (e) => console.log('ran from the repository'));"
            .write(to: making.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: making)
        try await git("commit", "--quiet", "-m", "script", in: making)
        try FileManager.default.moveItem(at: making, to: repository)

        let build = try await gateway.finishedBuild(id)
        #expect(build["status"] as? String == "Succeeded", "\(build)")
        #expect(try await gateway.logLines(id).contains("ran from the repository"))
        let metrics = try await gateway.get("/metrics").text
        let retries = metrics.split(separator: "\n").first { $0.hasPrefix("brigantine_build_start_retries_total ") }
        #expect(retries.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true, "\(retries ?? "none")")
        await gateway.stop()
    }

    /// A gateway killed (`kill -9`) while a build waits to try its start again leaves a build
    /// the next start runs: none of it had run, so it is not failed as interrupted.
    @Test func aBuildWaitingToStartSurvivesACrash() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = root.appendingPathComponent("projects"), data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let repository = root.appendingPathComponent("repository")
        try "name: later\nrepo: {cloneURL: \(repository.path)}\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("later.yaml"), atomically: true, encoding: .utf8)
        let first = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--start-retry-delays", "600"])
        let answer = try await first.post("/events/webhook/later",
                                          try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json")))
        let id = try #require(answer.json["build"] as? String, "\(answer.text)")
        var waiting = false
        for _ in 0..<200 where !waiting {
            waiting = try await first.logLines(id).contains { $0.hasPrefix("[brigade] could not start: could not fetch") }
            if !waiting { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(waiting)
        await first.crash()

        let making = root.appendingPathComponent("making")
        try FileManager.default.createDirectory(at: making, withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: making)
        try "require('brigadier').events.on('image_push', () => console.log('ran after the crash'));"
            .write(to: making.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: making)
        try await git("commit", "--quiet", "-m", "script", in: making)
        try FileManager.default.moveItem(at: making, to: repository)

        let second = try await GatewayProcess.start(projects: projects, data: data)
        let build = try await second.finishedBuild(id)
        #expect(build["status"] as? String == "Succeeded" && build["attempts"] as? Int == 2, "\(build)")
        #expect(try await second.logLines(id).contains("ran after the crash"))
        await second.stop()
    }

    /// Once its script has started, a build that had waited to start is interrupted like any
    /// other by a crash: failed at the next start, not run a second time.
    @Test func aBuildWhoseScriptStartedAfterWaitingIsNotRunAgainAfterACrash() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = root.appendingPathComponent("projects"), data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let repository = root.appendingPathComponent("repository")
        try "name: later\nrepo: {cloneURL: \(repository.path)}\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("later.yaml"), atomically: true, encoding: .utf8)
        let first = try await GatewayProcess.start(projects: projects, data: data,
                                                   arguments: ["--start-retry-delays", Array(repeating: "0.3", count: 100).joined(separator: ",")])
        let answer = try await first.post("/events/webhook/later",
                                          try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json")))
        let id = try #require(answer.json["build"] as? String, "\(answer.text)")
        var lines: [String] = []
        for _ in 0..<200 where !lines.contains(where: { $0.hasPrefix("[brigade] could not start") }) {
            try await Task.sleep(for: .milliseconds(50))
            lines = try await first.logLines(id)
        }
        let making = root.appendingPathComponent("making")
        try FileManager.default.createDirectory(at: making, withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: making)
        try """
            require('brigadier').events.on('image_push', async () => {
              console.log('script started');
              await new Promise((resolve) => setTimeout(resolve, 600000));
            });
            """.write(to: making.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: making)
        try await git("commit", "--quiet", "-m", "script", in: making)
        try FileManager.default.moveItem(at: making, to: repository)
        for _ in 0..<400 where !lines.contains("script started") {
            try await Task.sleep(for: .milliseconds(50))
            lines = try await first.logLines(id)
        }
        #expect(lines.contains("script started"), "\(lines)")
        await first.crash()

        let second = try await GatewayProcess.start(projects: projects, data: data)
        let build = try await second.finishedBuild(id)
        #expect(build["status"] as? String == "Failed" && build["reason"] as? String == "the gateway stopped while this build was running",
                "\(build)")
        await second.stop()
    }

    @Test func badDelaysAreRefused() async throws {
        let result = try await Brig.run(["gateway", "--start-retry-delays", "10,soon", "--projects", root.path, "--data", root.path])
        #expect(result.status == 1 && result.stderr.contains("--start-retry-delays is seconds (0 to 86400) separated by commas, or none; not '10,soon'"),
                "\(result.stderr)")
    }
}
