import Foundation
import TestSupport

/// A private registry for one test: Debian's `docker-registry` (the CNCF distribution
/// registry) on a loopback port, asking for a username and password (htpasswd, bcrypt).
/// Engines reach 127.0.0.0/8 registries over plain HTTP without being told to.
final class TestRegistry: TestServer {
    static let binary = "/usr/bin/docker-registry"
    static let htpasswd = "/usr/bin/htpasswd"
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.isExecutableFile(atPath: htpasswd)
    }
    static let unavailableReason = "needs docker-registry and apache2-utils (apt-get install -y docker-registry apache2-utils)"

    let root = URL(fileURLWithPath: "/tmp/br-\(UUID().uuidString.prefix(8))")
    /// `127.0.0.1:<port>`, the registry part of its images' names.
    let host: String
    private let process = Process()
    private let exited = ExitSignal()

    static func with<T>(username: String, password: String, _ body: (TestRegistry) async throws -> T) async throws -> T {
        try await start(username: username, password: password).use(body)
    }

    private init(port: Int) {
        host = "127.0.0.1:\(port)"
    }

    private static func start(username: String, password: String) async throws -> TestRegistry {
        let registry = TestRegistry(port: try freePort())
        try FileManager.default.createDirectory(at: registry.root, withIntermediateDirectories: true)
        let passwords = registry.root.appendingPathComponent("htpasswd")
        let hasher = Process()
        hasher.executableURL = URL(fileURLWithPath: htpasswd)
        hasher.arguments = ["-B", "-b", "-c", passwords.path, username, password]
        hasher.standardError = FileHandle.nullDevice
        try await hasher.runUntilExit()
        let config = registry.root.appendingPathComponent("config.yml")
        try """
            version: 0.1
            log: {level: error}
            storage: {filesystem: {rootdirectory: \(registry.root.appendingPathComponent("data").path)}}
            http: {addr: "\(registry.host)"}
            auth: {htpasswd: {realm: brigantine-test, path: \(passwords.path)}}
            """.write(to: config, atomically: true, encoding: .utf8)
        registry.process.executableURL = URL(fileURLWithPath: binary)
        registry.process.arguments = ["serve", config.path]
        let log = registry.root.appendingPathComponent("registry.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        registry.process.standardOutput = try FileHandle(forWritingTo: log)
        registry.process.standardError = try FileHandle(forWritingTo: log)
        try registry.process.start(signalling: registry.exited)
        // Up once /v2/ asks for the password.
        for _ in 0..<200 {
            if await registry.status(of: "/v2/") == 401 { return registry }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        await registry.stop()
        throw TestFailure("the registry did not start: \(text)")
    }

    /// The HTTP status of a GET (curl: Foundation's client waits forever on a Basic challenge here).
    func status(of path: String) async -> Int {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://\(host)\(path)"]
        let output = root.appendingPathComponent("status-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        guard let handle = try? FileHandle(forWritingTo: output) else { return 0 }
        curl.standardOutput = handle
        guard (try? await curl.runUntilExit()) != nil else { return 0 }
        return Int((try? String(contentsOf: output, encoding: .utf8)) ?? "") ?? 0
    }

    func stop() async {
        if process.isRunning {
            process.terminate()
            await exited.wait()
        }
        try? FileManager.default.removeItem(at: root)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// A loopback port nobody listens on now.
    private static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
