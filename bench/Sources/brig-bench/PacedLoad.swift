import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An open-loop load generator for one loopback HTTP endpoint: POSTs arrive at a mean rate
/// with exponential gaps (Poisson arrivals, as independent webhooks do), spread over
/// keep-alive connections. Latency counts from the moment a request was due, so an answer
/// that comes late also counts against the requests queued behind it instead of slowing
/// the generator down (no coordinated omission).
///
/// Why not `hey -q`: each of its workers keeps its own ticker and they start together, so
/// `-c 20 -q 25` sends bursts of 20 requests every 40 ms rather than 500 spread over a second.
enum PacedLoad {
    struct Target {
        let host: String
        let port: UInt16
        let path: String

        init(_ url: String) throws {
            guard let components = URLComponents(string: url), components.scheme == "http",
                  let host = components.host, let port = components.port else {
                throw BenchError("--paced wants http://HOST:PORT/PATH, not \(url)")
            }
            self.host = host
            self.port = UInt16(port)
            path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        }
    }

    static func main(_ arguments: [String]) {
        func value(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        do {
            let target = try Target(value("--paced") ?? "")
            let rate = Double(value("--rate") ?? "500") ?? 500
            let seconds = Double(value("--seconds") ?? "10") ?? 10
            let connections = Int(value("--connections") ?? "32") ?? 32
            guard let bodyPath = value("--body"), let body = FileManager.default.contents(atPath: bodyPath) else {
                throw BenchError("--body FILE is required")
            }
            let result = try run(target, rate: rate, seconds: seconds, connections: connections, body: body)
            if let path = value("--latencies") {
                // One line per request, in the order they were due: when (s), latency (ms).
                let lines = zip(result.due, result.latencies).map { String(format: "%.4f %.2f\n", $0, $1) }
                try lines.joined().write(toFile: path, atomically: true, encoding: .utf8)
            }
            let latencies = result.latencies.sorted()
            func percentile(_ p: Double) -> String {
                String(format: "%.1f", latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))])
            }
            print("paced: \(latencies.count) requests at \(Int(rate))/s (Poisson arrivals, \(connections) connections): "
                  + "p50 \(percentile(0.5)) ms p90 \(percentile(0.9)) ms p99 \(percentile(0.99)) ms max \(percentile(1)) ms; "
                  + "\(result.failures) not 2xx")
        } catch {
            PerBuildBenchmark.fail("\(error)")
        }
    }

    /// When each request was due (seconds from the start), its latency in milliseconds, and
    /// how many answers were not 2xx.
    static func run(_ target: Target, rate: Double, seconds: Double, connections: Int, body: Data)
        throws -> (due: [Double], latencies: [Double], failures: Int)
    {
        let due = arrivals(rate: rate, seconds: seconds)
        let request = Data("""
            POST \(target.path) HTTP/1.1\r
            Host: \(target.host):\(target.port)\r
            Content-Type: application/json\r
            Content-Length: \(body.count)\r
            \r

            """.utf8) + body
        let sockets = try (0..<connections).map { _ in try connect(target) }
        defer { sockets.forEach { close($0) } }

        let results = ResultBox(count: due.count)
        let start = monotonicSeconds() + 0.05
        let threads = (0..<connections).map { lane in
            Thread {
                // Arrival i goes to connection i mod N; a connection still waiting for an answer
                // sends its next request late, and that lateness is part of the latency.
                for index in stride(from: lane, to: due.count, by: connections) {
                    let dueAt = start + due[index]
                    sleep(until: dueAt)
                    let status = exchange(request, on: sockets[lane])
                    results.record(index, latency: (monotonicSeconds() - dueAt) * 1000, ok: (200..<300).contains(status))
                }
                results.finished.signal()
            }
        }
        threads.forEach { $0.start() }
        for _ in threads { results.finished.wait() }
        return (due, results.latencies, results.failures)
    }

    /// Seconds after the start at which requests are due: exponential gaps of mean 1/rate.
    static func arrivals(rate: Double, seconds: Double) -> [Double] {
        var due: [Double] = []
        var clock = 0.0
        while true {
            clock += -log(1 - Double.random(in: 0..<1)) / rate
            if clock >= seconds { return due }
            due.append(clock)
        }
    }

    final class ResultBox: @unchecked Sendable {
        let finished = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var values: [Double]
        private var failed = 0

        init(count: Int) { values = Array(repeating: 0, count: count) }

        func record(_ index: Int, latency: Double, ok: Bool) {
            lock.withLock {
                values[index] = latency
                if !ok { failed += 1 }
            }
        }

        var latencies: [Double] { lock.withLock { values } }
        var failures: Int { lock.withLock { failed } }
    }

    // MARK: Sockets

    static func connect(_ target: Target) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var noDelay: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = target.port.bigEndian
        guard inet_pton(AF_INET, target.host, &address.sin_addr) == 1 else {
            throw BenchError("--paced wants a numeric IPv4 host (loopback), not \(target.host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw BenchError("connect \(target.host):\(target.port): \(String(cString: strerror(errno)))") }
        return descriptor
    }

    /// Sends one request and reads its answer (headers, then Content-Length bytes); the status, or 0.
    static func exchange(_ request: Data, on descriptor: Int32) -> Int {
        let sent = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.count else { return 0 }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerEnd: Int?
        var expected = Int.max
        while received.count < expected {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return 0 }
            received.append(contentsOf: buffer[0..<count])
            if headerEnd == nil, let end = find([13, 10, 13, 10], in: received) {
                headerEnd = end + 4
                let headers = String(decoding: received[0..<end], as: UTF8.self).lowercased()
                let length = headers.split(separator: "\r\n")
                    .first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                expected = end + 4 + length
            }
        }
        let statusLine = String(decoding: received.prefix(12), as: UTF8.self)
        return Int(statusLine.dropFirst(9).prefix(3)) ?? 0
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    // MARK: Time

    static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func sleep(until deadline: Double) {
        let remaining = deadline - monotonicSeconds()
        guard remaining > 0 else { return }
        var time = timespec(tv_sec: Int(remaining), tv_nsec: Int((remaining - remaining.rounded(.down)) * 1e9))
        nanosleep(&time, nil)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
