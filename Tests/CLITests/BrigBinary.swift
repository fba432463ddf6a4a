import Foundation
import TestSupport

/// Runs the `brig` executable built beside the test bundle, from the package root.
enum Brig {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var executable: URL {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("brig")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        return packageRoot.appendingPathComponent(".build/debug/brig")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String

        var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast(stdout.hasSuffix("\n") ? 1 : 0) }
        /// Lines the script printed (the worker's `[brigade…]` lines left out).
        var printed: [String] { stdoutLines.filter { !$0.hasPrefix("[brigade") } }
    }

    /// Runs `brig <arguments>` with a private data directory and waits for it.
    /// - Parameter input: what the process reads on its standard input.
    /// - Parameter killAfter: how long it may run before it is killed (for a command that
    ///   should stop by itself, such as a gateway that must refuse to start).
    static func run(_ arguments: [String], data: URL? = nil, input: Data? = nil, killAfter: Duration? = nil,
                    environment extra: [String: String] = [:]) async throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = (data ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("brig-cli-\(UUID().uuidString)")).path
        process.environment = environment.merging(extra) { $1 }
        if let input {
            let inFile = FileManager.default.temporaryDirectory.appendingPathComponent("brig-in-\(UUID().uuidString)")
            try input.write(to: inFile)
            defer { try? FileManager.default.removeItem(at: inFile) } // the open handle keeps it readable
            process.standardInput = try FileHandle(forReadingFrom: inFile)
        }
        let deadline = killAfter.map { limit in
            Task {
                try await Task.sleep(for: limit)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        defer { deadline?.cancel() }
        let (outData, errData) = try await process.runCollectingOutput()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}
