import BrigantineCore
import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a job's tasks on this machine with the job's shell, as Brigade's container would
/// have run `/hook/main.sh`, but without the image: for authoring and testing scripts.
///
/// - Each job gets its own working directory (also its `HOME`) inside the build directory.
/// - `storage.enabled`: the build's shared directory; `cache.enabled`: a directory kept per
///   project and job under `cacheRoot`; `useSource` (with a source): a copy of the build's
///   source. Their paths in the script and in `env` values (`/mnt/brigade/share`,
///   `/mnt/brigade/cache`, `/src` by default) are rewritten to the real directories, which
///   are also in `BRIGADE_STORAGE`, `BRIGADE_CACHE` and `BRIGADE_SOURCE`.
/// - The environment is the job's `env` plus PATH, HOME, TMPDIR and LANG: nothing else of
///   the host's environment reaches a job.
/// - The job runs in its own process group; on timeout or cancellation the whole group is killed.
public struct LocalRunner: JobRunner {
    public let name = "local"
    public let cacheRoot: URL
    /// Output kept for a job's Result; beyond it, the rest is dropped with a note.
    public let maxOutputBytes: Int

    public init(cacheRoot: URL, maxOutputBytes: Int = 16 << 20) {
        self.cacheRoot = cacheRoot
        self.maxOutputBytes = maxOutputBytes
    }

    public func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        try job.validateForProcess()
        guard var script = job.script else {
            context.log.log(.warn, name, "job \(job.podName) has no tasks; the local runner cannot run the "
                + "default command of image '\(job.image)', so it succeeds without running anything")
            return JobOutput(output: "", exitCode: 0)
        }
        let workDirectory = context.buildDirectory.appendingPathComponent("jobs/\(job.podName)", isDirectory: true)
        let temporary = workDirectory.appendingPathComponent(".tmp", isDirectory: true)
        // A full disk or a directory in the way is the job's failure to start, said plainly.
        func preparing<T>(_ what: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch {
                throw JobFailure.cannotStart("cannot prepare job \(job.podName): \(what): \(fileErrorReason(error))")
            }
        }
        try preparing("cannot make \(temporary.path)") {
            try makeDirectories(temporary)
        }

        var mounts: [(from: String, to: String)] = []
        var environment: [(String, String)] = [
            ("PATH", ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"),
            ("HOME", workDirectory.path),
            ("TMPDIR", temporary.path),
            ("LANG", "C.UTF-8"),
        ]
        if job.storage.enabled {
            let shared = context.sharedStorage
            try preparing("cannot make \(shared.path)") {
                try makeDirectories(shared)
            }
            mounts.append((job.storage.path, shared.path))
            environment.append(("BRIGADE_STORAGE", shared.path))
        }
        if job.cache.enabled {
            let cache = cacheRoot.appendingPathComponent(job.cacheName(project: context.projectName), isDirectory: true)
            try preparing("cannot make \(cache.path)") {
                try makeDirectories(cache)
            }
            mounts.append((job.cache.path, cache.path))
            environment.append(("BRIGADE_CACHE", cache.path))
        }
        if let source = try context.sourceCopy(for: job) {
            mounts.append((job.mountPath, source.path))
            environment.append(("BRIGADE_SOURCE", source.path))
        }
        func mapped(_ text: String) -> String { Self.rewrite(text, mounts: mounts) }
        script = mapped(script)
        environment += job.env.map { ($0.name, mapped($0.value)) }

        let scriptFile = workDirectory.appendingPathComponent(".main.sh")
        try preparing("cannot write \(scriptFile.path)") { try Data(script.utf8).write(to: scriptFile) }

        context.log.log(.log, name, "Starting job \(job.podName) in \(workDirectory.path)")
        context.log.log(.log, name, "Timeout set at \(formatMilliseconds(job.timeout)) milliseconds")
        let output = OutputCollector(limit: maxOutputBytes, redactor: context.log.redactor) { line in
            if job.streamLogs { context.log.jobOutputLine(runner: name, podName: job.podName, line) }
        }
        let exit = try await execute(
            interpreter: job.interpreter, scriptFile: scriptFile, environment: environment,
            workDirectory: workDirectory, timeLimit: job.timeLimit, output: output)
        return try exit.outcome(of: job, output: output.finish(), runner: name, log: context.log)
    }

    /// `text` with each mount's path replaced where it stands as a path of its own: `/src`
    /// in `cd /src/app` or `DIR=/src`, not in `/usr/src` or `/srcdir`. One pass for all of
    /// them, so that a directory put in for one (say, under a `/src` on the host) is not
    /// rewritten again for another.
    static func rewrite(_ text: String, mounts: [(from: String, to: String)]) -> String {
        let targets = Dictionary(mounts.filter { !$0.from.isEmpty }.map { ($0.from, $0.to) }, uniquingKeysWith: { first, _ in first })
        guard !targets.isEmpty else { return text }
        // Longest first: of `/data` and `/data/x`, the longer one is the path meant.
        let alternatives = targets.keys.sorted { $0.count > $1.count }.map(NSRegularExpression.escapedPattern(for:))
        let pattern = "(?<![A-Za-z0-9_.~/])(" + alternatives.joined(separator: "|") + ")(?![A-Za-z0-9_.~-])"
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return text }
        var result = ""
        var rest = text.startIndex
        for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let range = Range(match.range, in: text) else { continue }
            result += text[rest..<range.lowerBound] + (targets[String(text[range])] ?? String(text[range]))
            rest = range.upperBound
        }
        return result + text[rest...]
    }

    private func execute(
        interpreter: String, scriptFile: URL, environment: [(String, String)],
        workDirectory: URL, timeLimit: Duration, output: OutputCollector
    ) async throws -> JobExit {
        var options = PlatformOptions()
        options.processGroupID = 0 // a group of its own, so that a kill reaches its children too
        let running = Mutex<ProcessIdentifier?>(nil)
        // What the job left running in its group (`server &`) ends with it, as a pod's
        // processes ended with the pod. The group's number stays its own while a member
        // lives, so this reaches no one else's processes.
        defer { running.withLock { pid in if let pid { _ = kill(-pid.value, SIGKILL) } } }
        let outcome: ExecutionResult<Bool, SequenceOutput, CombinedErrorOutput>
        do {
            outcome = try await withTaskCancellationHandler {
                try await Subprocess.run(
                    .path(FilePath(interpreter)), arguments: [scriptFile.path],
                    environment: .custom(environment.map { Array("\($0.0)=\($0.1)\0".utf8) }),
                    workingDirectory: FilePath(workDirectory.path), platformOptions: options,
                    input: .none, output: .sequence, error: .combinedWithOutput
                ) { execution in
                    running.withLock { $0 = execution.processIdentifier }
                    if Task.isCancelled { try? execution.send(signal: .kill, toProcessGroup: true) }
                    return try await Self.readOutput(of: execution, into: output, timeLimit: timeLimit)
                }
            } onCancel: {
                running.withLock { pid in
                    if let pid { _ = kill(-pid.value, SIGKILL) }
                }
            }
        } catch let error as SubprocessError {
            // Not the error's own description: it can quote environment values, which hold secrets.
            let reason = error.code == .executableNotFound ? "not found" : error.underlyingError.map { "\($0)" } ?? "\(error.code)"
            throw JobFailure.cannotStart("cannot run the job's shell \(interpreter): \(reason)")
        }
        if outcome.closureResult { return .timedOut }
        switch outcome.terminationStatus {
        case .exited(let code): return .exited(code)
        case .signaled(let signal): return .exited(128 + signal)
        }
    }

    /// Reads the job's output until it ends; true when the timeout killed the job first.
    private static func readOutput(
        of execution: Execution<NoInput, SequenceOutput, CombinedErrorOutput>,
        into output: OutputCollector, timeLimit: Duration
    ) async throws -> Bool {
        // Set before the kill: once killed, the reader can see the end of the output before
        // the timer's task returns, and the job looked like one that failed (exit 137).
        let killedAtLimit = KilledAtLimit()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await buffer in execution.standardOutput {
                    buffer.withUnsafeBytes { output.append($0) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeLimit)
                killedAtLimit.set()
                try? execution.send(signal: .kill, toProcessGroup: true)
            }
            try await group.next()
            let timedOut = killedAtLimit.isSet
            if timedOut {
                // Killed: give the reader a moment to collect what was written before (if
                // it has not finished, the timer's task has).
                group.addTask { try await Task.sleep(for: .seconds(2)) }
                _ = try? await group.next()
            }
            group.cancelAll()
            return timedOut
        }
    }
}

/// Whether a job's timer killed it, shared by the timer's task and the one that waits.
private final class KilledAtLimit: Sendable {
    private let killed = Atomic<Bool>(false)
    func set() { killed.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { killed.load(ordering: .sequentiallyConsistent) }
}

/// Collects a job's output up to a limit and hands complete lines, each up to 64 KiB, to a
/// callback. Where it cuts a line or the output short, the last bytes are masked if they
/// could begin one of the build's secrets: the log masks whole secrets, not their first part.
final class OutputCollector: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var dropped = 0
        var partialLine: [UInt8] = []
        var lineCut = false
    }

    static let maxLineBytes = 64 << 10
    private let state = Mutex(State())
    private let limit: Int
    private let redactor: SecretRedactor
    private let onLine: @Sendable (String) -> Void

    init(limit: Int, redactor: SecretRedactor = .none, onLine: @escaping @Sendable (String) -> Void) {
        self.limit = limit
        self.redactor = redactor
        self.onLine = onLine
    }

    func append(_ chunk: UnsafeRawBufferPointer) {
        let lines: [String] = state.withLock { state in
            let room = max(0, limit - state.bytes.count)
            state.bytes += chunk.prefix(room)
            state.dropped += max(0, chunk.count - room)
            var lines: [String] = []
            for byte in chunk {
                if byte == 0x0A {
                    lines.append(takeLine(&state))
                } else if state.partialLine.count < Self.maxLineBytes {
                    state.partialLine.append(byte)
                } else {
                    state.lineCut = true
                }
            }
            return lines
        }
        lines.forEach(onLine)
    }

    private func takeLine(_ state: inout State) -> String {
        if state.lineCut { redactor.maskSecretStart(atEndOf: &state.partialLine) }
        defer {
            state.partialLine.removeAll(keepingCapacity: true)
            state.lineCut = false
        }
        return String(decoding: state.partialLine, as: UTF8.self)
    }

    /// How many bytes have been appended, kept or dropped.
    var received: Int { state.withLock { $0.bytes.count + $0.dropped } }

    /// The collected text; an unfinished last line is passed to the callback too.
    func finish() -> String {
        let (bytes, dropped, partial) = state.withLock { state in
            if state.dropped > 0 { redactor.maskSecretStart(atEndOf: &state.bytes) }
            let partial = state.partialLine.isEmpty ? nil : takeLine(&state)
            return (state.bytes, state.dropped, partial)
        }
        if let partial { onLine(partial) }
        var text = String(decoding: bytes, as: UTF8.self)
        if dropped > 0 { text += "\n[brigantine: \(dropped) more bytes of output were dropped]\n" }
        return text
    }
}
