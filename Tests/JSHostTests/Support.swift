import Foundation
import JSHost

/// A context whose console output is collected, with a scratch directory as module root.
final class TestHost {
    let directory: URL
    let context: ScriptContext
    private(set) var stdout: [String] = []
    private(set) var stderr: [String] = []

    init(entryTimeLimit: Double? = 5) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("jshost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        context = try ScriptContext(runtime: JSRuntime(entryTimeLimit: entryTimeLimit), moduleRoots: [directory.path])
        context.onOutput = { [unowned self] stream, text in
            let lines = text.components(separatedBy: "\n")
            if stream == .stdout { stdout += lines } else { stderr += lines }
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes a file under the scratch directory and returns its path.
    @discardableResult
    func write(_ relativePath: String, _ contents: String) throws -> String {
        let url = directory.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Loads `source` as main module `main.js` and runs the loop until idle. The default
    /// deadline only bounds a failure: host operations settle from the cooperative pool,
    /// which the whole suite shares and which can be busy for seconds on a loaded machine.
    @discardableResult
    func run(_ source: String, deadline: Duration = .seconds(60)) throws -> EventLoop.StopReason {
        let path = try write("main.js", source)
        try context.loadMainModule(path)
        return try context.runLoop(until: .now + deadline)
    }

    func evaluate(_ source: String) throws -> String {
        context.string(from: try context.evaluate(source))
    }
}

/// Runs `body` on a thread of its own, waiting without holding a thread of the cooperative
/// pool: host operations (Swift tasks) settle a script's promises from that pool, and a
/// test blocking one of its two threads here, beside others, can starve them.
func onOwnThread<T: Sendable>(_ body: @escaping () throws -> T) async throws -> T {
    nonisolated(unsafe) let body = body
    return try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Runs `body` on a thread of its own and waits up to `seconds` for it: false when it has
/// not ended by then (it is left running), so that a script the host fails to stop fails
/// the test instead of hanging the suite.
func finishes(within seconds: Double, _ body: @escaping () -> Void) -> Bool {
    nonisolated(unsafe) let body = body
    let ended = DispatchSemaphore(value: 0)
    Thread {
        body()
        ended.signal()
    }.start()
    return ended.wait(timeout: .now() + seconds) == .success
}
