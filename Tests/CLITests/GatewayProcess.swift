import Foundation
import Synchronization
import TestSupport

/// A real `brig gateway` on loopback, started for a test and stopped after it.
///
/// Every wait here (for the port, for the exit) sleeps as a task instead of blocking a thread:
/// the package's tests share a cooperative pool of as many threads as cores.
final class GatewayProcess: @unchecked Sendable { // only start changes it, and `stopping` is a Mutex
    let projects: URL
    let data: URL
    private let process = Process()
    private let exited = ExitSignal()
    private let output: URL
    private(set) var port = 0
    /// Sent as `Authorization: Bearer …` with every request that has no Authorization of its own.
    private(set) var apiToken: String?
    /// Set once the test kills or stops it: requests failing after that are expected.
    private let stopping = Mutex(false)

    private init(projects: URL, data: URL) {
        self.projects = projects
        self.data = data
        output = data.deletingLastPathComponent().appendingPathComponent("gateway-\(UUID().uuidString).out")
    }

    /// `root/projects`, made with these files in it (name → contents: scripts, project YAML).
    static func projectsDirectory(in root: URL, _ files: [String: String]) throws -> URL {
        let projects = root.appendingPathComponent("projects")
        try FileManager.default.createDirectory(at: projects, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(to: projects.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return projects
    }

    /// Starts the gateway and returns once it listens; with `apiToken`, the gateway gets it
    /// in an `--api-token-file` and requests carry it.
    /// With `openFileLimit`, the gateway runs with that many file descriptors at most; with
    /// `standardError`, its log goes there instead of into `log`.
    static func start(projects: URL, data: URL, arguments: [String] = [], apiToken: String? = nil,
                      openFileLimit: Int? = nil, standardError: Pipe? = nil) async throws -> GatewayProcess {
        let gateway = GatewayProcess(projects: projects, data: data)
        var arguments = arguments
        if let apiToken {
            let file = gateway.output.appendingPathExtension("token")
            try "\(apiToken)\n".write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--api-token-file", file.path]
            gateway.apiToken = apiToken
        }
        try gateway.launch(arguments, openFileLimit: openFileLimit, standardError: standardError)
        for _ in 0..<400 {
            if let port = gateway.listeningPort() {
                gateway.port = port
                return gateway
            }
            if !gateway.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("the gateway did not start: \(gateway.log)")
    }

    private func launch(_ arguments: [String], openFileLimit: Int?, standardError: Pipe?) throws {
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let arguments = ["gateway", "--projects", projects.path, "--data", data.path, "--host", "127.0.0.1", "--port", "0"] + arguments
        if let openFileLimit {
            // The shell sets the limit (soft and hard) and becomes the gateway: the same pid.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(openFileLimit) && exec \"$0\" \"$@\"", Brig.executable.path] + arguments
        } else {
            process.executableURL = Brig.executable
            process.arguments = arguments
        }
        // One handle for both streams: two handles on one file would overwrite each other.
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = standardError ?? handle
        try process.start(signalling: exited)
    }

    private func listeningPort() -> Int? {
        guard let range = log.range(of: "listening on http://127.0.0.1:") ?? log.range(of: "listening on https://127.0.0.1:") else { return nil }
        return Int(log[range.upperBound...].prefix { $0.isNumber })
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: output)
        try? FileManager.default.removeItem(at: output.appendingPathExtension("token"))
    }

    /// The gateway's process ID.
    var processIdentifier: Int32 { process.processIdentifier }

    /// The resident memory the kernel counts for the gateway's own (anonymous) pages, in
    /// bytes: its heap and stacks, not the mapped program files.
    var anonymousResidentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kib * 1024
    }

    /// Whether it has ended. Foundation notices an exit only when a socket the child held is
    /// closed; a crashing gateway starts `swift-backtrace`, which inherits that socket (and
    /// the listening one: requests wait, and are reset when it ends), and when the backtrace
    /// outlasts the gateway the kernel shows the gateway as a zombie long before Foundation
    /// sees the exit.
    private var hasDied: Bool { !process.isRunning || processHasEnded(process.processIdentifier) }

    /// The crash report when there is one (from its start), otherwise the end of the output.
    private var lastWords: String {
        let output = log
        if let crash = output.range(of: "💣") ?? output.range(of: "Fatal error") ?? output.range(of: "crashed") {
            return String(output[crash.lowerBound...].prefix(12_000))
        }
        return String(output.suffix(4_000))
    }

    /// Everything the gateway wrote to stdout and stderr.
    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Kills it without warning (as a crash would), and waits until it is gone.
    func crash() async {
        stopping.withLock { $0 = true }
        signalWhileRunning(SIGKILL)
        await exited.wait()
    }

    /// Asks it to stop as an operator would (SIGTERM), and waits.
    func stop() async {
        stopping.withLock { $0 = true }
        signalWhileRunning(SIGTERM)
        await exited.wait()
    }

    /// Only while it runs: Foundation's `terminate()` signals the pid it was given even after
    /// the process is gone, and pids come round again within a minute of this suite (32,768
    /// here), so a second stop could end another test's gateway.
    private func signalWhileRunning(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    struct Answer {
        let status: Int
        /// The answer's headers, by lower-case name (the first of each).
        let headers: [String: String]
        let body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        /// The body as a JSON array (build and job lists); nil when it is not one.
        var list: [[String: Any]]? { (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> Answer {
        var sent: [String: String] = [:]
        if let apiToken { sent["Authorization"] = "Bearer \(apiToken)" }
        sent.merge(headers) { $1 }
        // An empty value sends no such header at all.
        let reply: LoopbackHTTP.Reply
        do {
            reply = try await LoopbackHTTP.send(port: port, method, path, headers: sent.filter { !$0.value.isEmpty }.map { ($0.key, $0.value) },
                                                body: body)
        } catch where !stopping.withLock({ $0 }) && hasDied {
            // A gateway that died unasked explains the failure better than the socket does.
            throw TestFailure("\(method) \(path): \(error); the gateway had died. What it printed last:\n\(lastWords)")
        }
        var headers: [String: String] = [:]
        for (name, value) in reply.headers where headers[name.lowercased()] == nil { headers[name.lowercased()] = value }
        return Answer(status: reply.status, headers: headers, body: reply.body)
    }

    func post(_ path: String, _ body: Data, headers: [String: String] = [:]) async throws -> Answer {
        try await request("POST", path, body: body, headers: headers)
    }

    func get(_ path: String) async throws -> Answer {
        try await request("GET", path)
    }

    /// The build's JSON once it has ended (Succeeded or Failed).
    func finishedBuild(_ id: String, within seconds: Double = 30) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let build = try await get("/v1/build/\(id)").json
            if let status = build["status"] as? String, status == "Succeeded" || status == "Failed" { return build }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("build \(id) did not finish within \(seconds) s")
    }

    func logLines(_ id: String) async throws -> [String] {
        try await get("/v1/build/\(id)/logs").text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}
