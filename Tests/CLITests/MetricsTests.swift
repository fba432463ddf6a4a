import Foundation
import TestSupport
import Testing

/// `GET /metrics`: what an operator's Prometheus scrapes.
@Suite struct MetricsTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-test-\(UUID().uuidString)")

    /// The value of the series named exactly `series` (name and labels as printed), if any.
    func value(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func requestsBuildsAndTheQueueAreCounted() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = root.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            const { events } = require('brigadier');
            events.on('image_push', (e) => { if (JSON.parse(e.payload).fail) throw new Error('asked to'); });
            """.write(to: projects.appendingPathComponent("hook.js"), atomically: true, encoding: .utf8)
        try "name: hook\ndefaultScriptFile: hook.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
            .write(to: projects.appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
        let token = "metrics-token-0123456789"
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"), apiToken: token)

        var ids: [String] = []
        for body in [#"{"fail": false}"#, #"{"fail": false}"#, #"{"fail": true}"#] {
            ids.append(try #require(try await gateway.post("/events/webhook/hook", Data(body.utf8)).json["build"] as? String))
        }
        #expect(try await gateway.post("/events/webhook/nobody", Data("{}".utf8)).status == 401)
        #expect(try await gateway.request("BREW", "/events/webhook/hook").status >= 400)
        for id in ids { _ = try await gateway.finishedBuild(id) }

        #expect(try await gateway.request("GET", "/metrics", headers: ["Authorization": ""]).status == 401,
                "with a token, metrics need it like the API")
        let scraped = try await gateway.get("/metrics")
        #expect(scraped.status == 200)
        let text = scraped.text
        #expect(value(#"brigantine_http_requests_total{method="POST",route="/events/webhook/{org}",status="200"}"#, in: text) == 3, "\(text)")
        #expect(value(#"brigantine_http_requests_total{method="POST",route="/events/webhook/{org}",status="401"}"#, in: text) == 1)
        #expect(!text.contains("BREW") && !text.contains("nobody"), "made-up methods and paths make no series")
        #expect(value(#"brigantine_builds_ended_total{status="Succeeded"}"#, in: text) == 2)
        #expect(value(#"brigantine_builds_ended_total{status="Failed"}"#, in: text) == 1)
        #expect(value("brigantine_build_queue_seconds_count", in: text) == 3)
        #expect(value(#"brigantine_build_run_seconds_count{status="Succeeded"}"#, in: text) == 2)
        #expect(value("brigantine_builds_pending", in: text) == 0 && value("brigantine_builds_live", in: text) == 0)
        #expect(value("brigantine_store_write_retries_total", in: text) == 0)
        #expect(!text.contains(token) && !text.contains("hook.js"))
        #expect(!text.contains("brigantine_scripts_stopped_total{"), "no script met a limit")
        await gateway.stop()
    }

    /// Scripts stopped by a limit are counted by limit, so that an operator can see runaway
    /// scripts without reading build reasons.
    @Test func scriptsStoppedByALimitAreCounted() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = root.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let scripts = [
            "spin": "require('brigadier').events.on('image_push', async () => { for (;;) await null; });",
            "hoard": "require('brigadier').events.on('image_push', () => { const h = []; for (;;) h.push(new Array(1e5).fill(1.5)); });",
        ]
        for (name, script) in scripts {
            try script.write(to: projects.appendingPathComponent("\(name).js"), atomically: true, encoding: .utf8)
            try "name: \(name)\ndefaultScriptFile: \(name).js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n"
                .write(to: projects.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"), arguments: [
            "--script-time-limit", "1", "--script-memory-limit", "64",
        ])
        for name in ["spin", "hoard", "spin"] {
            let id = try #require(try await gateway.post("/events/webhook/\(name)", Data("{}".utf8)).json["build"] as? String)
            // The limit is CPU time of a lane at nice 10: beside the suite's busy tests a lane
            // gets a few percent of a core (each build took ~17 s of wall time beside 4 CPU
            // burners), and one build in a suite run took over 30 s.
            #expect(try await gateway.finishedBuild(id, within: 180)["status"] as? String == "Failed")
        }
        let text = try await gateway.get("/metrics").text
        #expect(value(#"brigantine_scripts_stopped_total{limit="time"}"#, in: text) == 2, "\(text)")
        #expect(value(#"brigantine_scripts_stopped_total{limit="memory"}"#, in: text) == 1)
        await gateway.stop()
    }
}
