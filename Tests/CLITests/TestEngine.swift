import Foundation
import Testing
import TestSupport

/// A private container engine for one test, of either kind the container runner talks to:
/// `dockerd`, or Podman's Docker-compatible service (`podman system service`). Each has its
/// own socket and data, no bridge network (jobs run with `NetworkMode: none`), and a busybox
/// image imported from Debian's busybox-static under the names the tests use. No registry
/// is reachable.
final class TestEngine: TestServer {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case docker, podman
        var testDescription: String { rawValue }
        var program: String? {
            let candidates = switch self {
            case .docker: ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            case .podman: ["/usr/bin/podman"]
            }
            return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
    }

    static let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { Kind.docker.program != nil && busybox != nil && getuid() == 0 }
    static let unavailableReason = "needs root, dockerd and busybox-static (apt-get install -y docker.io busybox-static)"
    /// The engines here: Docker always (the suite needs it), Podman where it is installed
    /// (`.ci/run` installs it, with runc).
    static let kinds = Kind.allCases.filter { $0.program != nil }

    /// Image names every test can use; all are the same busybox image.
    static let images = ["localhost/busybox:test", "svendowideit/testhook:latest", "alpine:3.18", "myregistry.azurecr.io/hello-world:v1"]

    let kind: Kind
    let root: URL
    let socket: String
    private let daemon = Process()
    private let exited = ExitSignal()

    /// Runs `body` with an engine of its own, stopped afterwards whatever `body` did. The
    /// waits (for the daemon to answer, to exit) sleep as tasks instead of blocking a thread
    /// of the cooperative pool that the package's tests share.
    /// - Parameter insecureRegistries: `host:port`s it may pull from over plain HTTP (dockerd
    ///   allows loopback ones anyway; Podman only those its configuration names).
    static func with<T>(_ kind: Kind = .docker, insecureRegistries: [String] = [],
                        _ body: (TestEngine) async throws -> T) async throws -> T {
        try await start(kind, insecureRegistries: insecureRegistries).use(body)
    }

    private init(kind: Kind) {
        self.kind = kind
        // Short paths: the daemon puts unix sockets under its exec root.
        root = URL(fileURLWithPath: "/tmp/be-\(UUID().uuidString.prefix(8))")
        socket = root.appendingPathComponent("engine.sock").path
    }

    private static func start(_ kind: Kind, insecureRegistries: [String]) async throws -> TestEngine {
        let engine = TestEngine(kind: kind)
        let log = engine.root.appendingPathComponent("engine.log")
        do {
            try engine.launch(log: log, insecureRegistries: insecureRegistries)
            for _ in 0..<200 {
                guard await !engine.ping() else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard await engine.ping() else { throw TestFailure("\(kind) did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")") }
            try await engine.importBusybox()
            return engine
        } catch {
            await engine.stop()
            throw error
        }
    }

    private func launch(log: URL, insecureRegistries: [String]) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        guard let program = kind.program else { throw TestFailure("\(kind) is not installed") }
        daemon.executableURL = URL(fileURLWithPath: program)
        switch kind {
        case .docker:
            daemon.arguments = [
                "--host", "unix://\(socket)", "--data-root", root.appendingPathComponent("data").path,
                "--exec-root", root.appendingPathComponent("x").path, "--pidfile", root.appendingPathComponent("pid").path,
                "--iptables=false", "--ip6tables=false", "--bridge=none",
            ]
        case .podman:
            // runc, not Debian's default crun, which refuses this machine's hybrid cgroups; vfs
            // storage leaves no mounts behind to undo; its own configuration, not the host's.
            let configuration = root.appendingPathComponent("containers.conf")
            try "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
                .write(to: configuration, atomically: true, encoding: .utf8)
            let registries = root.appendingPathComponent("registries.conf")
            try insecureRegistries.map { "[[registry]]\nlocation = \"\($0)\"\ninsecure = true\n" }.joined()
                .write(to: registries, atomically: true, encoding: .utf8)
            var environment = ProcessInfo.processInfo.environment
            environment["CONTAINERS_CONF"] = configuration.path
            environment["CONTAINERS_REGISTRIES_CONF"] = registries.path
            daemon.environment = environment
            daemon.arguments = [
                "--root", root.appendingPathComponent("storage").path, "--runroot", root.appendingPathComponent("run").path,
                "--tmpdir", root.appendingPathComponent("tmp").path, "--storage-driver", "vfs",
                "--network-config-dir", root.appendingPathComponent("networks").path,
                "system", "service", "--time=0", "unix://\(socket)",
            ]
        }
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
            // dockerd stops its containers as it stops; Podman's service leaves them running
            // (each has a monitor process of its own), so a failed test's are removed first.
            if kind == .podman, let all = try? await curl(["http://engine/v1.41/containers/json?all=1"]),
               let containers = (try? JSONSerialization.jsonObject(with: Data(all.utf8))) as? [[String: Any]] {
                for id in containers.compactMap({ $0["Id"] as? String }) {
                    _ = try? await curl(["-X", "DELETE", "http://engine/v1.41/containers/\(id)?force=1"])
                }
            }
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
        return String(decoding: try await process.runCollectingOutput().stdout, as: UTF8.self)
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
                  "http://engine/v1.41/images/create?fromSrc=-&repo=localhost/busybox&tag=latest"])
        // Then the names: Podman's import leaves out the tag it is given (always `latest`).
        for name in Self.images {
            let colon = name.lastIndex(of: ":")!
            let repository = String(name[..<colon]).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            try await curl(["-X", "POST", "http://engine/v1.41/images/localhost/busybox:latest/tag?repo=\(repository)&tag=\(name[name.index(after: colon)...])"])
        }
    }
}
