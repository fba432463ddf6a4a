import Foundation
import TestSupport

/// A private `dockerd` for one test: its own socket, data and exec roots, no bridge network
/// (jobs run with `NetworkMode: none`), and a busybox image imported from Debian's
/// busybox-static under the names the tests use. No registry is reachable.
final class TestEngine: TestServer {
    static let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { dockerd != nil && busybox != nil && getuid() == 0 }
    static let unavailableReason = "needs root, dockerd and busybox-static (apt-get install -y docker.io busybox-static)"

    /// Image names every test can use; all are the same busybox image.
    static let images = ["localhost/busybox:test", "svendowideit/testhook:latest", "alpine:3.18", "myregistry.azurecr.io/hello-world:v1"]

    let root: URL
    let socket: String
    private let daemon = Process()
    private let exited = ExitSignal()

    /// Runs `body` with an engine of its own, stopped afterwards whatever `body` did. The
    /// waits (for the daemon to answer, to exit) sleep as tasks instead of blocking a thread
    /// of the cooperative pool that the package's tests share.
    static func with<T>(_ body: (TestEngine) async throws -> T) async throws -> T {
        try await start().use(body)
    }

    private init() {
        // Short paths: the daemon puts unix sockets under its exec root.
        root = URL(fileURLWithPath: "/tmp/be-\(UUID().uuidString.prefix(8))")
        socket = root.appendingPathComponent("docker.sock").path
    }

    private static func start() async throws -> TestEngine {
        let engine = TestEngine()
        let log = engine.root.appendingPathComponent("dockerd.log")
        do {
            try engine.launch(log: log)
            for _ in 0..<200 {
                guard await !engine.ping() else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard await engine.ping() else { throw TestFailure("dockerd did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")") }
            try await engine.importBusybox()
            return engine
        } catch {
            await engine.stop()
            throw error
        }
    }

    private func launch(log: URL) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        daemon.executableURL = URL(fileURLWithPath: Self.dockerd!)
        daemon.arguments = [
            "--host", "unix://\(socket)", "--data-root", root.appendingPathComponent("data").path,
            "--exec-root", root.appendingPathComponent("x").path, "--pidfile", root.appendingPathComponent("pid").path,
            "--iptables=false", "--ip6tables=false", "--bridge=none",
        ]
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        daemon.standardOutput = handle
        daemon.standardError = handle
        try daemon.start(signalling: exited)
    }

    deinit {
        // Only if a test lost it without stopping it: don't leave a daemon behind.
        if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
    }

    func stop() async {
        if daemon.isRunning {
            daemon.terminate()
            await exited.wait()
        }
        try? FileManager.default.removeItem(at: root)
    }

    // MARK: Talking to it (curl keeps these helpers short; the product uses its own client)

    @discardableResult
    func curl(_ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-s", "--max-time", "60", "--unix-socket", socket] + arguments
        let output = root.appendingPathComponent("curl-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        process.standardOutput = try FileHandle(forWritingTo: output)
        try await process.runUntilExit()
        return try String(contentsOf: output, encoding: .utf8)
    }

    func ping() async -> Bool {
        (try? await curl(["http://engine/_ping"])) == "OK"
    }

    /// Containers this project's runners labelled, running or not.
    func managedContainers() async throws -> [[String: Any]] {
        let filter = #"{"label":["brigantine.managed=true"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let text = try await curl(["http://engine/v1.41/containers/json?all=1&filters=\(filter)"])
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
    }

    func volumes() async throws -> [String] {
        let text = try await curl(["http://engine/v1.41/volumes"])
        let volumes = (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["Volumes"] as? [[String: Any]]
        return (volumes ?? []).compactMap { $0["Name"] as? String }
    }

    private func importBusybox() async throws {
        let rootfs = root.appendingPathComponent("rootfs")
        for directory in ["bin", "tmp", "etc", "proc", "sys", "dev", "root"] {
            try FileManager.default.createDirectory(at: rootfs.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: Self.busybox!, toPath: rootfs.appendingPathComponent("bin/busybox").path)
        for applet in ["sh", "echo", "cat", "sleep", "ls", "date", "env", "touch", "test", "[", "true", "false", "id", "mkdir", "wc"] {
            try FileManager.default.createSymbolicLink(atPath: rootfs.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\n".write(to: rootfs.appendingPathComponent("etc/passwd"), atomically: true, encoding: .utf8)
        let tarball = root.appendingPathComponent("rootfs.tar").path
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-C", rootfs.path, "-cf", tarball, "."]
        try await tar.runUntilExit()
        try await curl(["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary", "@\(tarball)",
                  "http://engine/v1.41/images/create?fromSrc=-&repo=localhost/busybox&tag=test"])
        for name in Self.images.dropFirst() {
            let colon = name.lastIndex(of: ":")!
            let repository = String(name[..<colon]).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            try await curl(["-X", "POST", "http://engine/v1.41/images/localhost/busybox:test/tag?repo=\(repository)&tag=\(name[name.index(after: colon)...])"])
        }
    }
}
