import Foundation
import Synchronization

/// One line of a build's log.
public struct LogLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public let stream: Stream
    public let text: String

    public init(_ stream: Stream, _ text: String) {
        self.stream = stream
        self.text = text
    }
}

/// A build's log: the script's console output, job output and the worker's own
/// `[brigade…]` messages, with every project secret masked before a line leaves.
///
/// Safe to use from any thread (jobs stream their output from their own tasks).
public final class BuildLog: Sendable {
    public let level: LogLevel
    /// The build's secrets, for output that is cut before it reaches the log.
    public let redactor: SecretRedactor
    private let sink: @Sendable (LogLine) -> Void
    /// Most bytes of script and job output kept; the worker's own messages are always kept.
    public let maxOutputBytes: Int?
    private let written = Mutex<(bytes: Int, full: Bool)>((0, false))

    public init(level: LogLevel = .log, redactor: SecretRedactor = .none, maxOutputBytes: Int? = nil,
                sink: @escaping @Sendable (LogLine) -> Void) {
        self.level = level
        self.redactor = redactor
        self.maxOutputBytes = maxOutputBytes
        self.sink = sink
    }

    /// Output of the script or of a job: shown whatever the level, up to `maxOutputBytes`.
    public func write(_ stream: LogLine.Stream, _ text: String) {
        if let limit = maxOutputBytes {
            let (accepted, justFilled) = written.withLock { state -> (Bool, Bool) in
                if state.full { return (false, false) }
                state.bytes += text.utf8.count
                if state.bytes <= limit { return (true, false) }
                state.full = true
                return (false, true)
            }
            if justFilled {
                sink(LogLine(.stderr, "[brigade] the build's output reached its limit of \(Self.describe(bytes: limit)); later output is dropped"))
            }
            guard accepted else { return }
        }
        send(stream, masked: redactor.redact(text))
    }

    /// A line of a job's output that the job streams (`streamLogs`): shown as a worker
    /// message at `log` level, `[brigade:<runner>] <pod> logs <line>`, but it is output all
    /// the same and counts toward `maxOutputBytes` (a job streaming gigabytes filled the store).
    public func jobOutputLine(runner: String, podName: String, _ line: String) {
        guard LogLevel.log >= level else { return }
        write(.stdout, "[brigade:\(runner)] \(podName) logs \(line)")
    }

    /// Masked whole before the split, so that a secret of several lines is masked as one.
    private func send(_ stream: LogLine.Stream, masked text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            sink(LogLine(stream, String(line)))
        }
    }

    /// A limit as people read it: `16 MiB`, or `1000 bytes`.
    public static func describe(bytes: Int) -> String {
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }

    /// Most bytes of one worker message: kept whatever the output limit, so bounded on its
    /// own (a message can carry a script's error, and a script can make that 30 MB).
    public static let maxMessageBytes = 64 << 10

    /// A worker message, `[brigade:<component>] message`, shown when `messageLevel` is at
    /// or above the build's level. Warnings and errors go to stderr, as in Brigade.
    public func log(_ messageLevel: LogLevel, _ component: String?, _ message: String) {
        guard messageLevel >= level, messageLevel != .none else { return }
        let prefix = component.map { "[brigade:\($0)]" } ?? "[brigade]"
        send(messageLevel >= .warn ? .stderr : .stdout,
             masked: redactor.redact("\(prefix) \(message)", atMostBytes: Self.maxMessageBytes))
    }

}
