import BrigantineCore
import Crypto
import Foundation
import Gateway
import Store
import Synchronization
import Testing
import TestSupport

/// `brig gateway` as registries and operators see it, started for real on loopback.
@Suite(.serialized) struct GatewayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/payloads")
    static let webhookSecret = "webhook-secret-for-tests"
    static let genericSecret = "GenericSecret42"

    /// A handler that reports what it got, for every event type the gateway fires.
    static let reportingScript = """
        const { events } = require('brigadier');
        for (const type of ['image_push', 'imagePush', 'simpleevent', 'cloudevent']) {
          events.on(type, (e, p) => {
            console.log('REPORT ' + JSON.stringify({ type: e.type, provider: e.provider, revision: e.revision, project: p.name, payload: e.payload }));
          });
        }
        """

    /// The fixtures that are ACR webhook bodies (an `action` and a `target`); ACR's ping has no target.
    static let acrBodies: Set<String> = [
        "acr-chart_delete.json", "acr-chart_push.json", "acr-delete.json", "acr-eventcontent-from-rest-listevents.json",
        "acr-push.json", "jenkins-dockerhub-plugin-acr-payload-valid.json",
    ]

    let root = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-test-\(UUID().uuidString)")
    var projects: URL { root.appendingPathComponent("projects") }
    var data: URL { root.appendingPathComponent("data") }

    func writeProjects(extra: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try Self.reportingScript.write(to: projects.appendingPathComponent("report.js"), atomically: true, encoding: .utf8)
        let files = [
            "registry.yaml": """
                name: acme/registry
                defaultScriptFile: report.js
                gateways: [container-registry, generic]
                webhookSecret: \(Self.webhookSecret)
                genericGatewaySecret: \(Self.genericSecret)
                """,
            "open.yaml": "name: open\ndefaultScriptFile: report.js\ninsecure: true\ngateways: [container-registry]\n",
            "closed.yaml": "name: acme/closed\ndefaultScriptFile: report.js\nwebhookSecret: \(Self.webhookSecret)\n",
        ].merging(extra) { $1 }
        for (name, text) in files {
            try text.write(to: projects.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    var token: String { WebhookSecrets.token(project: "acme/registry", secret: Self.webhookSecret) }

    /// Files of a project `slow` (open, no secret) whose build waits `milliseconds` and then prints `slept`.
    static func slowProject(milliseconds: Int) -> [String: String] {
        [
            "slow.js": "require('brigadier').events.on('image_push', async () => { await new Promise(r => setTimeout(r, \(milliseconds))); console.log('slept'); });",
            "slow.yaml": "name: slow\ndefaultScriptFile: slow.js\ninsecure: true\ngateways: [container-registry]\n",
        ]
    }

    /// The REPORT line the script printed for a build.
    func report(_ gateway: GatewayProcess, build id: String) async throws -> [String: Any] {
        let build = try await gateway.finishedBuild(id)
        #expect(build["status"] as? String == "Succeeded", "\(build)")
        let line = try #require(try await gateway.logLines(id).first { $0.hasPrefix("REPORT ") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
    }

    @Test func everyRegistryPayloadReachesTheScriptByteForByte() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count >= 25)
        var builds: [(file: String, id: String, body: Data)] = []
        for file in files {
            let body = try Data(contentsOf: Self.fixtures.appendingPathComponent(file))
            let answer = try await gateway.post("/events/webhook/\(token)?commit=v1.2.3", body)
            #expect(answer.status == 200, "\(file): \(answer.text)")
            #expect(answer.json["status"] as? String == "Success")
            if file == "acr-ping.json" { // answered, but no build: see signedWebhooksAndPings
                #expect(answer.json["ping"] as? Bool == true && answer.json["build"] == nil, "\(answer.text)")
                continue
            }
            builds.append((file, try #require(answer.json["build"] as? String), body))
        }
        for (file, id, body) in builds {
            let report = try await report(gateway, build: id)
            #expect(report["payload"] as? String == String(decoding: body, as: UTF8.self), "\(file)")
            #expect(report["type"] as? String == "image_push")
            #expect(report["provider"] as? String == (Self.acrBodies.contains(file) ? "acr" : "dockerhub"), "\(file)")
            #expect(report["revision"] as? [String: String] == ["commit": "", "ref": "v1.2.3"])
        }
    }

    @Test func everyRouteForm() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("acr-push.json"))
        let id = ProjectID.of("acme/registry")
        let cases: [(path: String, headers: [String: String], type: String, revision: [String: String])] = [
            ("/events/webhook/acme/registry?token=\(token)&commit=main", [:], "image_push", ["commit": "", "ref": "main"]),
            ("/events/webhook/acme/registry/abc123", ["Authorization": "Bearer \(Self.webhookSecret)"], "image_push", ["commit": "", "ref": "abc123"]),
            ("/events/webhook/acme/registry/abc123?commit=override", ["Authorization": Self.webhookSecret], "image_push", ["commit": "", "ref": "override"]),
            ("/events/webhook/\(id)?token=\(token)", [:], "image_push", ["commit": "", "ref": ""]),
            ("/events/dockerhub/acme/registry/deadbeef?token=\(token)", [:], "imagePush", ["commit": "deadbeef", "ref": ""]),
            ("/events/webhook/open", [:], "image_push", ["commit": "", "ref": ""]),
        ]
        for route in cases {
            let answer = try await gateway.post(route.path, body, headers: route.headers)
            #expect(answer.status == 200, "\(route.path): \(answer.text)")
            let report = try await report(gateway, build: try #require(answer.json["build"] as? String))
            #expect(report["type"] as? String == route.type, "\(route.path)")
            #expect(report["revision"] as? [String: String] == route.revision, "\(route.path)")
            #expect(report["provider"] as? String == "acr")
        }
        // Nothing secret in the gateway's own log: routes are logged by pattern.
        #expect(!gateway.log.contains(token) && !gateway.log.contains(Self.webhookSecret))
        #expect(gateway.log.contains("method=POST ms=") && gateway.log.contains("route=/events/webhook/{org} status=200"))
        #expect(gateway.log.contains("project open is insecure"))
        #expect(gateway.log.split(separator: "\n").filter { $0.contains("build ended") && $0.contains("status=Succeeded") }.count == cases.count)
    }

    /// Text from a webhook or a script cannot start a line of its own in the gateway's text
    /// log: a failed build's reason with a line break and a terminal escape in it is escaped.
    @Test func aReasonCannotForgeALineOfTheLog() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: [
            "forge.js": "require('brigadier').events.on('image_push', (e) => { throw new Error('bad tag ' + JSON.parse(e.payload).tag); });",
            "forge.yaml": "name: forge\ndefaultScriptFile: forge.js\ninsecure: true\ngateways: [container-registry]\n",
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let body = #"{"tag":"x\n2026-01-01T00:00:00+0000 critical brig.gateway: FORGED \u001b[31m"}"#
        let id = try #require(try await gateway.post("/events/webhook/forge", Data(body.utf8)).json["build"] as? String)
        #expect(try await gateway.finishedBuild(id)["status"] as? String == "Failed")
        await gateway.stop()
        #expect(!gateway.log.split(separator: "\n").contains { $0.hasPrefix("2026-01-01") }, "\(gateway.log)")
        #expect(gateway.log.contains(#"reason=unhandled rejection: Error: bad tag x\n2026-01-01T00:00:00+0000 critical brig.gateway: FORGED \u{1B}[31m"#))
    }

    /// `--log-level warning` drops the line per request and keeps the warnings.
    @Test func theLogLevelLeavesOutTheRequestLines() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--log-level", "warning"])
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("acr-push.json"))
        let answer = try await gateway.post("/events/webhook/open", body)
        #expect(answer.status == 200, "\(answer.text)")
        _ = try await gateway.finishedBuild(try #require(answer.json["build"] as? String))
        #expect(gateway.log.contains("project open is insecure"))
        #expect(gateway.log.contains("projects acme/closed, acme/registry, open run their jobs with the local runner, as this gateway's user"))
        #expect(!gateway.log.contains("route="), "\(gateway.log)")
        let wrong = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--log-level", "loud"])
        #expect(wrong.status == 1 && wrong.stderr.contains("--log-level must be one of trace, debug, info"), "\(wrong.stderr)")
    }

    /// A webhook's line in the log names its project and the build it made, or says why it
    /// was refused, so an operator can tie a delivery to its build or see why a registry's
    /// webhooks get 401 — never with the token or secret the request came with.
    @Test func aWebhooksLogLineNamesItsBuildOrWhyItWasRefused() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json"))
        let made = try await gateway.post("/events/webhook/\(token)", body)
        let build = try #require(made.json["build"] as? String)
        var attempts: [(path: String, headers: [String: String], why: String)] = [
            ("/events/webhook/not-a-token-or-name", [:], "refused=no project has this name or URL token"),
            ("/events/webhook/acme/registry", [:], "project=acme/registry refused=the project's name came without its URL token"),
            ("/events/webhook/acme/registry?token=wrong-token-given", [:],
             "project=acme/registry refused=the ?token= or Authorization does not match the project's"),
            ("/events/webhook/acme/registry", ["X-Hub-Signature-256": "sha256=00"],
             "project=acme/registry refused=the body's signature does not match the project's webhookSecret"),
            ("/simpleevents/v1/\(ProjectID.of("acme/registry"))/wrong-secret-given", [:],
             "project=acme/registry refused=the path's secret does not match the project's genericGatewaySecret"),
            ("/events/webhook/acme/closed?token=\(WebhookSecrets.token(project: "acme/closed", secret: Self.webhookSecret))", [:],
             "project=acme/closed refused=the container-registry gateway is not enabled for this project"),
        ]
        for attempt in attempts {
            let answer = try await gateway.post(attempt.path, body, headers: attempt.headers)
            #expect(answer.status == 401 || answer.status == 403, "\(attempt.path): \(answer.status)")
        }
        let overCap = try await gateway.post("/events/webhook/\(token)", Data(count: (2 << 20) + 1))
        #expect(overCap.status == 413)
        attempts.append(("", [:], "project=acme/registry refused=the body is larger than --max-body"))
        _ = try await gateway.finishedBuild(build)
        await gateway.stop()
        let lines = gateway.log.split(separator: "\n").filter { $0.contains("method=POST") && $0.hasSuffix("[Gateway] request") }
        #expect(lines.count == attempts.count + 1, "\(lines)")
        #expect(lines.first?.contains("build=\(build) method=POST") == true && lines.first?.contains("project=acme/registry") == true,
                "\(lines.first ?? "")")
        for (line, attempt) in zip(lines.dropFirst(), attempts) {
            #expect(line.contains(attempt.why) && !line.contains("build="), "\(line)")
        }
        for secret in [token, Self.webhookSecret, Self.genericSecret, "wrong-token-given", "wrong-secret-given"] {
            #expect(!gateway.log.contains(secret), "the log says \(secret)")
        }
    }

    /// With the reader of its log gone (a log shipper that exited), the gateway's log lines
    /// cannot be written (EPIPE) and it keeps serving. A JSON line written with FileHandle
    /// stopped it with a trap, so it died with its log's reader.
    @Test(arguments: ["json", "text"])
    func theGatewayOutlivesItsLogsReader(format: String) async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let log = Pipe()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--log-format", format],
                                                     standardError: log)
        try log.fileHandleForReading.close()
        for _ in 0..<5 { // each request is a log line it cannot write
            #expect(try await gateway.get("/healthz").status == 200)
        }
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json"))
        #expect(try await gateway.post("/events/webhook/\(token)", body).status == 200)
        #expect(!processHasEnded(gateway.processIdentifier))
        await gateway.stop()
    }

    /// `--log-format json`: each log line is one JSON object, its metadata as keys of their own.
    @Test func jsonLogLines() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--log-format", "json"])
        let answer = try await gateway.post("/events/webhook/open", Data("{}".utf8))
        let id = try #require(answer.json["build"] as? String)
        _ = try await gateway.finishedBuild(id)
        await gateway.stop()
        let lines = gateway.log.split(separator: "\n").filter { $0.hasPrefix("{") }
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count && objects.count >= 4, "\(gateway.log)")
        #expect(objects.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String })
        #expect(objects.contains { $0["message"] as? String == "request" && $0["route"] as? String == "/events/webhook/{org}" && $0["status"] as? String == "200" })
        #expect(objects.contains { $0["message"] as? String == "build ended" && $0["build"] as? String == id && $0["status"] as? String == "Succeeded" })
        #expect(objects.contains { $0["level"] as? String == "warning" && ($0["message"] as? String ?? "").contains("project open is insecure") })
        #expect(!gateway.log.contains(" info brig.gateway:"), "no text lines")
        let wrong = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--log-format", "xml"])
        #expect(wrong.status == 1 && wrong.stderr == "Error: --log-format must be text or json, not 'xml'\n", "\(wrong.stderr)")
    }

    /// Numbers of seconds or days that no clock takes stop the command with the flag's bounds
    /// (each stopped the process with a trap when it became a duration), and nothing starts.
    @Test(arguments: [
        (["gateway", "--script-time-limit", "inf"], "--script-time-limit must be a number of seconds above 0 and at most 31536000 (a year), not inf"),
        (["gateway", "--build-timeout", "0"], "--build-timeout must be a number of seconds above 0 and at most 31536000 (a year), not 0"),
        (["gateway", "--script-memory-limit", "99999999999999"], "--script-memory-limit must be a number of MiB from 1 to 1048576 (a TiB), not 99999999999999"),
        (["gateway", "--store-lease", "inf"], "--store-lease must be a number of seconds from 1 to 86400, not inf"),
        (["gateway", "--keep-days", "1e300"], "--keep-days must be a number of days from 0 to 36500 (a century), not 1e+300"),
        (["gateway", "--fetch-time-limit", "nan"], "--fetch-time-limit must be a number of seconds above 0 and at most 86400, not nan"),
        (["gateway", "--request-timeout", "0"], "--request-timeout must be a number of seconds above 0 and at most 3600, not 0"),
        (["gateway", "--send-timeout", "inf"], "--send-timeout must be a number of seconds above 0 and at most 3600, not inf"),
        (["build", "prune", "--keep-days", "inf"], "--keep-days must be a number of days from 0 to 36500 (a century), not inf"),
        (["build", "wait", "01aaaaaaaaaaaaaaaaaaaaaaaa", "--timeout", "1e300"], "--timeout must be a number of seconds from 0 to 31536000 (a year), not 1e+300"),
    ])
    func numbersNoClockTakesAreRefused(arguments: [String], message: String) async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let places = arguments[0] == "gateway" ? ["--projects", projects.path, "--port", "0"] : []
        let result = try await Brig.run(arguments + places + ["--data", data.path])
        #expect(result.status == 1 && result.stderr == "Error: \(message)\n", "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.path), "nothing was started or stored")
    }

    /// Counts of things below one stop the gateway before it starts, saying which flag.
    @Test(arguments: [
        (["--max-connections", "0"], "--max-connections must be positive"),
        (["--max-connections-per-client", "0"], "--max-connections-per-client must be positive"),
        (["--lanes", "0"], "--port, --lanes, --max-builds, --per-project and --max-body must be positive (port at most 65535)"),
    ])
    func countsBelowOneAreRefused(arguments: [String], message: String) async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let result = try await Brig.run(["gateway", "--projects", projects.path, "--port", "0", "--data", data.path] + arguments,
                                        killAfter: .seconds(30))
        #expect(result.status == 1 && result.stderr == "Error: \(message)\n", "\(result.stderr)")
    }

    /// An `--api-token-file` that is a device or a FIFO stops the gateway at once with what
    /// it is (reading /dev/zero filled its memory; a FIFO without a writer hung its start).
    @Test func anAPITokenFileThatIsNoFileIsSaidPlainly() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let fifo = root.appendingPathComponent("token-fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for (file, reason) in [("/dev/zero", "is a device, not a regular file"), (fifo, "is a FIFO, not a regular file"),
                               (root.appendingPathComponent("missing").path, "No such file or directory")] {
            let result = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--port", "0",
                                             "--api-token-file", file], killAfter: .seconds(30))
            #expect(result.status == 1 && result.stderr == "Error: cannot read --api-token-file \(file): \(reason)\n", "\(result.stderr)")
        }
    }

    /// `--max-connections` past half the open-file limit is taken, with a warning that says
    /// what a flood of connections would then do.
    @Test func moreConnectionsThanTheOpenFileLimitLeavesRoomForAreWarnedOf() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--max-connections", "100"],
                                                     openFileLimit: 128)
        await gateway.stop()
        #expect(gateway.log.contains("warning brig.gateway: [Gateway] at most 100 connections at once with an open-file limit of 128: "
            + "a flood of connections can take the files"), "\(gateway.log)")
        let within = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--max-connections", "64"],
                                                    openFileLimit: 128)
        await within.stop()
        #expect(within.log.contains("info brig.gateway: [Gateway] at most 64 connections at once (open-file limit 128)"), "\(within.log)")
    }

    /// A data directory that cannot be made stops the gateway at once, with the system's reason.
    @Test func aDataDirectoryThatCannotBeMadeIsSaidPlainly() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        try Data("not a directory".utf8).write(to: root.appendingPathComponent("file"))
        let blocked = root.appendingPathComponent("file/data").path
        let result = try await Brig.run(["gateway", "--projects", projects.path, "--data", blocked, "--port", "0"])
        #expect(result.status == 1)
        #expect(result.stderr == "Error: cannot open the build store: cannot make the data directory \(blocked): Not a directory\n", "\(result.stderr)")
    }

    /// SIGHUP reads the projects again and stops nothing: a running build goes on to its end.
    /// (Before, the signal's default ended the gateway at once, leaving the build running.)
    @Test func aHangupReadsTheProjectsAgainAndStopsNothing() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: Self.slowProject(milliseconds: 1000))
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let id = try #require(try await gateway.post("/events/webhook/slow", Data("{}".utf8)).json["build"] as? String)
        #expect(kill(gateway.processIdentifier, SIGHUP) == 0)
        for _ in 0..<200 where !gateway.log.contains("SIGHUP: reading the projects again") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(gateway.log.contains("SIGHUP: reading the projects again"), "\(gateway.log)")
        let build = try await gateway.finishedBuild(id)
        #expect(build["status"] as? String == "Succeeded", "\(build)")
        #expect(try await gateway.get("/healthz").status == 200)
        await gateway.stop()
    }

    /// A build store SQLite cannot read stops the gateway with what to do about it, and the
    /// file is left byte for byte as it was: it may be the only copy of every build.
    @Test func aDamagedStoreStopsTheStartAndIsLeftAsItIs() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let file = data.appendingPathComponent("brigantine.sqlite")
        let damaged = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        try damaged.write(to: file)
        let result = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--host", "127.0.0.1", "--port", "0"],
                                        killAfter: .seconds(20))
        #expect(result.status == 1)
        #expect(result.stderr == "Error: cannot open the build store: \(file.path) is damaged (SQLite error 26: file is not a database). "
                    + "It is left as it is: copy what can still be read into a new file with the sqlite3 shell (.recover, or .dump), "
                    + "or move it and its -wal and -shm files aside to start on an empty store\n", "\(result.stderr)")
        #expect(try Data(contentsOf: file) == damaged)
    }

    /// A second gateway on a data directory in use stops at once and says which process has
    /// it, without touching the first one's builds: before, it took the first's running build
    /// for one a stopped gateway had left and ended it as Failed. Once the first is killed
    /// (`kill -9`: nothing cleans up), a gateway starts there again.
    @Test func aSecondGatewayOnTheSameDataDirectoryIsRefused() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: Self.slowProject(milliseconds: 1500))
        let first = try await GatewayProcess.start(projects: projects, data: data)
        let id = try #require(try await first.post("/events/webhook/slow", Data("{}".utf8)).json["build"] as? String)
        for _ in 0..<200 where try await first.get("/v1/build/\(id)").json["status"] as? String != "Running" {
            try await Task.sleep(for: .milliseconds(10))
        }
        let second = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--host", "127.0.0.1", "--port", "0"],
                                        killAfter: .seconds(20))
        #expect(second.status == 1)
        #expect(second.stderr == "Error: another gateway (process \(first.processIdentifier)) is using the data directory \(data.path); "
                    + "give each gateway its own --data (gateways that share builds do it through --store postgres://…)\n",
                "\(second.stderr)")
        let build = try await first.finishedBuild(id)
        #expect(build["status"] as? String == "Succeeded" && build["reason"] is NSNull, "\(build)")
        #expect(try await first.logLines(id).contains("slept"))

        await first.crash()
        let again = try await GatewayProcess.start(projects: projects, data: data)
        #expect(try await again.get("/v1/build/\(id)").json["status"] as? String == "Succeeded")
        await again.stop()
    }

    /// `--keep-days 30`: at start the gateway deletes the ended builds that came more than 30
    /// days ago (jobs and logs too) and keeps newer ones; `brig build prune` does the same.
    @Test func oldEndedBuildsAreDeletedWithKeepDays() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        var ids: [String] = []
        do {
            let store = try SQLiteBuildStore(directory: data)
            for age in [40.0, 35, 1] {
                var build = NewBuild(projectID: ProjectID.of("open"), projectName: "open", eventType: "image_push",
                                     provider: "dockerhub", payload: Data("{}".utf8))
                build.id = ULID.make(at: Date().addingTimeInterval(-age * 86_400))
                ids.append(try await store.create(build).id)
                _ = try await store.claimNextPending(busyProjects: [])
                try await store.finish(buildID: build.id, status: .succeeded, exitCode: 0, reason: nil,
                                       lastLines: [LogLine(.stdout, "ran")], jobs: [])
            }
        }
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--keep-days", "30"])
        for _ in 0..<200 {
            if gateway.log.contains("deleted 2 ended build(s)") { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(gateway.log.contains("deleted 2 ended build(s)"), "\(gateway.log)")
        for old in ids[0...1] { #expect(try await gateway.get("/v1/build/\(old)").status == 404) }
        #expect(try await gateway.get("/v1/build/\(ids[2])").json["status"] as? String == "Succeeded")
        #expect(try await gateway.get("/metrics").text.contains("brigantine_builds_deleted_total 2"))
        await gateway.stop()
        let pruned = try await Brig.run(["build", "prune", "--data", data.path, "--keep-days", "0.5"])
        #expect(pruned.status == 0 && pruned.stdout == "deleted 1 ended build older than 0.5 days\n", "\(pruned.stdout) \(pruned.stderr)")
    }

    /// `--tls-cert` and `--tls-key`: webhooks come over HTTPS (checked against the
    /// certificate by curl); plain HTTP gets no answer; a key that cannot be read stops the
    /// start with a reason.
    @Test func webhooksOverHTTPS() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let certificate = root.appendingPathComponent("cert.pem").path, key = root.appendingPathComponent("key.pem").path
        #expect(try await Self.tool("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").status == 0)
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--tls-cert", certificate, "--tls-key", key])
        let body = root.appendingPathComponent("body.json").path
        try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json")).write(to: URL(fileURLWithPath: body))
        let url = "https://127.0.0.1:\(gateway.port)/events/webhook/open"
        let posted = try await Self.tool("curl", "-sS", "--cacert", certificate, "-X", "POST", "--data-binary", "@\(body)", url)
        #expect(posted.status == 0 && posted.output.contains(#""status":"Success""#), "\(posted.output)")
        let plain = try await Self.tool("curl", "-sS", "--max-time", "5", "-X", "POST", "--data-binary", "@\(body)",
                                        "http://127.0.0.1:\(gateway.port)/events/webhook/open")
        #expect(plain.status != 0 && !plain.output.contains("Success"), "\(plain.output)")
        await gateway.stop()
        let unreadable = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--port", "0",
                                             "--tls-cert", certificate, "--tls-key", root.appendingPathComponent("missing.pem").path])
        #expect(unreadable.status == 1 && unreadable.stderr.contains("cannot serve HTTPS with \(certificate)"), "\(unreadable.stderr)")
        let half = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--tls-cert", certificate])
        #expect(half.status == 1 && half.stderr.contains("--tls-cert and --tls-key go together"))
    }

    /// A command's exit status and its stdout and stderr together.
    static func tool(_ arguments: String...) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = try await process.runCollectingOutput(mergingErrors: true).stdout
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// Waiting for a build's outcome: `GET /v1/build/<id>/wait` answers 202 while it runs and
    /// 200 once it has ended; `brig build wait` exits 0 for a success, 2 for a failure and 1
    /// when the build had not ended in time. Then lists by status, API and command line.
    @Test func waitingForABuildsOutcome() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: [
            "slow.js": """
                require('brigadier').events.on('image_push', (e) => new Promise((resolve, reject) =>
                  setTimeout(() => (JSON.parse(e.payload).fail ? reject(new Error('asked to fail')) : resolve()), 4000)));
                """,
            "slow.yaml": "name: slow\ndefaultScriptFile: slow.js\ninsecure: true\ngateways: [container-registry]\n",
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let passing = try #require(try await gateway.post("/events/webhook/slow", Data("{}".utf8)).json["build"] as? String)
        let failing = try #require(try await gateway.post("/events/webhook/slow", Data(#"{"fail":true}"#.utf8)).json["build"] as? String)
        let early = try await gateway.get("/v1/build/\(passing)/wait?timeout=0.2")
        #expect(early.status == 202 && ["Pending", "Running"].contains(early.json["status"] as? String ?? ""), "\(early.text)")
        let stillRunning = try await Brig.run(["build", "wait", passing, "--data", data.path, "--timeout", "0.2"])
        #expect(stillRunning.status == 1 && stillRunning.stderr.contains("had not ended after 0.2 s"), "\(stillRunning.stderr)")
        let ended = try await gateway.get("/v1/build/\(passing)/wait?timeout=20")
        #expect(ended.status == 200 && ended.json["status"] as? String == "Succeeded", "\(ended.text)")
        let succeeded = try await Brig.run(["build", "wait", passing, "--data", data.path])
        #expect(succeeded.status == 0 && succeeded.stdout == "\(passing): Succeeded\n", "\(succeeded.stdout)")
        let failed = try await Brig.run(["build", "wait", failing, "--data", data.path, "--timeout", "20"])
        #expect(failed.status == 2 && failed.stdout.hasPrefix("\(failing): Failed (unhandled rejection"), "\(failed.stdout)")
        #expect(try await gateway.get("/v1/build/nope/wait").status == 404)
        // Build lists by status.
        let failedOnes = try JSONSerialization.jsonObject(with: try await gateway.get("/v1/builds?status=failed").body) as? [[String: Any]]
        #expect(failedOnes?.map { $0["id"] as? String } == [failing])
        let slowOnes = try await gateway.get("/v1/project/slow/builds?status=Succeeded").body
        #expect((try JSONSerialization.jsonObject(with: slowOnes) as? [[String: Any]])?.map { $0["id"] as? String } == [passing])
        let badStatus = try await gateway.get("/v1/builds?status=done")
        #expect(badStatus.status == 400 && badStatus.text.contains("Pending, Running, Succeeded, Failed"), "\(badStatus.text)")
        let listed = try await Brig.run(["build", "list", "--data", data.path, "--status", "Failed"])
        #expect(listed.status == 0 && listed.stdoutLines.map { String($0.prefix { $0 != "\t" }) } == [failing], "\(listed.stdout)")
        let wrong = try await Brig.run(["build", "list", "--data", data.path, "--status", "done"])
        #expect(wrong.status == 1 && wrong.stderr.contains("--status must be one of"))
        await gateway.stop()
    }

    /// The request deadline stops once a request has been read: a followed log and a wait
    /// for a build's end stay open for as long as the build runs, past the deadline.
    @Test func answersThatTakeTimeOutliveTheRequestDeadline() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: Self.slowProject(milliseconds: 2000))
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--request-timeout", "0.5"])
        let id = try #require(try await gateway.post("/events/webhook/slow", Data("{}".utf8)).json["build"] as? String)
        async let followed = gateway.get("/v1/build/\(id)/logs?stream=true")
        async let waited = gateway.get("/v1/build/\(id)/wait?timeout=60")
        let (log, wait) = try await (followed, waited)
        #expect(log.status == 200 && log.text.contains("slept"), "\(log.status) \(log.text)")
        #expect(wait.status == 200 && wait.json["status"] as? String == "Succeeded", "\(wait.status) \(wait.text)")
        // Connections that send nothing are closed at the deadline too, but that is no
        // client's fault: the metric of clients let go leaves them out.
        let idle = try HeldConnections(port: gateway.port, count: 2)
        try await Task.sleep(for: .seconds(2))
        idle.close()
        #expect(!(try await gateway.get("/metrics").text.contains(#"why="request_timeout""#)))
    }

    /// SIGTERM while one client follows a running build's log and another waits for its end:
    /// both requests end (the wait with 202: not ended) and the build is stopped with the
    /// reason. The gateway used to wait for such requests and stop builds only after them,
    /// so the build ran to its end (its 40 s timer) and the wait answered 200.
    @Test func stoppingDoesNotWaitForClientsFollowingABuild() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: [
            "long.js": "require('brigadier').events.on('image_push', () => new Promise((resolve) => setTimeout(resolve, 40000)));",
            "long.yaml": "name: long\ndefaultScriptFile: long.js\ninsecure: true\ngateways: [container-registry]\n",
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let id = try #require(try await gateway.post("/events/webhook/long", Data("{}".utf8)).json["build"] as? String)
        for _ in 0..<200 {
            if try await gateway.get("/v1/build/\(id)").json["status"] as? String == "Running" { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        async let followed = gateway.get("/v1/build/\(id)/logs?stream=true")
        async let waited = gateway.get("/v1/build/\(id)/wait?timeout=60")
        try await Task.sleep(for: .milliseconds(500)) // both requests are in
        await gateway.stop()
        let (log, wait) = try await (followed, waited)
        #expect(log.status == 200 && wait.status == 202, "\(log.status) \(wait.status) \(wait.text)")
        let build = try #require(try await SQLiteBuildStore(directory: data).build(id: id))
        #expect(build.status == .failed && build.reason?.contains("the gateway is shutting down") == true, "\(build)")
    }

    @Test func refusals() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let body = Data(#"{"push_data":{"tag":"x"}}"#.utf8)
        // An unknown project and a wrong or missing secret are answered alike.
        let unknown = try await gateway.post("/events/webhook/acme/nobody?token=\(token)", body)
        let wrong = try await gateway.post("/events/webhook/acme/registry?token=0000", body)
        let missing = try await gateway.post("/events/webhook/acme/registry", body)
        let badHeader = try await gateway.post("/events/webhook/acme/registry", body, headers: ["Authorization": "Bearer nope"])
        let guessedToken = try await gateway.post("/events/webhook/\(String(repeating: "a", count: 64))", body)
        for answer in [unknown, wrong, missing, badHeader, guessedToken] {
            #expect(answer.status == 401 && answer.text == "{\"status\":\"unauthorized\"}\n")
        }
        // The right secret for a project whose registry gateway is off.
        let closedToken = WebhookSecrets.token(project: "acme/closed", secret: Self.webhookSecret)
        let closed = try await gateway.post("/events/webhook/\(closedToken)", body)
        #expect(closed.status == 403 && closed.text.contains("container-registry gateway is not enabled"))
        // A body one byte over 2 MiB.
        let huge = try await gateway.post("/events/webhook/\(token)", Data(repeating: 0x20, count: (2 << 20) + 1))
        #expect(huge.status == 413)
        #expect(try await gateway.get("/v1/builds").list?.isEmpty == true, "nothing was stored")
        #expect(try await gateway.get("/healthz").text == "OK")
        #expect(try await gateway.get("/readyz").text == "ready")
        #expect(try await gateway.get("/v1/build/nope").status == 404)
    }

    /// Registries that sign their bodies (GitHub and GHCR, Artifactory, Nexus, Flux's generic
    /// form) need no secret in the URL; a signature that does not match its body is refused.
    /// Pings are answered without a build.
    @Test func signedWebhooksAndPings() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // GitHub's documented example: this secret and body give this signature.
        let gitHubSecret = "It's a Secret to Everybody"
        try writeProjects(extra: [
            "github.yaml": "name: acme/github\ndefaultScriptFile: report.js\ngateways: [container-registry]\nwebhookSecret: \"\(gitHubSecret)\"\n",
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let documented = try await gateway.post("/events/webhook/acme/github", Data("Hello, World!".utf8), headers: [
            "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"])
        #expect(documented.status == 200, "\(documented.text)")

        func mac<H: HashFunction>(_: H.Type, _ body: Data, _ secret: String = Self.webhookSecret) -> String {
            Hex.encode(HMAC<H>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
        }
        let ghcr = try Data(contentsOf: Self.fixtures.appendingPathComponent("ghcr-registry_package.json"))
        let artifactory = try Data(contentsOf: Self.fixtures.appendingPathComponent("artifactory-docker-pushed.json"))
        let harbor = try Data(contentsOf: Self.fixtures.appendingPathComponent("harbor-push.json"))
        let signed: [(body: Data, headers: [String: String])] = [
            (ghcr, ["X-Hub-Signature-256": "sha256=" + mac(SHA256.self, ghcr), "X-GitHub-Event": "registry_package",
                    "X-Hub-Signature": "sha1=" + mac(Insecure.SHA1.self, ghcr)]),
            (ghcr, ["X-Hub-Signature": "sha1=" + mac(Insecure.SHA1.self, ghcr).uppercased()]),
            (artifactory, ["X-JFrog-Event-Auth": mac(SHA256.self, artifactory)]),
            (harbor, ["X-Nexus-Webhook-Signature": mac(Insecure.SHA1.self, harbor)]),
            (harbor, ["X-Signature": "sha512=" + mac(SHA512.self, harbor)]),
        ]
        var built = [documented.json["build"] as? String]
        for (body, headers) in signed {
            let answer = try await gateway.post("/events/webhook/acme/registry", body, headers: headers)
            #expect(answer.status == 200, "\(headers.keys.sorted()): \(answer.text)")
            let id = try #require(answer.json["build"] as? String)
            #expect(try await report(gateway, build: id)["payload"] as? String == String(decoding: body, as: UTF8.self))
            built.append(id)
        }

        let otherSecret = mac(SHA256.self, ghcr, "another secret")
        let refused: [(path: String, body: Data, headers: [String: String])] = [
            ("/events/webhook/acme/registry", ghcr, ["X-Hub-Signature-256": "sha256=" + otherSecret]),
            ("/events/webhook/acme/registry", ghcr + Data(" ".utf8), ["X-Hub-Signature-256": "sha256=" + mac(SHA256.self, ghcr)]),
            // A right token does not excuse a wrong signature: the body is not the one signed.
            ("/events/webhook/\(token)", ghcr, ["X-Hub-Signature-256": "sha256=" + otherSecret]),
            ("/events/webhook/acme/registry", ghcr, ["X-Hub-Signature-256": "sha256=zz" + mac(SHA256.self, ghcr).dropFirst(2),
                                                     "Authorization": "Bearer \(Self.webhookSecret)"]),
            ("/events/webhook/acme/registry", harbor, ["X-Signature": mac(SHA256.self, harbor)]), // no algorithm named
            ("/events/webhook/acme/registry", harbor, ["X-Signature": "md5=" + mac(SHA256.self, harbor)]),
            ("/events/webhook/acme/registry", harbor, ["X-JFrog-Event-Auth": "sha1=" + mac(Insecure.SHA1.self, harbor)]),
            ("/events/webhook/acme/registry", harbor, ["X-Hub-Signature-256": "sha256="]),
            ("/events/webhook/acme/nobody", ghcr, ["X-Hub-Signature-256": "sha256=" + mac(SHA256.self, ghcr)]),
            // An insecure project has no secret to check a signature with.
            ("/events/webhook/open", ghcr, ["X-Hub-Signature-256": "sha256=" + mac(SHA256.self, ghcr)]),
        ]
        for (path, body, headers) in refused {
            let answer = try await gateway.post(path, body, headers: headers)
            #expect(answer.status == 401 && answer.text == "{\"status\":\"unauthorized\"}\n", "\(path) \(headers): \(answer.text)")
        }
        // The right signature for a project whose registry gateway is off.
        let closed = try await gateway.post("/events/webhook/acme/closed", harbor,
                                            headers: ["X-Hub-Signature-256": "sha256=" + mac(SHA256.self, harbor)])
        #expect(closed.status == 403)

        // Pings: GitHub's, signed; ACR's, with its custom Authorization header; both need the secret.
        let gitHubPing = Data(#"{"zen":"Design for failure.","hook_id":42}"#.utf8)
        let pings = [
            try await gateway.post("/events/webhook/acme/registry", gitHubPing, headers: [
                "X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + mac(SHA256.self, gitHubPing)]),
            try await gateway.post("/events/webhook/acme/registry", Data(#"{"action": "ping"}"#.utf8),
                                   headers: ["Authorization": Self.webhookSecret]),
        ]
        for answer in pings {
            #expect(answer.status == 200 && answer.json["ping"] as? Bool == true && answer.json["build"] == nil, "\(answer.text)")
        }
        let unsignedPing = try await gateway.post("/events/webhook/acme/registry", gitHubPing, headers: ["X-GitHub-Event": "ping"])
        #expect(unsignedPing.status == 401)

        let stored = try #require(try await gateway.get("/v1/builds?limit=100").list).compactMap { $0["id"] as? String }
        #expect(Set(stored) == Set(built.compactMap { $0 }) && stored.count == built.count, "only the accepted pushes made builds")
        #expect(!gateway.log.contains(Self.webhookSecret) && !gateway.log.contains(gitHubSecret))
    }

    @Test func genericGateway() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let id = ProjectID.of("acme/registry")
        let simple = try Data(contentsOf: Self.fixtures.appendingPathComponent("brigade-v1-generic-gateway-simpleevent.json"))
        let simpleAnswer = try await gateway.post("/simpleevents/v1/\(id)/\(Self.genericSecret)", simple)
        #expect(simpleAnswer.status == 200 && simpleAnswer.json["status"] as? String == "Success. Build created")
        let simpleReport = try await report(gateway, build: try #require(simpleAnswer.json["build"] as? String))
        #expect(simpleReport["type"] as? String == "simpleevent" && simpleReport["provider"] as? String == "GenericWebhook")
        #expect(simpleReport["payload"] as? String == String(decoding: simple, as: UTF8.self))

        let cloud = try Data(contentsOf: Self.fixtures.appendingPathComponent("brigade-v1-generic-gateway-cloudevent-v0.2.json"))
        let cloudByID = try await gateway.post("/cloudevents/v02/\(id)/\(Self.genericSecret)", cloud)
        #expect(cloudByID.status == 200 && cloudByID.json["status"] as? String == "Success")
        let cloudReport = try await report(gateway, build: try #require(cloudByID.json["build"] as? String))
        #expect(cloudReport["type"] as? String == "cloudevent")

        // Brigade crashed on a CloudEvent whose data is not an object; here it is a build like any other.
        let odd = Data(#"{"specversion":"0.2","type":"x","source":"/src","id":"1","data":"just a string"}"#.utf8)
        let oddAnswer = try await gateway.post("/cloudevents/v02/\(id)/\(Self.genericSecret)", odd)
        #expect(oddAnswer.status == 200)
        let oddReport = try await report(gateway, build: try #require(oddAnswer.json["build"] as? String))
        #expect(oddReport["revision"] as? [String: String] == ["commit": "", "ref": "master"])

        let invalid: [(String, String, String)] = [
            ("simpleevents/v1", "[]", "Malformed POST data - Invalid JSON"),
            ("simpleevents/v1", #"{"commit":5}"#, "Malformed POST data - Invalid JSON"),
            ("simpleevents/v1", " ", "Malformed POST data - Invalid JSON"),
            ("cloudevents/v02", "null", "Malformed POST data - Invalid JSON"),
            ("cloudevents/v02", #"{"specversion":0.2,"type":"x","source":"/s","id":"1"}"#, "CloudEvent should have non empty type, specversion, source, id"),
            ("cloudevents/v02", #"{"specversion":"0.2","type":"x","source":"rel","id":"1"}"#, "CloudEvent should have non empty type, specversion, source, id"),
            ("cloudevents/v02", #"{"specversion":"0.3","type":"x","source":"/s","id":"1"}"#, "Brigade supports only '0.2' as CloudEvent specversion"),
        ]
        for (route, body, message) in invalid {
            let answer = try await gateway.post("/\(route)/\(id)/\(Self.genericSecret)", Data(body.utf8))
            #expect(answer.status == 400 && answer.json["status"] as? String == message, "\(route) \(body): \(answer.text)")
        }
        // A revision no git name is as long as: refused, where Brigade stored it and listed it with the build.
        let before = try #require(try await gateway.get("/v1/builds").list).count
        let long = String(repeating: "r", count: 1025)
        let tooLong = [
            try await gateway.post("/simpleevents/v1/\(id)/\(Self.genericSecret)", Data(#"{"ref":"\#(long)"}"#.utf8)),
            try await gateway.post("/cloudevents/v02/\(id)/\(Self.genericSecret)",
                                   Data(#"{"specversion":"0.2","type":"x","source":"/s","id":"2","data":{"commit":"\#(long)"}}"#.utf8)),
            try await gateway.post("/events/webhook/\(token)?commit=\(long)", simple),
        ]
        for (answer, name) in zip(tooLong, ["ref", "commit", "ref"]) {
            #expect(answer.status == 400 && answer.json["status"] as? String
                    == "the revision's \(name) is 1025 bytes long; at most 1024 are taken (a git commit or ref)", "\(answer.text)")
        }
        #expect(try #require(try await gateway.get("/v1/builds").list).count == before, "nothing stored")
        let longest = try await gateway.post("/simpleevents/v1/\(id)/\(Self.genericSecret)", Data(#"{"ref":"\#(long.dropLast())"}"#.utf8))
        #expect(longest.status == 200)
        let wrongSecret = try await gateway.post("/simpleevents/v1/\(id)/WrongSecret", simple)
        #expect(wrongSecret.status == 401 && !gateway.log.contains("WrongSecret") && !gateway.log.contains(Self.genericSecret))
        #expect(try await gateway.get("/healthz").status == 200, "still serving")
    }

    @Test func simultaneousWebhooksForOneProject() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2", "--per-project", "2"])
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json"))
        let path = "/events/webhook/\(token)"
        let ids = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<24 {
                group.addTask { try await gateway.post(path, body).json["build"] as? String }
            }
            var ids: [String] = []
            for try await id in group { if let id { ids.append(id) } }
            return ids
        }
        #expect(Set(ids).count == 24)
        for id in ids {
            #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
        }
        let listed = try await gateway.get("/v1/project/\(ProjectID.of("acme/registry"))/builds?limit=100")
        #expect((try JSONSerialization.jsonObject(with: listed.body) as? [Any])?.count == 24)
    }

    @Test func restartRunsPendingBuildsAndRecordsInterruptedOnes() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let slow = """
            const { events, Job } = require('brigadier');
            events.on('image_push', () => new Job('slow', 'alpine', ['sleep 30']).run());
            """
        try writeProjects(extra: [
            "slow.js": slow,
            "slow.yaml": "name: slow\ndefaultScriptFile: slow.js\ninsecure: true\ngateways: [container-registry]\n",
        ])
        var gateway: GatewayProcess? = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--max-builds", "1"])
        let body = Data(#"{"push_data":{"tag":"t"}}"#.utf8)
        let running = try #require(try await gateway!.post("/events/webhook/slow", body).json["build"] as? String)
        // Wait until it runs, then queue more behind it (one build at a time: they stay pending).
        for _ in 0..<200 {
            guard try await gateway!.get("/v1/build/\(running)").json["status"] as? String != "Running" else { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        var pending: [String] = []
        for _ in 0..<3 {
            pending.append(try #require(try await gateway!.post("/events/webhook/\(token)", body).json["build"] as? String))
        }
        await gateway!.crash()
        gateway = nil

        // Once more, this time with a project that asks for interrupted builds to run again.
        let restarted = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        let interrupted = try await restarted.finishedBuild(running)
        #expect(interrupted["status"] as? String == "Failed")
        #expect(interrupted["reason"] as? String == "the gateway stopped while this build was running")
        for id in pending {
            #expect(try await restarted.finishedBuild(id)["status"] as? String == "Succeeded")
        }
        #expect(restarted.log.contains("left running by a gateway that stopped"))
        await restarted.crash()

        // A project that asks for interrupted builds to run again: its first run is killed
        // with the gateway; the second finds the marker the first left and ends at once.
        let marker = root.appendingPathComponent("first-run-was-here").path
        try """
            const { events, Job } = require('brigadier');
            events.on('image_push', () => new Job('once', 'alpine', ['if [ -e \(marker) ]; then echo second run; else touch \(marker); sleep 30; fi']).run());
            """.write(to: projects.appendingPathComponent("rerun.js"), atomically: true, encoding: .utf8)
        try "name: rerun\ndefaultScriptFile: rerun.js\ninsecure: true\ngateways: [container-registry]\nrerunInterrupted: true\n"
            .write(to: projects.appendingPathComponent("rerun.yaml"), atomically: true, encoding: .utf8)
        let rerunData = root.appendingPathComponent("data-rerun")
        var first: GatewayProcess? = try await GatewayProcess.start(projects: projects, data: rerunData)
        let rerun = try #require(try await first!.post("/events/webhook/rerun", body).json["build"] as? String)
        for _ in 0..<400 {
            guard !FileManager.default.fileExists(atPath: marker) else { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        await first!.crash()
        first = nil
        let second = try await GatewayProcess.start(projects: projects, data: rerunData)
        let again = try await second.finishedBuild(rerun)
        #expect(again["status"] as? String == "Succeeded" && again["attempts"] as? Int == 2)
        #expect(try await second.logLines(rerun).contains { $0.contains("second run") } == false, "job output is in the job's log")
        #expect(try await second.get("/v1/job/once-\(rerun)/logs").text == "second run\n")
        await second.stop()
    }

    /// On an IPv6 address the printed URLs put it in brackets, as URLs must.
    @Test func printedURLsOfAnIPv6Address() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let result = try await Brig.run(["gateway", "--projects", projects.path, "--data", data.path, "--host", "::1", "--port", "0",
                                         "--print-urls"], killAfter: .seconds(5))
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("brig gateway listening on http://[::1]:") == true, "\(result.stdout)")
        let command = try #require(lines.first { $0.hasPrefix("acme/registry: curl ") })
        #expect(command.contains(" http://[::1]:") && command.hasSuffix("/events/webhook/\(token)"), "\(command)")
    }

    @Test func printedURLsProjectAndBuildCommands() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--print-urls"])
        let command = try #require(gateway.log.split(separator: "\n").first { $0.hasPrefix("acme/registry: curl ") })
        #expect(command == "acme/registry: curl -X POST --data-binary @samples/dockerhub/payload.json http://127.0.0.1:\(gateway.port)/events/webhook/\(token)")
        let build = try #require(try await gateway.post("/events/webhook/\(token)", Data("{}".utf8)).json["build"] as? String)
        _ = try await gateway.finishedBuild(build)

        let list = try await Brig.run(["build", "list", "--data", data.path])
        #expect(list.status == 0 && list.stdout.hasPrefix("\(build)\tacme/registry\timage_push\tSucceeded"))
        let none = try await Brig.run(["build", "list", "--limit", "0", "--data", data.path])
        #expect(none.status != 0 && none.stderr.contains("--limit must be 1 or more"), "\(none.stderr)")
        let get = try await Brig.run(["build", "get", build, "--data", data.path])
        #expect(get.stdout.contains("status: Succeeded, exit code 0"))
        let logs = try await Brig.run(["build", "logs", build, "--data", data.path, "--follow"])
        #expect(logs.stdout.contains("REPORT {"))
        #expect(try await Brig.run(["build", "get", "nope", "--data", data.path]).stderr == "Error: no build nope\n")

        // -o json: the API's objects, for scripts.
        func object(_ text: String) -> NSDictionary? {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary
        }
        let getJSON = try await Brig.run(["build", "get", build, "--data", data.path, "-o", "json"])
        let shownBuild = try #require(object(getJSON.stdout)?.mutableCopy() as? NSMutableDictionary, "\(getJSON.stdout)")
        let apiJobs = try await gateway.get("/v1/build/\(build)/jobs").list
        #expect((shownBuild["jobs"] as? [Any])?.count == apiJobs?.count)
        shownBuild["jobs"] = nil
        #expect(shownBuild == object(try await gateway.get("/v1/build/\(build)").text), "the same object as the API's")
        let listJSON = try await Brig.run(["build", "list", "--data", data.path, "--output", "json"])
        let listed = try #require((try? JSONSerialization.jsonObject(with: Data(listJSON.stdout.utf8))) as? [[String: Any]])
        #expect(listed.first?["id"] as? String == build && listed.first?["status"] as? String == "Succeeded")
        let projectJSON = try await Brig.run(["project", "get", "acme/registry", "--projects", projects.path, "-o", "json"])
        #expect(object(projectJSON.stdout) == object(try await gateway.get("/v1/project/\(ProjectID.of("acme/registry"))").text) && !projectJSON.stdout.contains(Self.webhookSecret))
        let projectsJSON = try await Brig.run(["project", "list", "--projects", projects.path, "-o", "json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(projectsJSON.stdout.utf8))) as? [[String: Any]])?.contains { $0["name"] as? String == "acme/registry" } == true)
        #expect(try await Brig.run(["build", "list", "--data", data.path, "-o", "yaml"]).stderr.contains("'yaml'"))

        let projectList = try await Brig.run(["project", "list", "--projects", projects.path])
        #expect(projectList.stdoutLines.contains("acme/registry\t\(ProjectID.of("acme/registry"))\tcontainer-registry,generic"))
        let shown = try await Brig.run(["project", "get", "acme/registry", "--projects", projects.path])
        #expect(shown.stdout.contains("webhookSecret: REDACTED") && !shown.stdout.contains(Self.webhookSecret))
        #expect(shown.stdoutLines.contains("registries: {}"))
        #expect(shown.stdoutLines.contains("maxConcurrentBuilds: the gateway's --per-project") && shown.stdoutLines.contains("deduplicate: false"))
        #expect(shown.stdoutLines.contains("rateLimit: none"))
        let api = try await gateway.get("/v1/project/\(ProjectID.of("acme/registry"))").json
        #expect(api["maxConcurrentBuilds"] is NSNull && api["deduplicate"] as? Bool == false && api["allowHostMounts"] as? Bool == false, "\(api)")
        #expect(api["rateLimit"] is NSNull)
        let urls = try await Brig.run(["project", "url", "acme/registry", "--projects", projects.path, "--base", "https://ci.example.com/"])
        #expect(urls.stdoutLines.contains("  https://ci.example.com/events/webhook/\(token)"))
        let signedAdvice = try #require(urls.stdoutLines.firstIndex { $0.hasPrefix("GitHub and GHCR, Artifactory, Nexus") })
        #expect(urls.stdoutLines[signedAdvice + 1] == "  https://ci.example.com/events/webhook/acme/registry")
        #expect(urls.stdoutLines.contains("  SimpleEvent  https://ci.example.com/simpleevents/v1/\(ProjectID.of("acme/registry"))/\(Self.genericSecret)"))
        let off = try await Brig.run(["project", "url", "acme/closed", "--projects", projects.path])
        #expect(off.status == 1 && off.stderr == "Error: project acme/closed has no gateway turned on (set gateways: in its file)\n")
    }

    /// `brig project create` writes a project the running gateway then serves at the URLs it
    /// printed, with new secrets in files of the owner's alone that the project file only names.
    @Test func aCreatedProjectIsServedAtTheURLsItPrints() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let created = try await Brig.run(["project", "create", "acme/made", "--projects", projects.path,
                                          "--script", "samples/dockerhub/brigade.js", "--gateway", "container-registry",
                                          "--gateway", "generic", "--base", "http://127.0.0.1:\(gateway.port)"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdoutLines.first == "created \(projects.path)/acme-made.yaml (its secrets are in \(projects.path)/secrets/, keep them out of git)")

        let secrets = projects.appendingPathComponent("secrets")
        let webhookSecret = try String(contentsOf: secrets.appendingPathComponent("acme-made.webhook-secret"), encoding: .utf8)
        let genericSecret = try String(contentsOf: secrets.appendingPathComponent("acme-made.generic-secret"), encoding: .utf8)
        for secret in [webhookSecret, genericSecret] {
            #expect(secret.count == 64 && secret.allSatisfy(\.isHexDigit), "\(secret.count) characters")
        }
        #expect(webhookSecret != genericSecret)
        let permissions = { (url: URL) in (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? -1 }
        #expect(try permissions(secrets) == 0o700)
        #expect(try permissions(secrets.appendingPathComponent("acme-made.webhook-secret")) == 0o600)
        let file = try String(contentsOf: projects.appendingPathComponent("acme-made.yaml"), encoding: .utf8)
        #expect(!file.contains(webhookSecret) && !file.contains(genericSecret), "the project file names the secrets' files only")
        #expect(created.stdoutLines.contains("  SimpleEvent  http://127.0.0.1:\(gateway.port)/simpleevents/v1/\(ProjectID.of("acme/made"))/\(genericSecret)"))

        // The Docker Hub URL it printed (the token is derived from the secret) reaches the project.
        let heading = try #require(created.stdoutLines.firstIndex { $0.hasPrefix("Docker Hub, Quay") })
        let url = try #require(URL(string: created.stdoutLines[heading + 1].trimmingCharacters(in: .whitespaces)))
        #expect(url.path == "/events/webhook/\(WebhookSecrets.token(project: "acme/made", secret: webhookSecret))")
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json"))
        var answer = try await gateway.post(url.path, body)
        for _ in 0..<100 where answer.status != 200 { // until the gateway has read the new file
            try await Task.sleep(for: .milliseconds(100))
            answer = try await gateway.post(url.path, body)
        }
        let build = try #require(answer.json["build"] as? String, "\(answer.status) \(answer.text)")
        #expect(try await gateway.finishedBuild(build)["status"] as? String == "Succeeded")
        #expect(try await gateway.logLines(build).contains("test-image: 2 checks passed"))

        // Nothing is overwritten, and a project needs a script.
        let again = try await Brig.run(["project", "create", "acme/made", "--projects", projects.path, "--script", "samples/dockerhub/brigade.js"])
        #expect(again.status == 1 && again.stderr == "Error: \(projects.path)/acme-made.yaml exists already; edit it, or pick another name\n")
        try FileManager.default.removeItem(at: projects.appendingPathComponent("acme-made.yaml"))
        let orphan = try await Brig.run(["project", "create", "acme/made", "--projects", projects.path, "--script", "samples/dockerhub/brigade.js"])
        #expect(orphan.status == 1 && orphan.stderr.contains("acme-made.webhook-secret exists already (another project file may name it"), "\(orphan.stderr)")
        #expect(!FileManager.default.fileExists(atPath: projects.appendingPathComponent("acme-made.yaml").path))
        #expect(try String(contentsOf: secrets.appendingPathComponent("acme-made.webhook-secret"), encoding: .utf8) == webhookSecret)
        let scriptless = try await Brig.run(["project", "create", "acme/bare", "--projects", projects.path])
        #expect(scriptless.status != 0 && scriptless.stderr.contains("give the project a script: --script FILE"), "\(scriptless.stderr)")
        #expect(!FileManager.default.fileExists(atPath: projects.appendingPathComponent("acme-bare.yaml").path))
        await gateway.stop()
    }

    /// `brig project delete` removes the file and the secrets of the project's own; the
    /// gateway stops serving it without a restart, and a secret another project reads stays.
    @Test func aDeletedProjectIsNoLongerServed() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let created = try await Brig.run(["project", "create", "acme/gone", "--projects", projects.path, "--script", "samples/dockerhub/brigade.js",
                                          "--gateway", "container-registry", "--gateway", "generic"])
        #expect(created.status == 0, "\(created.stderr)")
        let secrets = projects.appendingPathComponent("secrets")
        try "name: acme/shares\ndefaultScript: ''\ngateways: [generic]\ngenericGatewaySecret: {fromFile: secrets/acme-gone.generic-secret}\n"
            .write(to: projects.appendingPathComponent("shares.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let webhookSecret = try String(contentsOf: secrets.appendingPathComponent("acme-gone.webhook-secret"), encoding: .utf8)
        let path = "/events/webhook/\(WebhookSecrets.token(project: "acme/gone", secret: webhookSecret))"
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("dockerhub-push.json"))
        #expect(try await gateway.post(path, body).status == 200)

        let deleted = try await Brig.run(["project", "delete", "acme/gone", "--projects", projects.path])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(Array(deleted.stdoutLines.prefix(2)) == ["removed \(projects.path)/acme-gone.yaml",
                                                          "removed \(projects.path)/secrets/acme-gone.webhook-secret"], "\(deleted.stdout)")
        #expect(!FileManager.default.fileExists(atPath: secrets.appendingPathComponent("acme-gone.webhook-secret").path))
        #expect(FileManager.default.fileExists(atPath: secrets.appendingPathComponent("acme-gone.generic-secret").path),
                "acme/shares reads it too")
        var status = 200
        for _ in 0..<100 where status == 200 { // until the gateway has looked at the directory again
            try await Task.sleep(for: .milliseconds(100))
            status = try await gateway.post(path, body).status
        }
        #expect(status == 401)
        let shares = try await Brig.run(["project", "get", "acme/shares", "--projects", projects.path])
        #expect(shares.status == 0, "the other project still loads: \(shares.stderr)")
        let again = try await Brig.run(["project", "delete", "acme/gone", "--projects", projects.path])
        #expect(again.status == 1 && again.stderr.hasPrefix("Error: could not find the project \"acme/gone\""), "\(again.stderr)")
        await gateway.stop()
    }

    /// The files a project reads at loading are watched like the project files: a secret
    /// rewritten in place (same size, same inode), one swapped through a symlink as Kubernetes
    /// does, and a config changed each take effect at the next look, without a restart.
    @Test func aRotatedSecretFileTakesEffect() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let mounted = root.appendingPathComponent("mounted") // outside the projects directory
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: mounted.appendingPathComponent("v1"), withIntermediateDirectories: true)
        try "secret-value-0001\n".write(to: mounted.appendingPathComponent("v1/webhook"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: mounted.appendingPathComponent("webhook").path, withDestinationPath: "v1/webhook")
        try #"{"dependencies": {}}"#.write(to: mounted.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try """
            name: acme/rotated
            defaultScript: ''
            gateways: [container-registry]
            webhookSecret: {fromFile: ../mounted/webhook}
            defaultConfigFile: ../mounted/config.json
            """.write(to: projects.appendingPathComponent("rotated.yaml"), atomically: true, encoding: .utf8)
        let changes = Mutex<[String]>([])
        let registry = try ProjectRegistry(directory: projects.path, onChange: { change in changes.withLock { $0.append(change) } })
        let secret = { registry.project(named: "acme/rotated")?.webhookSecret }
        #expect(secret() == "secret-value-0001")
        #expect(!registry.reloadIfChanged(), "nothing changed")

        try await Task.sleep(for: .milliseconds(20)) // past the file system's clock tick
        let handle = try FileHandle(forWritingTo: mounted.appendingPathComponent("v1/webhook"))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data("secret-value-0002\n".utf8))
        try handle.close()
        #expect(registry.reloadIfChanged(), "rewritten in place")
        #expect(secret() == "secret-value-0002")

        try FileManager.default.createDirectory(at: mounted.appendingPathComponent("v2"), withIntermediateDirectories: true)
        try "secret-value-0003\n".write(to: mounted.appendingPathComponent("v2/webhook"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: mounted.appendingPathComponent("next").path, withDestinationPath: "v2/webhook")
        #expect(rename(mounted.appendingPathComponent("next").path, mounted.appendingPathComponent("webhook").path) == 0)
        #expect(registry.reloadIfChanged(), "swapped through its symlink")
        #expect(secret() == "secret-value-0003")

        try #"{"dependencies": {"left-pad": "1.3.0"}}"#.write(to: mounted.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        #expect(registry.reloadIfChanged(), "the config changed")
        #expect(registry.project(named: "acme/rotated")?.defaultConfig?.contains("left-pad") == true)
        #expect(!registry.reloadIfChanged(), "and then nothing more")
        #expect(changes.withLock { $0 } == Array(repeating: "projects read again: changed acme/rotated", count: 3))

        try "name: acme/new\ndefaultScript: ''\n".write(to: projects.appendingPathComponent("new.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: projects.appendingPathComponent("rotated.yaml"))
        #expect(registry.reloadIfChanged())
        #expect(changes.withLock { $0.last } == "projects read again: added acme/new; removed acme/rotated")
    }

    /// A project that does not load because a file it names is missing (a secret not yet
    /// mounted, a script not yet written) is served once the file is there, without touching
    /// the project file: those files are watched too. Before, it stayed skipped until the
    /// project file itself changed or the gateway restarted.
    @Test func aProjectWaitingForAMissingFileIsServedOnceItIsThere() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        let secretFile = root.appendingPathComponent("mounted/webhook")
        try """
            name: acme/waiting
            defaultScriptFile: waiting.js
            gateways: [container-registry]
            webhookSecret: {fromFile: ../mounted/webhook}
            """.write(to: projects.appendingPathComponent("waiting.yaml"), atomically: true, encoding: .utf8)
        let problems = Mutex<[String]>([]), changes = Mutex<[String]>([])
        let registry = try ProjectRegistry(directory: projects.path, onProblem: { problem in problems.withLock { $0.append(problem) } },
                                           onChange: { change in changes.withLock { $0.append(change) } })
        #expect(registry.project(named: "acme/waiting") == nil)
        #expect(problems.withLock { $0 } == ["project file not served as it is: \(projects.path)/waiting.yaml: 'webhookSecret': \(secretFile.path) cannot be read: No such file or directory (the file is skipped)"])
        #expect(!registry.reloadIfChanged(), "nothing changed")

        try FileManager.default.createDirectory(at: secretFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "secret-value-0001\n".write(to: secretFile, atomically: true, encoding: .utf8)
        #expect(registry.reloadIfChanged(), "the secret file came")
        #expect(registry.project(named: "acme/waiting") == nil, "the script is missing still")
        #expect(problems.withLock { $0.last } == "project file not served as it is: \(projects.path)/waiting.yaml: 'defaultScriptFile' \(projects.path)/waiting.js does not exist (the file is skipped)")

        try "".write(to: projects.appendingPathComponent("waiting.js"), atomically: true, encoding: .utf8)
        #expect(registry.reloadIfChanged(), "the script came")
        #expect(registry.project(named: "acme/waiting")?.webhookSecret == "secret-value-0001")
        #expect(changes.withLock { $0 } == ["projects read again: added acme/waiting"])
    }

    @Test func projectsAreReloadedWhenTheirFilesChange() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects()
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let body = Data("{}".utf8)
        #expect(try await gateway.post("/events/webhook/late", body).status == 401)
        try "name: late\ndefaultScriptFile: report.js\ninsecure: true\ngateways: [container-registry]\n"
            .write(to: projects.appendingPathComponent("late.yaml"), atomically: true, encoding: .utf8)
        var status = 0
        for _ in 0..<100 {
            guard status != 200 else { break }
            try await Task.sleep(for: .milliseconds(100))
            status = try await gateway.post("/events/webhook/late", body).status
        }
        #expect(status == 200, "the new project was picked up")
        // A new file that does not load is skipped, and a file that stops loading keeps its
        // previous version; each says why, and the other files' changes still take effect.
        try "name: [broken".write(to: projects.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try "name: late\ninsecure: maybe\n".write(to: projects.appendingPathComponent("late.yaml"), atomically: true, encoding: .utf8)
        try "name: later\ndefaultScriptFile: report.js\ninsecure: true\ngateways: [container-registry]\n"
            .write(to: projects.appendingPathComponent("later.yaml"), atomically: true, encoding: .utf8)
        for _ in 0..<100 {
            guard try await gateway.post("/events/webhook/later", body).status != 200 else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await gateway.post("/events/webhook/later", body).status == 200)
        #expect(try await gateway.post("/events/webhook/late", body).status == 200, "late.yaml's previous version")
        let problems = gateway.log.split(separator: "\n").filter { $0.contains("project file not served as it is") }
        #expect(problems.contains { $0.contains("broken.yaml: is not valid YAML") && $0.hasSuffix("(the file is skipped)") }, "\(problems)")
        #expect(problems.contains { $0.contains("late.yaml") && $0.hasSuffix("(its previous version is kept)") }, "\(problems)")
        #expect(!gateway.log.contains("projects not reloaded"))
    }

    /// A project file that does not load at start is skipped, saying why; the rest are served.
    @Test func aBrokenProjectFileDoesNotStopTheOthers() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProjects(extra: ["missing-secret.yaml": "name: acme/missing\nsecrets: {TOKEN: {fromEnv: BRIGANTINE_TEST_UNSET_VARIABLE}}\n"])
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        #expect(try await gateway.post("/events/webhook/open", Data("{}".utf8)).status == 200)
        #expect(gateway.log.contains("missing-secret.yaml: secret 'TOKEN': the environment variable BRIGANTINE_TEST_UNSET_VARIABLE is not set (the file is skipped)"),
                "\(gateway.log)")
        #expect(try await gateway.get("/v1/projects").list?.count == 3)
        // `brig project list` lists the rest and fails, as a check before a gateway is given the directory.
        let list = try await Brig.run(["project", "list", "--projects", projects.path])
        #expect(list.status == 1 && list.stdoutLines.count == 3 && list.stderr.contains("missing-secret.yaml: secret 'TOKEN'"), "\(list)")
        let get = try await Brig.run(["project", "get", "acme/missing", "--projects", projects.path])
        #expect(get.status == 1 && get.stderr.hasSuffix("(files that do not load: missing-secret.yaml)\n"), "\(get.stderr)")
        #expect(try await Brig.run(["project", "get", "open", "--projects", projects.path]).status == 0)
    }
}
