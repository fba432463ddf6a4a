import Foundation
import Synchronization

/// A disposable PostgreSQL cluster for one test: its own directory, listening only on a
/// unix socket there (no port to collide on, nothing reachable from outside), stopped and
/// removed by `stop()`. Needs Debian's `postgresql` package (`.ci/run` installs it).
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

    public static func start() async throws -> PostgresServer {
        let server = try PostgresServer()
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

    private init() throws {
        guard let installed = Self.installed else { throw TestFailure(Self.unavailableReason) }
        binaries = installed
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
        configure(process, "postgres", ["-D", data, "-c", "listen_addresses=", "-k", directory.path, "-c", "fsync=off"])
        process.standardOutput = log
        process.standardError = log
        try process.start(signalling: exited)
        postmaster.withLock { $0 = (process, exited) }
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
