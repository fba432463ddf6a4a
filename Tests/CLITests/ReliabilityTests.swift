import BrigantineCore
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
        let gateway = try GatewayProcess(projects: projects, data: data, arguments: ["--lanes", "2"])
        let acknowledged = AcknowledgedBuilds()
        let sender = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<400 {
                    group.addTask {
                        if let answer = try? await gateway.post("/events/webhook/durable", body), answer.status == 200,
                           let id = answer.json["build"] as? String {
                            await acknowledged.add(id)
                        }
                    }
                }
            }
        }
        // Crash once a good part of the traffic was acknowledged, while the rest is in flight.
        for _ in 0..<400 {
            guard await acknowledged.count < 150 else { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        gateway.crash()
        await sender.value
        let ids = await acknowledged.ids
        #expect(ids.count >= 150, "enough traffic was acknowledged before the crash")

        let restarted = try GatewayProcess(projects: projects, data: data, arguments: ["--lanes", "2"])
        for id in ids {
            let build = try await restarted.finishedBuild(id, within: 60)
            let status = build["status"] as? String
            #expect(status == "Succeeded" || (status == "Failed" && (build["reason"] as? String)?.isEmpty == false), "\(build)")
        }
        // Nothing at all stays pending or running, acknowledged or not (some were stored
        // but their answer was lost with the process).
        var all: [[String: Any]] = []
        for _ in 0..<600 {
            all = try JSONSerialization.jsonObject(with: try await restarted.get("/v1/builds?limit=1000").body) as? [[String: Any]] ?? []
            guard !all.allSatisfy({ ($0["status"] as? String) == "Succeeded" || ($0["status"] as? String) == "Failed" }) else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(all.count >= ids.count)
        #expect(all.allSatisfy { ($0["status"] as? String) == "Succeeded" || ($0["status"] as? String) == "Failed" })
        #expect(Set(ids).isSubset(of: Set(all.compactMap { $0["id"] as? String })))
    }

    /// 20,000 requests of every malformed kind, from a seeded generator: the gateway never
    /// answers 5xx, never stops, and serves a good webhook afterwards.
    @Test func malformedTrafficNeverBreaksTheGateway() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writeProject("open", file: "open", script: Self.pushHandler, extra: "runner: simulate\n")
        let gateway = try GatewayProcess(projects: projects, data: data, arguments: ["--lanes", "1"])
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
        case invalidUTF8Body, overCapBody, wrongMethod, garbageLine, badContentLength, badChunked, http09
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
        }
    }
}

final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ key: String) { lock.withLock { counts[key, default: 0] += 1 } }
    var all: [String: Int] { lock.withLock { counts } }
}

actor AcknowledgedBuilds {
    private(set) var ids: [String] = []
    var count: Int { ids.count }
    func add(_ id: String) { ids.append(id) }
}
