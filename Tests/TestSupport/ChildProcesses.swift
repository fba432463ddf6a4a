import Foundation

extension Process {
    /// Every test's process starts under this lock. Foundation notices a child's exit when
    /// a socket it handed the child is closed by all who hold it. It makes that socket
    /// without close-on-exec and, before spawning, lists the descriptors to close in the
    /// child: a socket made by another thread's `run()` in between leaks into this child,
    /// and the other child's exit then goes unnoticed for as long as this one lives. The
    /// package's tests start gateways, engines and tools from many tasks at once.
    private static let starting = NSLock()

    /// Starts the process; `exited` (a new one unless given) is set when it ends.
    @discardableResult
    public func start(signalling exited: ExitSignal = ExitSignal()) throws -> ExitSignal {
        terminationHandler = { _ in exited.signal() } // set before run(): no exit is missed
        try Self.starting.withLock { try run() }
        return exited
    }

    /// Runs the process and waits for it to end without holding a thread of the cooperative
    /// pool: tests of the whole package share that pool, and a test blocked on a process
    /// for seconds starves other tests' Swift tasks (host operations, jobs).
    public func runUntilExit() async throws {
        try await start().wait()
    }

    /// Runs the process to its end and returns what it wrote to stdout and to stderr (with
    /// `mergingErrors`, both into `stdout`). Files rather than pipes: nothing to drain while
    /// it runs, and the wait is a task's.
    public func runCollectingOutput(mergingErrors: Bool = false) async throws -> (stdout: Data, stderr: Data) {
        let name = UUID().uuidString
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(name)")
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(name)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outFile)
            try? FileManager.default.removeItem(at: errFile)
        }
        let out = try FileHandle(forWritingTo: outFile)
        standardOutput = out
        standardError = mergingErrors ? out : try FileHandle(forWritingTo: errFile)
        try await runUntilExit()
        return (try Data(contentsOf: outFile), try Data(contentsOf: errFile))
    }
}

/// Whether process `pid` has ended: gone, or a zombie (exited, not yet reaped, and so still
/// answering `kill(pid, 0)`).
public func processHasEnded(_ pid: Int32) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return status.split(separator: ")").last?.split(separator: " ").first == "Z"
}
