import BrigantineCore
import Foundation
@testable import Gateway
import Logging
import Synchronization
import Testing

/// A project's `rateLimit`: webhooks over it get 429 with `Retry-After` and make no build.
@Suite struct RateLimitTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("rate-limit-test-\(UUID().uuidString)")

    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    func project(_ name: String, _ limit: Project.RateLimit?) -> Project {
        var project = Project(name: name, directory: "/")
        project.rateLimit = limit
        return project
    }

    @Test func aBucketHoldsItsBurstAndRefillsAtItsRate() {
        let clock = ManualClock()
        let limiter = WebhookRateLimiter(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, now: { clock.now })
        let limited = project("limited", .init(builds: 60, per: .minute, burst: 3)) // one a second

        #expect((0..<3).map { _ in limiter.take(for: limited) } == [.admitted, .admitted, .admitted])
        #expect(limiter.take(for: limited) == .refused(retryAfterSeconds: 1))
        clock.advance(.milliseconds(600))
        #expect(limiter.take(for: limited) == .refused(retryAfterSeconds: 1), "0.6 of a token is not one")
        clock.advance(.milliseconds(400))
        #expect(limiter.take(for: limited) == .admitted)
        #expect(limiter.take(for: limited) == .refused(retryAfterSeconds: 1))

        // A token given back (no build was made) can be taken again, once.
        clock.advance(.seconds(1))
        #expect(limiter.take(for: limited) == .admitted)
        limiter.giveBack(for: limited)
        #expect(limiter.take(for: limited) == .admitted)
        #expect(limiter.take(for: limited) != .admitted)

        // A quiet hour refills to the burst, no further.
        clock.advance(.seconds(3600))
        #expect((0..<4).map { _ in limiter.take(for: limited) } == [.admitted, .admitted, .admitted, .refused(retryAfterSeconds: 1)])

        // A slow limit says how long until the next token; other projects are not touched.
        let hourly = project("hourly", .init(builds: 2, per: .hour))
        #expect(limiter.take(for: hourly) == .admitted && limiter.take(for: hourly) == .admitted)
        #expect(limiter.take(for: hourly) == .refused(retryAfterSeconds: 1800))
        clock.advance(.seconds(1500))
        #expect(limiter.take(for: hourly) == .refused(retryAfterSeconds: 300))
        let free = project("free", nil)
        #expect((0..<1000).allSatisfy { _ in limiter.take(for: free) == .admitted })

        // A changed limit (a reloaded project file) starts full.
        let raised = project("hourly", .init(builds: 5, per: .hour))
        #expect((0..<5).map { _ in limiter.take(for: raised) }.allSatisfy { $0 == .admitted })
        #expect(limiter.take(for: raised) != .admitted)
    }

    /// Through a real gateway: the third webhook of a project allowed two an hour gets 429 and
    /// no build; a duplicate delivery and a ping cost nothing; another project is not limited.
    @Test func webhooksOverTheLimitGet429AndNoBuild() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let common = "defaultScriptFile: ran.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
        let projects = try GatewayProcess.projectsDirectory(in: root, [
            "ran.js": "require('brigadier').events.on('image_push', () => console.log('ran'));",
            "limited.yaml": "name: limited\n\(common)rateLimit: {builds: 2, per: hour}\n",
            "free.yaml": "name: free\n\(common)",
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"))
        let push = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))

        func send(_ project: String, _ body: Data, key: String) async throws -> GatewayProcess.Answer {
            try await gateway.post("/events/webhook/\(project)", body, headers: ["Idempotency-Key": key])
        }
        let first = try await send("limited", push, key: "delivery-1")
        #expect(first.status == 200, "\(first.text)")
        let again = try await send("limited", push, key: "delivery-1")
        #expect(again.status == 200 && again.json["duplicate"] as? Bool == true, "a duplicate makes no build: \(again.text)")
        let ping = try await gateway.post("/events/webhook/limited",
                                          try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("acr-ping.json")))
        #expect(ping.status == 200 && ping.json["ping"] as? Bool == true, "\(ping.text)")
        #expect(try await send("limited", push, key: "delivery-2").status == 200, "the duplicate gave its token back")
        for key in ["delivery-3", "delivery-4"] {
            let refused = try await send("limited", push, key: key)
            #expect(refused.status == 429, "\(refused.status) \(refused.text)")
            let retryAfter = try #require(refused.headers["retry-after"].flatMap(Int.init), "\(refused.headers)")
            #expect((1700...1800).contains(retryAfter) && refused.json["retryAfter"] as? Int == retryAfter)
            #expect(refused.json["status"] as? String
                    == "over this project's rate limit of 2 builds an hour; nothing was accepted, try again in \(retryAfter) s")
        }
        for index in 0..<5 {
            #expect(try await send("free", push, key: "free-\(index)").status == 200)
        }

        let builds = try #require(try await gateway.get("/v1/project/limited/builds").list)
        #expect(builds.count == 2, "only the admitted webhooks made builds")
        for build in builds {
            let id = try #require(build["id"] as? String)
            #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
        }
        #expect(try #require(try await gateway.get("/v1/project/free/builds").list).count == 5)
        let limit = try await gateway.get("/v1/project/limited").json["rateLimit"] as? [String: Any]
        #expect(limit?["builds"] as? Int == 2 && limit?["per"] as? String == "hour" && limit?["burst"] as? Int == 2)
        let shown = try await Brig.run(["project", "get", "limited", "--projects", projects.path])
        #expect(shown.stdoutLines.contains("rateLimit: 2 builds an hour per gateway"), "\(shown.stdout)")

        // Two refusals, one line: a flood does not flood the log.
        let noted = gateway.log.components(separatedBy: "\n")
            .filter { $0.contains("webhooks refused with 429: the project's rate limit is 2 builds an hour") }
        #expect(noted.count == 1 && noted.first?.contains("limited") == true, "\(noted)")
        // Each refused webhook's own request line says so, with its project.
        let requestLines = gateway.log.components(separatedBy: "\n")
            .filter { $0.contains("status=429") && $0.hasSuffix("[Gateway] request") }
        #expect(requestLines.count == 2, "\(requestLines)")
        #expect(requestLines.allSatisfy {
            $0.contains("project=limited refused=over this project's rate limit of 2 builds an hour route=")
        }, "\(requestLines)")
        await gateway.stop()
    }
}
