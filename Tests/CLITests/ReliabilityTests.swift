import BrigantineCore
import Crypto
import Foundation
import Gateway
import Testing

/// The reliability suite: crashes, hostile traffic, hostile scripts and secrets, against
/// the real `brig gateway`. Bounded to a few minutes in all.
@Suite(.serialized) struct ReliabilityTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("reliability-\(UUID().uuidString)")
    var projects: URL { root.appendingPathComponent("projects") }
    var data: URL { root.appendingPathComponent("data") }

    func writeProject(_ name: String, file: String, script: String, extra: String = "") throws {
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try script.write(to: projects.appendingPathComponent("\(file).js"), atomically: true, encoding: .utf8)
        try "name: \(name)\ndefaultScriptFile: \(file).js\ninsecure: true\ngateways: [container-registry]\n\(extra)"
            .write(to: projects.appendingPathComponent("\(file).yaml"), atomically: true, encoding: .utf8)
    }

    static let pushHandler = """
        const { events, Job } = require('brigadier');
        events.on('image_push', async (e) => {
          const hook = JSON.parse(e.payload);
          await new Job('test', 'alpine', ['echo ' + hook.push_data.tag]).run();
        });
        """

    /// Every webhook that got a 200 has a build, and every build ends with a status and,
    /// when it failed, a reason — across a kill -9 in the middle of the traffic.
    @Test func acknowledgedWebhooksSurviveACrash() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("durable", file: "durable", script: Self.pushHandler, extra: "runner: simulate\n")
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        let acknowledged = AcknowledgedBuilds()
        let sender = acknowledged.post(400, to: "/events/webhook/durable", body: body) { _ in gateway }
        // Crash once a good part of the traffic was acknowledged, while the rest is in flight.
        try await acknowledged.wait(for: 150)
        await gateway.crash()
        await sender.value
        let ids = await acknowledged.ids
        #expect(ids.count >= 150, "enough traffic was acknowledged before the crash")
        print("crash: \(ids.count) of 400 webhooks acknowledged before kill -9")

        let restarted = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        for id in ids {
            let build = try await restarted.finishedBuild(id, within: 60)
            #expect(Self.hasEnded(build), "\(build)")
        }
        // Nothing at all stays pending or running, acknowledged or not (some were stored
        // but their answer was lost with the process).
        let all = try await allEnded(restarted)
        #expect(all.count >= ids.count)
        #expect(all.allSatisfy(Self.hasEnded))
        #expect(Set(ids).isSubset(of: Set(all.compactMap { $0["id"] as? String })))
        print("after the restart: \(all.count) builds stored, every one ended")
    }

    /// 20,000 requests of every malformed kind, from a seeded generator: the gateway never
    /// answers 5xx, never stops, and serves a good webhook afterwards.
    @Test func malformedTrafficNeverBreaksTheGateway() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("open", file: "open", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "1"])
        let port = gateway.port
        let seed: UInt64 = 0xB41_6A47
        let total = 20_000
        let tally = Tally()
        let kinds = MalformedTraffic.Kind.allCases
        // Slow clients hold connections open while the rest goes on.
        let slow = Thread {
            _ = RawHTTP.exchange(port: port, Array("POST /events/webhook/open HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n".utf8).map { [$0] },
                                 pause: 0.05, timeout: 2)
        }
        slow.start()
        // Eight threads of their own (concurrentPerform would use only as many as there are cores).
        let done = DispatchGroup()
        for worker in 0..<8 {
            done.enter()
            Thread {
                defer { done.leave() }
                var random = SeededGenerator(state: seed &+ UInt64(worker))
                for index in stride(from: worker, to: total, by: 8) {
                    let kind = kinds[index % kinds.count]
                    let request = MalformedTraffic.request(kind, using: &random)
                    let outcome = RawHTTP.exchange(port: port, [request.bytes], closeAfterSending: request.closes, timeout: 10)
                    switch outcome {
                    case .status(let code): tally.add("\(kind.rawValue) \(code / 100)xx")
                    case .closed: tally.add("\(kind.rawValue) closed")
                    case .timedOut: tally.add("\(kind.rawValue) timed out")
                    }
                }
            }.start()
        }
        await withCheckedContinuation { finished in done.notify(queue: .global()) { finished.resume() } }
        let counts = tally.all
        print("malformed traffic outcomes:", counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        #expect(counts.values.reduce(0, +) == total)
        #expect(!counts.keys.contains { $0.hasSuffix(" 5xx") }, "no 5xx answers")
        #expect(!counts.keys.contains { $0.hasSuffix(" timed out") }, "no request was left hanging")
        // And a proper webhook still works.
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let answer = try await gateway.post("/events/webhook/open", body)
        #expect(answer.status == 200)
        #expect(try await gateway.finishedBuild(try #require(answer.json["build"] as? String))["status"] as? String == "Succeeded")
    }

    /// Clients that trickle their requests a byte at a time ("slowloris") more than fill the
    /// connections the gateway holds open; each byte resets the idle timeout, so they held
    /// them for as long as they went on, and a webhook waited behind them. Each request now
    /// has to arrive whole within `--request-timeout`: theirs are closed (never with a 5xx)
    /// and the webhook is served.
    @Test func tricklingClientsCannotHoldEveryConnection() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("open", file: "open", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data,
                                                     arguments: ["--lanes", "1", "--max-connections", "8", "--request-timeout", "2"])
        let port = gateway.port
        let tally = Tally()
        let done = DispatchGroup()
        // Twelve clients, a byte of a webhook's body every half second for 20 s each.
        for _ in 0..<12 {
            done.enter()
            Thread {
                defer { done.leave() }
                let head = Array("POST /events/webhook/open HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".utf8)
                switch RawHTTP.exchange(port: port, [head] + Array(repeating: [0x7B], count: 40), pause: 0.5, timeout: 30) {
                case .status(let code): tally.add("\(code / 100)xx")
                case .closed: tally.add("closed")
                case .timedOut: tally.add("timed out")
                }
            }.start()
        }
        try await Task.sleep(for: .seconds(1))
        // Without the deadline they hold their connections for about 50 s (20 s of bytes,
        // then the idle timeout): the webhook behind them gets no answer within 30 s.
        let started = Date()
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let webhook = Array("POST /events/webhook/open HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + Array(body)
        let answer = await Task.detached { RawHTTP.exchange(port: port, [webhook], timeout: 30) }.value
        print("a webhook behind 12 trickling clients on 8 connections: \(answer) after \(Int(Date().timeIntervalSince(started) * 1000)) ms")
        #expect(answer == .status(200), "the webhook behind the trickling clients")
        await withCheckedContinuation { finished in done.notify(queue: .global()) { finished.resume() } }
        let counts = tally.all
        #expect(counts.keys.allSatisfy { $0 == "closed" || $0 == "4xx" }, "\(counts)")
        #expect(gateway.log.contains("closed a connection whose request did not arrive whole within 2 s"))
        #expect(try await gateway.get("/metrics").text.contains(#"brigantine_connections_closed_total{why="request_timeout"}"#))
    }

    /// With `--max-connections-per-client`, one address holds at most its share: a connection
    /// past it is closed as it comes, while another address is served, and the share comes
    /// back as its connections close.
    @Test func oneAddressHoldsOnlyItsShareOfConnections() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("open", file: "open", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--max-connections-per-client", "3"])
        let port = gateway.port
        let health = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let held = try HeldConnections(port: port, count: 3) // from 127.0.0.1, sending nothing
        try await Task.sleep(for: .milliseconds(500))
        let (same, other) = await Task.detached {
            (RawHTTP.exchange(port: port, [health]), RawHTTP.exchange(port: port, [health], from: "127.0.0.2"))
        }.value
        #expect(same == .closed, "a fourth connection from 127.0.0.1")
        #expect(other == .status(200), "a connection from 127.0.0.2")
        held.close()
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await gateway.get("/healthz").status == 200, "127.0.0.1 has its share back")
        #expect(gateway.log.contains("closed a connection from 127.0.0.1: it has 3 open already (--max-connections-per-client)"))
        #expect(try await gateway.get("/metrics").text.contains(#"brigantine_connections_closed_total{why="client_limit"} 1"#))
    }

    /// A client that asks for a long log and then reads none of it: Hummingbird's idle
    /// timeout does not run while an answer is sent, so it held its connection, and what was
    /// queued for it, for good. After `--send-timeout` of taking nothing it is closed, while
    /// a client that reads gets the whole log.
    @Test func aClientThatReadsNothingOfItsAnswerIsLetGo() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("big", file: "big", script: """
            require('brigadier').events.on('image_push', () => {
              const line = 'x'.repeat(1000);
              for (let i = 0; i < 8000; i++) console.log(i + ' ' + line);
            });
            """, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--send-timeout", "1"])
        let id = try #require(try await gateway.post("/events/webhook/big", Data("{}".utf8)).json["build"] as? String)
        #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
        let whole = try await gateway.get("/v1/build/\(id)/logs")
        #expect(whole.status == 200 && whole.text.contains("\n7999 x"), "a client that reads gets it all")
        let port = gateway.port
        let late = await Task.detached {
            RawHTTP.readLate(port: port, Array("GET /v1/build/\(id)/logs HTTP/1.1\r\nHost: x\r\n\r\n".utf8), pause: 4)
        }.value
        print("a client that read nothing for 4 s: \(late.bytes) of \(whole.text.utf8.count) bytes, closed: \(late.closed)")
        #expect(late.closed && late.bytes < whole.text.utf8.count, "\(late)")
        #expect(gateway.log.contains("closed a connection whose client took none of its answer for 1 s"))
        #expect(try await gateway.get("/metrics").text.contains(#"brigantine_connections_closed_total{why="send_timeout"} 1"#))
        #expect(try await gateway.get("/healthz").status == 200)
    }

    /// Many clients that ask for the longest log and job output a build can have, and take
    /// none of it, hold a few megabytes each: the log and the output are read a part at a
    /// time. Read whole, 200 such clients held 3.2 GB, and enough of them would have had the
    /// gateway killed for its memory.
    @Test func readersThatTakeNothingHoldLittleMemory() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("long", file: "long", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', async () => {
              await new Job('long', 'alpine', ['head -c 16000000 /dev/zero | tr "\\\\0" x']).run();
              console.log('z'.repeat(12e6)); // one line
            });
            """, extra: "runner: local\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let id = try #require(try await gateway.post("/events/webhook/long", Data("{}".utf8)).json["build"] as? String)
        #expect(try await gateway.finishedBuild(id, within: 60)["status"] as? String == "Succeeded")
        let output = try await gateway.get("/v1/job/long-\(id)/logs")
        #expect(output.body.count == 16_000_000 && output.body.allSatisfy { $0 == UInt8(ascii: "x") }, "a client that reads gets it all")
        let logLines = try await gateway.logLines(id).filter { $0.hasPrefix("z") }
        #expect(logLines == [String(repeating: "z", count: 12_000_000)], "the line is shown whole (stored in pieces)")
        let printed = try await Brig.run(["build", "logs", id, "--data", data.path]).stdoutLines.filter { $0.hasPrefix("z") }
        #expect(printed.map(\.utf8.count) == [12_000_000], "and so does brig build logs")

        let before = try #require(gateway.anonymousResidentBytes)
        let clients = 60
        var held: [Int32] = []
        defer { for socket in held { close(socket) } }
        for path in ["/v1/job/long-\(id)/logs", "/v1/build/\(id)/logs"] {
            for _ in 0..<clients { held.append(try RawHTTP.askAndReadNothing(port: gateway.port, path: path)) }
        }
        try await Task.sleep(for: .seconds(3)) // well within --send-timeout (30 s)
        let holding = try #require(gateway.anonymousResidentBytes)
        #expect(try await gateway.get("/healthz").status == 200)
        let growth = holding - before
        print("\(2 * clients) clients that took nothing of a 16 MB output or a 12 MB log: the gateway grew by \(growth >> 20) MiB")
        // A part at a time: 334–344 MiB in three runs; with the job's output read whole again, 1,099 MiB.
        #expect(growth < 600 << 20, "\(growth >> 20) MiB")
        for socket in held { close(socket) }
        held = []
        let after = try await gateway.get("/v1/job/long-\(id)/logs")
        #expect(after.body.count == 16_000_000)
        for path in ["/v1/job/none-\(id)/logs", "/v1/job/none-\(id)", "/v1/build/\(id)x/logs", "/v1/build/\(id)x/jobs"] {
            #expect(try await gateway.get(path).status == 404, "\(path)")
        }
    }

    /// Bodies nested hundreds of thousands deep, within the size cap, where the gateway parses
    /// them itself (a project that deduplicates and coalesces) and where the script does:
    /// no parser's recursion takes the gateway down, and each build ends with its outcome.
    @Test func deeplyNestedBodiesNeitherCrashNorHang() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("nested", file: "nested", script: """
            require('brigadier').events.on('image_push', (e) => { console.log('depth ok: ' + typeof JSON.parse(e.payload)); });
            """, extra: "runner: simulate\ndeduplicate: true\ncoalesceWindow: 0.1\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "1"])
        let depth = 100_000
        let bodies = [
            String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth),
            String(repeating: "[", count: 3 * depth) + String(repeating: "]", count: 3 * depth),
        ]
        for body in bodies {
            let answer = try await gateway.post("/events/webhook/nested", Data(body.utf8))
            #expect(answer.status == 200, "\(answer.status) \(answer.text)")
            let build = try await gateway.finishedBuild(try #require(answer.json["build"] as? String), within: 60)
            #expect(Self.hasEnded(build), "\(build)")
            print("a body nested \(body.first == "[" ? 3 * depth : depth) deep: \(build["status"] ?? "") \(build["reason"] ?? "")")
        }
        #expect(try await gateway.get("/healthz").status == 200)
    }

    /// More connections than the gateway has file descriptors: they wait to be accepted
    /// instead of taking every descriptor (which made the gateway unable to reload its
    /// projects, then stop answering, then die in libdispatch), and once they go the
    /// gateway serves at once.
    @Test func aConnectionFloodBeyondTheOpenFileLimitLeavesTheGatewayServing() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("open", file: "open", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "1"], openFileLimit: 128)
        #expect(gateway.log.contains("at most 64 connections at once (open-file limit 128)"))
        ConnectionLimit.raiseOpenFileLimit() // this process holds the flood's sockets
        let flood = try HeldConnections(port: gateway.port, count: 600)
        // Projects are read again when their files change: that needs descriptors too.
        try writeProject("late", file: "late", script: Self.pushHandler, extra: "runner: simulate\n")
        try await Task.sleep(for: .seconds(3))
        #expect(try #require(gateway.anonymousResidentBytes) > 0, "the gateway is alive under the flood")
        let held = flood.count
        flood.close()

        let started = Date()
        #expect(try await gateway.get("/healthz").status == 200)
        print("after \(held) connections: /healthz answered in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        for project in ["open", "late"] {
            let answer = try await gateway.post("/events/webhook/\(project)", body)
            #expect(answer.status == 200, "\(project): \(answer.text)")
            if let id = answer.json["build"] as? String {
                #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
            }
        }
        await gateway.stop()
        #expect(!gateway.log.contains("Too many open files"), "\(gateway.log.suffix(2_000))")
    }

    /// The disk under the store fills up while webhooks arrive and builds run: a webhook
    /// that cannot be stored is refused (503, never a 200 without a build), the gateway
    /// keeps answering, and once there is room again every acknowledged build ends with
    /// its whole log — in the same process, and after a kill -9 while the disk was full.
    @Test(.enabled(if: SmallDisk.available, Comment(rawValue: SmallDisk.unavailableReason)))
    func aFullDiskRefusesWhatItCannotStoreAndLosesNothing() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let disk = try SmallDisk(at: data, mebibytes: 8)
        defer { disk.remove() }
        // Slow enough that builds are running (at most 4 at once) when the disk fills.
        try writeProject("full", file: "full", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', async (e) => {
              const hook = JSON.parse(e.payload);
              await new Promise((done) => setTimeout(done, 200));
              await new Job('test', 'alpine', ['echo ' + hook.push_data.tag]).run();
            });
            """, extra: "runner: simulate\n")
        // A job of the local runner needs room for its files. It starts once the test says
        // the disk is full (disk-full.json appears beside the script): after a fixed 300 ms,
        // a busy suite once filled the disk too late and the job found room.
        try writeProject("files", file: "files", script: """
            const { events, Job } = require('brigadier');
            const diskIsFull = () => { try { require('./disk-full.json'); return true; } catch (e) { return false; } };
            events.on('image_push', async () => {
              while (!diskIsFull()) await new Promise((done) => setTimeout(done, 20));
              await new Job('write', 'alpine', ['echo written > out']).run();
            });
            """, extra: "runner: local\n")
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let jobLine = "task: echo latest" // the simulated job's line, from the payload's tag
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        let first = try #require(try await gateway.post("/events/webhook/full", body).json["build"] as? String)
        #expect(try await gateway.finishedBuild(first)["status"] as? String == "Succeeded")

        // Builds in flight when the disk fills, then webhooks onto the full disk.
        let inFlight = AcknowledgedBuilds()
        await inFlight.post(40, to: "/events/webhook/full", body: body) { _ in gateway }.value
        let filesBuild = try #require(try await gateway.post("/events/webhook/files", body).json["build"] as? String)
        try await disk.fill()
        try "{}".write(to: projects.appendingPathComponent("disk-full.json"), atomically: true, encoding: .utf8)
        var answers: [Int: Int] = [:]
        var acknowledged = await inFlight.ids
        for _ in 0..<25 {
            try await withThrowingTaskGroup(of: GatewayProcess.Answer.self) { group in
                for _ in 0..<8 { group.addTask { try await gateway.post("/events/webhook/full", body) } }
                for try await answer in group {
                    answers[answer.status, default: 0] += 1
                    if answer.status == 200 {
                        acknowledged.append(try #require(answer.json["build"] as? String))
                    } else {
                        #expect(answer.status == 503 && answer.text.contains("the build could not be stored; nothing was accepted"), "\(answer.status) \(answer.text)")
                    }
                }
            }
        }
        #expect(try await gateway.get("/healthz").status == 200)
        let unready = try await gateway.get("/readyz")
        #expect(unready.status == 503 && unready.text.contains("the build store refuses writes"), "\(unready.status) \(unready.text)")
        #expect(gateway.log.contains("the build store refuses writes, so webhooks get 503 until it takes them again: SQLite error 13: database or disk is full"))
        print("full disk: answers to 200 webhooks \(answers.sorted { $0.key < $1.key })")
        #expect(answers[503, default: 0] > 100, "the disk was full for the store")
        #expect(gateway.log.contains("trying again until it lands"), "running builds could not store their progress")

        await disk.makeRoom()
        for id in acknowledged {
            let build = try await gateway.finishedBuild(id, within: 60)
            #expect(build["status"] as? String == "Succeeded", "\(build)")
            #expect(try await gateway.logLines(id).contains { $0.hasSuffix(jobLine) }, "build \(id)'s log is whole")
        }
        let files = try await gateway.finishedBuild(filesBuild, within: 60)
        #expect(files["status"] as? String == "Failed" && (files["reason"] as? String ?? "").hasSuffix(": No space left on device"), "\(files)")
        #expect(try await storedBuilds(gateway).allSatisfy(Self.hasEnded))
        #expect(gateway.log.contains("failed attempt(s)"), "and stored it once they could")
        var ready = try await gateway.get("/readyz")
        for _ in 0..<100 where ready.status != 200 { // once a write lands, settled after the last failure
            try await Task.sleep(for: .milliseconds(100))
            ready = try await gateway.get("/readyz")
        }
        #expect(ready.status == 200 && ready.text == "ready", "\(ready.text)")
        #expect(gateway.log.contains("the build store takes writes again"))
        let after = try #require(try await gateway.post("/events/webhook/full", body).json["build"] as? String)
        #expect(try await gateway.finishedBuild(after)["status"] as? String == "Succeeded")

        // Killed while full: what could not be stored before the crash is found at the next start.
        let beforeCrash = AcknowledgedBuilds()
        await beforeCrash.post(12, to: "/events/webhook/full", body: body) { _ in gateway }.value
        try await Task.sleep(for: .milliseconds(100))
        try await disk.fill()
        try await Task.sleep(for: .milliseconds(500))
        await gateway.crash()
        await disk.makeRoom()
        let restarted = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        for id in await beforeCrash.ids {
            let build = try await restarted.finishedBuild(id, within: 60)
            #expect(Self.hasEnded(build), "\(build)")
        }
        let all = try await allEnded(restarted)
        #expect(all.allSatisfy(Self.hasEnded))
        let outcomes = Dictionary(grouping: all) { "\($0["status"] ?? "")\(($0["reason"] as? String).map { ": " + $0.prefix(60) } ?? "")" }
        print("killed on a full disk: \(await beforeCrash.count) of 12 acknowledged; every one of \(all.count) stored builds ended,",
              outcomes.map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", "))
        await restarted.stop()
    }

    /// Succeeded, or Failed with a reason.
    static func hasEnded(_ build: [String: Any]) -> Bool {
        let status = build["status"] as? String
        return status == "Succeeded" || (status == "Failed" && (build["reason"] as? String)?.isEmpty == false)
    }

    func storedBuilds(_ gateway: GatewayProcess) async throws -> [[String: Any]] {
        try #require(try await gateway.get("/v1/builds?limit=1000").list)
    }

    /// Every stored build, once all have ended (or as they are after 60 s).
    func allEnded(_ gateway: GatewayProcess) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        for _ in 0..<600 {
            all = try await storedBuilds(gateway)
            if all.allSatisfy(Self.hasEnded) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return all
    }

    /// Scripts that misbehave in every way each end with a recorded reason within their
    /// limits, while other projects' builds run and the gateway keeps answering.
    @Test func hostileScriptsEndWithReasonsWhileOthersRun() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let hostile = [
            "loop": "require('brigadier').events.on('image_push', () => { for (;;) {} });",
            "awaits": "require('brigadier').events.on('image_push', async () => { for (;;) await null; });",
            // Not `() => Promise.resolve().then(f)`: that chain of pending promises also grows
            // the heap, and the memory limit may come first.
            "chain": "require('brigadier').events.on('image_push', () => { const f = () => { Promise.resolve().then(f); }; f(); });",
            "bomb": "require('brigadier').events.on('image_push', () => { const h = []; for (;;) h.push(new Array(1e5).fill(1.5)); });",
            "timer": "require('brigadier').events.on('image_push', () => { setTimeout(() => { throw new Error('timer broke'); }, 10); });",
            "never": "require('brigadier').events.on('image_push', async () => { await new Promise(() => {}); });",
            "many": """
                const { events, Job, Group } = require('brigadier');
                events.on('image_push', () => Group.runAll(Array.from({ length: 10000 }, (_, i) => new Job('j' + i, 'alpine', ['true']))));
                """,
            "chatty": "require('brigadier').events.on('image_push', () => { const line = 'x'.repeat(1 << 20); for (let i = 0; i < 100; i++) console.log(line); });",
            "blank": "require('brigadier').events.on('image_push', () => { const lines = '\\n'.repeat(999); for (let i = 0; i < 2000; i++) console.log(lines); });",
            // Text of any size where no output limit applies: a job's image, an error's message.
            "huge": """
                const { events, Job } = require('brigadier');
                events.on('image_push', async () => {
                  await new Job('big-image', 'x'.repeat(10e6), ['true']).run();
                  throw new Error('y'.repeat(10e6));
                });
                """,
        ]
        for (name, script) in hostile {
            try writeProject(name, file: name, script: script, extra: "runner: simulate\n")
        }
        // Numbers no Swift integer holds, where the host turns script values into integers.
        try writeProject("numbers", file: "numbers", script: """
            const { events, Job } = require('brigadier');
            events.on('image_push', async () => {
              console.log((await Object.assign(new Job('patient', 'alpine', ['echo ran']), { timeout: 1e300 }).run()).toString().trim());
              process.exit(1e300);
            });
            """, extra: "runner: local\n")
        try writeProject("steady", file: "steady", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: [
            "--lanes", "3", "--script-time-limit", "3", "--script-memory-limit", "128",
        ])
        let health = HealthWatch(gateway: gateway)
        let watching = Task { await health.watch() }
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        var hostileBuilds: [String: String] = [:]
        for name in hostile.keys.sorted() + ["numbers"] {
            hostileBuilds[name] = try #require(try await gateway.post("/events/webhook/\(name)", body).json["build"] as? String)
        }
        var steady: [String] = []
        for _ in 0..<20 {
            steady.append(try #require(try await gateway.post("/events/webhook/steady", body).json["build"] as? String))
            try await Task.sleep(for: .milliseconds(100))
        }
        var ended: [String: [String: Any]] = [:]
        for (name, id) in hostileBuilds { ended[name] = try await gateway.finishedBuild(id, within: 90) }
        for id in steady { #expect(try await gateway.finishedBuild(id, within: 90)["status"] as? String == "Succeeded") }
        watching.cancel()
        let checks = await health.summary

        func reason(_ name: String) -> String { ended[name]?["reason"] as? String ?? "" }
        for name in ["loop", "awaits", "chain"] {
            #expect(reason(name) == "script ran for more than 3 s without yielding and was stopped (an infinite loop?)", "\(name)")
        }
        #expect(reason("bomb") == "script's memory grew past 128 MiB and it was stopped")
        #expect(reason("timer").hasPrefix("uncaught exception: Error: timer broke"))
        #expect(reason("many").contains("this build already started 1000 jobs, its limit"))
        #expect(ended["never"]?["status"] as? String == "Succeeded", "Brigade: an idle build ends, after fires")
        #expect(reason("numbers") == "the script set exit code 2147483647", "\(ended["numbers"] ?? [:])")
        #expect(try await gateway.logLines(hostileBuilds["numbers"]!).contains("ran"))
        #expect(try await gateway.logLines(hostileBuilds["never"]!).contains { $0.contains("returned a promise that never settled") })
        let chatty = try await gateway.get("/v1/build/\(hostileBuilds["chatty"]!)/logs")
        #expect(chatty.body.count < 20 << 20, "the 100 MB of output was capped")
        #expect(chatty.text.contains("the build's output reached its limit of 16 MiB; later output is dropped"))
        let blank = try await gateway.get("/v1/build/\(hostileBuilds["blank"]!)/logs")
        let blankCapped = blank.text.contains("the build's output reached its limit of 500000 lines; later output is dropped")
        #expect(blankCapped, "2 million empty lines were capped (not printed: a failure here would print them all)")
        #expect(reason("huge").hasPrefix("unhandled rejection: Error: yyy") && reason("huge").hasSuffix(" more bytes)"))
        #expect(reason("huge").utf8.count < 9 << 10, "the 10 MB message was cut to 8 KiB")
        let huge = (logs: try await gateway.get("/v1/build/\(hostileBuilds["huge"]!)/logs"),
                    jobs: try await gateway.get("/v1/build/\(hostileBuilds["huge"]!)/jobs"))
        #expect(huge.logs.body.count < 1 << 20 && huge.jobs.body.count < 4 << 10, "\(huge.logs.body.count) \(huge.jobs.body.count)")
        for name in hostile.keys { #expect(ended[name]?["status"] as? String != nil) }
        // The gateway answered every health check while all this ran. How fast is reported,
        // not asserted (timings belong to bench/): the checks come from this test process,
        // which shares the 2 cores with the rest of the suite.
        print("health checks: \(checks.answered) answered, \(checks.failed) failed, \(checks.over100Milliseconds) over 100 ms, slowest \(checks.slowestMilliseconds) ms")
        #expect(checks.failed == 0 && checks.answered > 20)
    }

    /// Secret values appear in no log line, API answer or stored byte.
    @Test func secretsAppearNowhere() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let secrets = ["TOKEN": "tok-3f9a7c21e5", "PASSWORD": "hunter2-correct-horse"]
        let webhookSecret = "hook-8b1e44d07a", genericSecret = "Gen3r1cS3cret", registryPassword = "ghcr-pat-51f0e2"
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        try """
            const { events, Job } = require('brigadier');
            const leak = async (e, p) => {
              console.log('secrets:', p.secrets, JSON.stringify(p.secrets));
              console.error('token', p.secrets.TOKEN);
              // An image from a private mirror whose path is a secret: the job's record names it.
              const job = new Job('leaky', `mirror.local/${p.secrets.TOKEN}/alpine`, ['echo "$TOKEN $PASSWORD"', 'echo "$PASSWORD" >&2']);
              job.env = { TOKEN: p.secrets.TOKEN, PASSWORD: p.secrets.PASSWORD };
              job.streamLogs = true;
              await job.run();
              const failing = new Job('fails', 'alpine', ['echo "failing with $TOKEN"', 'exit 4']);
              failing.env = { TOKEN: p.secrets.TOKEN };
              try { await failing.run(); } catch (err) { console.log(err.message); }
              throw new Error('giving up with ' + p.secrets.PASSWORD);
            };
            events.on('image_push', leak);
            events.on('simpleevent', leak);
            """.write(to: projects.appendingPathComponent("leak.js"), atomically: true, encoding: .utf8)
        try """
            name: acme/leaky
            defaultScriptFile: leak.js
            gateways: [container-registry, generic]
            webhookSecret: \(webhookSecret)
            genericGatewaySecret: \(genericSecret)
            secrets: {TOKEN: \(secrets["TOKEN"]!), PASSWORD: \(secrets["PASSWORD"]!)}
            registries: {ghcr.io: {username: acme, password: \(registryPassword)}}
            """.write(to: projects.appendingPathComponent("leaky.yaml"), atomically: true, encoding: .utf8)
        // A private repository's credentials in its clone URL (the API shows them masked).
        let cloneToken = "ghp-clone-7c3d9e"
        try """
            name: acme/private
            repo: {cloneURL: "https://bot:\(cloneToken)@127.0.0.1:9/acme/private.git"}
            webhookSecret: \(webhookSecret)
            """.write(to: projects.appendingPathComponent("private.yaml"), atomically: true, encoding: .utf8)
        let gateway = try await GatewayProcess.start(projects: projects, data: data)
        let id = ProjectID.of("acme/leaky")
        let body = Data(#"{"push_data":{"tag":"t"}}"#.utf8)
        let token = WebhookSecrets.token(project: "acme/leaky", secret: webhookSecret)
        var builds: [String] = []
        for answer in [
            try await gateway.post("/events/webhook/\(token)", body),
            try await gateway.post("/events/webhook/acme/leaky", body, headers: ["Authorization": "Bearer \(webhookSecret)"]),
            try await gateway.post("/simpleevents/v1/\(id)/\(genericSecret)", Data("{}".utf8)),
            try await gateway.post("/events/webhook/acme/leaky", body, headers: [
                "X-Hub-Signature-256": "sha256=" + Hex.encode(HMAC<SHA256>.authenticationCode(
                    for: body, using: SymmetricKey(data: Array(webhookSecret.utf8))))]),
        ] {
            builds.append(try #require(answer.json["build"] as? String))
        }
        _ = try await gateway.post("/events/webhook/acme/leaky?token=\(webhookSecret)", body) // a wrong try: the secret itself as token
        var seen = ""
        for build in builds {
            let finished = try await gateway.finishedBuild(build)
            #expect(finished["status"] as? String == "Failed")
            seen += try await gateway.get("/v1/build/\(build)").text
            seen += try await gateway.get("/v1/build/\(build)/logs").text
            seen += try await gateway.get("/v1/build/\(build)/jobs").text
            for job in ["leaky", "fails"] {
                seen += try await gateway.get("/v1/job/\(job)-\(build)").text
                seen += try await gateway.get("/v1/job/\(job)-\(build)/logs").text
            }
        }
        seen += try await gateway.get("/v1/projects").text + (try await gateway.get("/v1/project/\(id)").text)
        seen += try await gateway.get("/v1/builds").text
        let shown = try await Brig.run(["project", "get", "acme/private", "--projects", projects.path]).stdout
        #expect(shown.contains("repo: https://bot:***@127.0.0.1:9/acme/private.git"), "\(shown)")
        seen += shown
        #expect(seen.contains("***"), "the secrets were there to hide")
        await gateway.stop()
        seen += gateway.log
        // Each failed build has its line in the gateway's log, its reason masked.
        let ends = gateway.log.split(separator: "\n").filter { $0.contains("build ended") }
        #expect(ends.count == builds.count && ends.allSatisfy { $0.contains("reason=unhandled rejection: Error: giving up with ***") && $0.contains("status=Failed") },
                "\(ends)")
        // Every byte the store wrote (database, its WAL), read raw.
        for file in try FileManager.default.contentsOfDirectory(atPath: data.path) where file.hasPrefix("brigantine.sqlite") {
            seen += String(decoding: try Data(contentsOf: data.appendingPathComponent(file)), as: UTF8.self)
        }
        #expect(seen.contains(#""registries":{"ghcr.io":{"password":"REDACTED","username":"acme"}}"#), "the project shows its registry")
        #expect(seen.contains(#""cloneURL":"https:\/\/bot:***@127.0.0.1:9\/acme\/private.git""#), "the project shows its repository")
        for value in Array(secrets.values) + [webhookSecret, genericSecret, token, registryPassword, cloneToken] {
            #expect(!seen.contains(value), "\(value) leaked")
        }
    }
}

/// SplitMix64: a small seeded generator, so that a failing run can be repeated exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Hostile requests of every kind a scanner, a broken proxy or a fuzzer sends.
enum MalformedTraffic {
    enum Kind: String, CaseIterable {
        case badPath, longPath, invalidUTF8Path, hugeHeader, manyHeaders, missingHost, truncatedBody
        case invalidUTF8Body, overCapBody, wrongMethod, garbageLine, badContentLength, badChunked, http09, badSignature
    }

    /// The bytes of one request of `kind`, and whether the client closes its side after sending.
    static func request(_ kind: Kind, using random: inout SeededGenerator) -> (bytes: [UInt8], closes: Bool) {
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        func text(_ string: String) -> [UInt8] { Array(string.utf8) }
        let routes = ["/events/webhook/x", "/events/webhook/a/b", "/events/webhook/a/b/c", "/simpleevents/v1/p/s",
                      "/cloudevents/v02/p/s", "/v1/builds", "/healthz", "/events/dockerhub/a/b/c"]
        let route = routes.randomElement(using: &random)!
        switch kind {
        case .badPath:
            let junk = String((0..<Int.random(in: 1...40, using: &random)).map { _ in "/%.?#&=:@!$'()*+,;~ab..".randomElement(using: &random)! })
            return (text("POST /\(junk) HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"), false)
        case .longPath:
            return (text("GET /\(String(repeating: "a/", count: Int.random(in: 2000...40000, using: &random))) HTTP/1.1\r\nHost: x\r\n\r\n"), false)
        case .invalidUTF8Path:
            return (text("POST /events/webhook/") + bytes(12).map { $0 | 0x80 } + text(" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), false)
        case .hugeHeader:
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "h", count: Int.random(in: 20000...200000, using: &random)))\r\nContent-Length: 0\r\n\r\n"), false)
        case .manyHeaders:
            let headers = (0..<Int.random(in: 200...3000, using: &random)).map { "X-H\($0): v\r\n" }.joined()
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\n\(headers)Content-Length: 0\r\n\r\n"), false)
        case .missingHost:
            return (text("POST \(route) HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), false)
        case .truncatedBody:
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n") + bytes(Int.random(in: 0...4000, using: &random)), true)
        case .invalidUTF8Body:
            let body = bytes(Int.random(in: 1...3000, using: &random))
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n") + body, false)
        case .overCapBody:
            // One in ten sends all of its over-cap body; the others declare it and stop early.
            let size = (2 << 20) + Int.random(in: 1...200_000, using: &random)
            let whole = Int.random(in: 0..<10, using: &random) == 0
            return (text("POST /events/webhook/open HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
                + [UInt8](repeating: 0x7B, count: whole ? size : 65536), !whole)
        case .wrongMethod:
            let method = ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW", "TRACE", "CONNECT"].randomElement(using: &random)!
            return (text("\(method) \(route) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), false)
        case .garbageLine:
            return (bytes(Int.random(in: 1...300, using: &random)) + text("\r\n\r\n"), false)
        case .badContentLength:
            let value = ["-1", "abc", "99999999999999999999", "1, 2", ""].randomElement(using: &random)!
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\n{}"), false)
        case .badChunked:
            return (text("POST \(route) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n"), false)
        case .http09:
            return (text("GET \(route)\r\n\r\n"), false)
        case .badSignature:
            // A signature header of every kind the gateway checks, its value junk, cut short or overlong.
            let header = ["X-Hub-Signature-256", "X-Hub-Signature", "X-Signature", "X-JFrog-Event-Auth", "X-Nexus-Webhook-Signature"]
                .randomElement(using: &random)!
            let hex = String((0..<Int.random(in: 0...300, using: &random)).map { _ in "0123456789abcdefABCDEF=xz ".randomElement(using: &random)! })
            let value = ["", "sha256=", "sha1=", "sha512=", "md5=", "SHA256="].randomElement(using: &random)! + hex
            let path = ["/events/webhook/open", "/events/webhook/a/b", "/events/webhook/x", "/events/dockerhub/a/b/c"].randomElement(using: &random)!
            let body = Int.random(in: 0..<2, using: &random) == 0 ? text("{}") : bytes(Int.random(in: 0...500, using: &random))
            return (text("POST \(path) HTTP/1.1\r\nHost: x\r\n\(header): \(value)\r\nContent-Length: \(body.count)\r\n\r\n") + body, false)
        }
    }
}

final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ key: String) { lock.withLock { counts[key, default: 0] += 1 } }
    var all: [String: Int] { lock.withLock { counts } }
}

/// Asks /healthz every 20 ms and keeps score.
actor HealthWatch {
    let gateway: GatewayProcess
    private(set) var answered = 0
    private(set) var failed = 0
    private var slowest = 0.0
    private var over100Milliseconds = 0

    init(gateway: GatewayProcess) {
        self.gateway = gateway
    }

    func watch() async {
        while !Task.isCancelled {
            let started = Date()
            if let answer = try? await gateway.get("/healthz"), answer.status == 200 { answered += 1 } else if !Task.isCancelled { failed += 1 }
            let took = Date().timeIntervalSince(started)
            slowest = max(slowest, took)
            if took > 0.1 { over100Milliseconds += 1 }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var summary: (answered: Int, failed: Int, over100Milliseconds: Int, slowestMilliseconds: Int) {
        (answered, failed, over100Milliseconds, Int(slowest * 1000))
    }
}

/// The builds named by 200 answers to webhooks sent all at once.
extension ReliabilityTests {
    /// Ended builds leave nothing behind in the gateway: the memory it holds after a second
    /// batch of builds is about what it held after the first (the scheduler's task group
    /// once kept every ended build's task, some 15 KB each, for as long as the gateway ran).
    @Test func endedBuildsLeaveNoMemoryBehind() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("steady", file: "steady", script: Self.pushHandler, extra: "runner: simulate\n")
        let body = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent("dockerhub-push.json"))
        let gateway = try await GatewayProcess.start(projects: projects, data: data, arguments: ["--lanes", "2"])
        let batch = 1_500
        func runBatch() async throws -> Int {
            for _ in 0..<(batch / 100) {
                await AcknowledgedBuilds().post(100, to: "/events/webhook/steady", body: body) { _ in gateway }.value
            }
            for _ in 0..<3_000 { // up to 5 min: the suite shares 2 cores
                let text = try await gateway.get("/metrics").text
                if Self.metric("brigantine_builds_pending", in: text) == 0, Self.metric("brigantine_builds_live", in: text) == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(500)) // the last ends' writes settle
            return try #require(gateway.anonymousResidentBytes)
        }
        let afterFirst = try await runBatch()
        let afterSecond = try await runBatch()
        let succeeded = Self.metric(#"brigantine_builds_ended_total{status="Succeeded"}"#, in: try await gateway.get("/metrics").text)
        #expect(succeeded == Double(2 * batch), "every build ended and succeeded")
        await gateway.stop()
        let growth = afterSecond - afterFirst
        print("memory: \(afterFirst >> 20) MiB after \(batch) builds, \(afterSecond >> 20) MiB after \(2 * batch)")
        // Leaking ~15 KB a build would add ~22 MiB here (29 MiB, measured); without the leak
        // it moved by 3–6 MiB in eight runs.
        #expect(growth < 12 << 20, "the second \(batch) builds left \(growth >> 10) KiB behind")
    }

    static func metric(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}

actor AcknowledgedBuilds {
    private(set) var ids: [String] = []
    var count: Int { ids.count }
    func add(_ id: String) { ids.append(id) }

    /// Posts `count` webhooks concurrently, the n-th to `target(n)`; the task ends when
    /// every one has an answer or an error (a gateway killed meanwhile gives errors).
    nonisolated func post(_ count: Int, to path: String, body: Data,
                          target: @escaping @Sendable (Int) -> GatewayProcess) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for n in 0..<count {
                    group.addTask {
                        if let answer = try? await target(n).post(path, body), answer.status == 200,
                           let id = answer.json["build"] as? String {
                            await self.add(id)
                        }
                    }
                }
            }
        }
    }

    /// Returns once `enough` were acknowledged, or after 20 s (a debug gateway that starts
    /// beside the whole suite's other servers once acknowledged only 70 in the first 2 s).
    func wait(for enough: Int) async throws {
        for _ in 0..<4_000 {
            if ids.count >= enough { return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
