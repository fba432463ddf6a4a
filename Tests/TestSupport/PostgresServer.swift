import Foundation
import Synchronization

/// A disposable PostgreSQL cluster: its own directory, listening only on a unix socket there
/// (no port to collide on, nothing reachable from outside), stopped and removed by `stop()`.
/// Needs Debian's `postgresql` package (`.ci/run` installs it).
///
/// Most tests need only databases of their own, which they make on the one server the test
/// process shares (`withShared`). A cluster per test cost an `initdb` each: some twenty at
/// the suite's start took both cores for about 25 s and stalled every other test past its
/// bounds. A test that stops or restarts its server has one of its own (`with`).
///
/// The postmaster is this process's own child, not a daemon started by `pg_ctl`: a daemon
/// inherits the socket by which Foundation notices `pg_ctl`'s exit (see `Process.start`),
/// so `pg_ctl start` would never be seen to end.
public final class PostgresServer: Sendable, TestServer {
    public let directory: URL
    private let binaries: URL
    /// The running postmaster and what settles when it exits (a new pair at each start).
    private let postmaster = Mutex<(process: Process, exited: ExitSignal)?>(nil)

    /// The newest installed server's programs (Debian keeps each major version apart).
    private static let installed: URL? = {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { $0.compare($1, options: .numeric) == .orderedAscending }.last
            .map { URL(fileURLWithPath: "/usr/lib/postgresql/\($0)/bin") }
            .flatMap { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("postgres").path) ? $0 : nil }
    }()
    public static var available: Bool { installed != nil }
    public static let unavailableReason = "needs PostgreSQL's server (apt-get install -y postgresql)"

    /// Runs `body` with a server of its own, stopped and removed afterwards whatever `body` did.
    public static func with<T>(_ body: (PostgresServer) async throws -> T) async throws -> T {
        try await start().use(body)
    }

    /// Runs `body` with the server this test process shares. It is never stopped by a test:
    /// make a database of your own on it (`makeDatabase`) and leave the server as it is.
    public static func withShared<T>(_ body: (PostgresServer) async throws -> T) async throws -> T {
        try await body(try await shared.value)
    }

    /// Started on first use, stopped as the test process exits (`atexit`).
    private static let shared = Task<PostgresServer, any Error> {
        // Some tests at once, each with a pool of up to 20 connections, and gateways with theirs.
        let server = try await start(settings: ["max_connections=1000"])
        sharedAtExit.withLock { $0 = (server.postmasterID, server.directory.path) }
        atexit {
            // Never 0 or less: kill() would then signal this process's group, the tests included.
            guard let (postmaster, directory) = PostgresServer.sharedAtExit.withLock({ $0 }), postmaster > 0 else { return }
            kill(postmaster, SIGQUIT)
            for _ in 0..<50 where kill(postmaster, 0) == 0 { usleep(20_000) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        return server
    }
    /// What the exit handler (a C function, which captures nothing) stops and removes.
    private static let sharedAtExit = Mutex<(pid_t, String)?>(nil)

    public static func start(settings: [String] = []) async throws -> PostgresServer {
        let server = try PostgresServer(settings: settings)
        do {
            try await server.run("initdb", "-D", server.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
            try server.startPostmaster()
            try await server.waitUntilReady()
        } catch {
            await server.stop()
            throw error
        }
        return server
    }

    /// `name=value` settings the postmaster starts with.
    private let settings: [String]

    private init(settings: [String]) throws {
        guard let installed = Self.installed else { throw TestFailure(Self.unavailableReason) }
        binaries = installed
        self.settings = settings
        directory = URL(fileURLWithPath: "/tmp/brigantine-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // initdb and postgres refuse to run as root: the cluster is then the postgres user's.
        if getuid() == 0 {
            guard let owner = getpwnam("postgres") else { throw TestFailure("no postgres user") }
            chown(directory.path, owner.pointee.pw_uid, owner.pointee.pw_gid)
        }
    }

    private var data: String { directory.appendingPathComponent("data").path }
    private var logFile: URL { directory.appendingPathComponent("server.log") }

    /// A new, empty database; returns its URL.
    public func makeDatabase(_ name: String = "b\(UUID().uuidString.prefix(8).lowercased())") async throws -> String {
        try await run("createdb", "-h", directory.path, "-U", "postgres", name)
        return "postgres://postgres@/\(name)?host=\(directory.path)"
    }

    /// Immediate shutdown (SIGQUIT): the test is over, nothing needs to be kept.
    public func stop() async {
        await signal(SIGQUIT)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Stops the server as an operator would (fast shutdown: clients are disconnected), and
    /// keeps its data for `restart()`.
    public func pause() async {
        await signal(SIGINT)
    }

    public func restart() async throws {
        try startPostmaster()
        try await waitUntilReady()
    }

    private func signal(_ signal: Int32) async {
        guard let (process, exited) = postmaster.withLock({ $0 }), process.isRunning else { return }
        kill(process.processIdentifier, signal)
        await exited.wait()
    }

    private func startPostmaster() throws {
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        let process = Process(), exited = ExitSignal()
        let settings = (["listen_addresses=", "fsync=off"] + settings).flatMap { ["-c", $0] }
        configure(process, "postgres", ["-D", data, "-k", directory.path] + settings)
        process.standardOutput = log
        process.standardError = log
        try process.start(signalling: exited)
        postmaster.withLock { $0 = (process, exited) }
    }

    private var postmasterID: pid_t {
        postmaster.withLock { $0?.process.processIdentifier } ?? 0
    }

    private func waitUntilReady() async throws {
        for _ in 0..<300 {
            if postmaster.withLock({ $0?.process.isRunning }) != true { break }
            if (try? await run("pg_isready", "-q", "-h", directory.path, "-U", "postgres")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        throw TestFailure("PostgreSQL did not start: \(log)")
    }

    /// The rows `sql` gives on the database at `url`, as psql prints them unaligned.
    public func query(_ url: String, _ sql: String) async throws -> String {
        try await run("psql", "-qAtX", url, "-c", sql).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: String...) async throws -> String {
        let process = Process()
        configure(process, tool, arguments)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try await process.runUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(tool) failed (\(process.terminationStatus)): \(text)")
        }
        return text
    }

    /// As root, the tool runs as the postgres user; `setpriv` execs it (no intermediate
    /// parent), so signals reach the tool itself.
    private func configure(_ process: Process, _ tool: String, _ arguments: [String]) {
        let path = binaries.appendingPathComponent(tool).path
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
    }
}
