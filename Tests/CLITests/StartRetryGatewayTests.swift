import Foundation
import Testing
import TestSupport

/// Through a real gateway: a build whose repository cannot be fetched yet waits and tries
/// again (`--start-retry-delays`), says so in its log and metrics, runs once it can, and
/// outlives a crash while it waits.
@Suite struct StartRetryGatewayTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("start-retry-gateway-\(UUID().uuidString)")
    var projects: URL { root.appendingPathComponent("projects") }
    var data: URL { root.appendingPathComponent("data") }
    /// The project's repository, made only after its webhook came.
    var repository: URL { root.appendingPathComponent("repository") }

    /// A gateway with `delays`, and the build of a Docker Hub push to a project whose
    /// repository is not there yet, once its log says it waits to try its start again.
    func gatewayWithAWaitingBuild(delays: String) async throws -> (gateway: GatewayProcess, build: String) {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try "name: later\nrepo: {cloneURL: \(repository.path)}\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("later.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--start-retry-delays", delays])
        let answer = try await gateway.post("/events/webhook/later",
                                            try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json")))
        let id = try #require(answer.json["build"] as? String, "\(answer.text)")
        try await waitForLine(of: id, on: gateway) { $0.hasPrefix("[brigade] could not start: could not fetch \(repository.path)") }
        return (gateway, id)
    }

    /// Returns once a line of the build's log matches (or throws after 20 s).
    func waitForLine(of id: String, on gateway: GatewayProcess, where matches: (String) -> Bool) async throws {
        for _ in 0..<400 {
            if try await gateway.logLines(id).contains(where: matches) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("build \(id): no such line in its log: \(try await gateway.logLines(id))")
    }

    /// A repository whose one commit has `script` as its brigade.js, made beside `repository`
    /// and moved into place whole, so that no try finds a repository without commits.
    func makeRepository(script: String) async throws {
        let making = root.appendingPathComponent("making")
        try FileManager.default.createDirectory(at: making, withIntermediateDirectories: true)
        try await git("init", "--quiet", "--initial-branch=main", in: making)
        try script.write(to: making.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try await git("add", ".", in: making)
        try await git("commit", "--quiet", "-m", "script", in: making)
        try FileManager.default.moveItem(at: making, to: repository)
    }

    @Test func aBuildWhoseRepositoryIsNotThereYetRunsOnceItIs() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // Tries for 30 s: a loaded machine takes seconds to make the repository.
        let (gateway, id) = try await gatewayWithAWaitingBuild(delays: Array(repeating: "0.5", count: 60).joined(separator: ","))
        #expect(try await gateway.get("/v1/build/\(id)").json["status"] as? String == "Running")
        try await makeRepository(script: "require('brigadier').events.on('image_push', (e) => console.log('ran from the repository'));")

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
        let (first, id) = try await gatewayWithAWaitingBuild(delays: "600")
        await first.crash()
        try await makeRepository(script: "require('brigadier').events.on('image_push', () => console.log('ran after the crash'));")

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
        let (first, id) = try await gatewayWithAWaitingBuild(delays: Array(repeating: "0.3", count: 100).joined(separator: ","))
        try await makeRepository(script: """
            require('brigadier').events.on('image_push', async () => {
              console.log('script started');
              await new Promise((resolve) => setTimeout(resolve, 600000));
            });
            """)
        try await waitForLine(of: id, on: first) { $0 == "script started" }
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
