import Foundation
import Synchronization

/// One line of a build's log, or a piece of a line longer than `BuildLog.maxLineBytes`.
public struct LogLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public let stream: Stream
    public let text: String
    /// The line goes on in the next: whoever shows the log writes no line break after this.
    public let continues: Bool

    public init(_ stream: Stream, _ text: String, continues: Bool = false) {
        self.stream = stream
        self.text = text
        self.continues = continues
    }

    /// The text as it is shown: with a line break after it, unless the line goes on.
    public var shown: String { continues ? text : text + "\n" }
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
    /// Most lines of it kept: each is a row of the store, and 16 MiB of empty lines was
    /// 16 million of them.
    public let maxOutputLines: Int?
    private let written = Mutex<(bytes: Int, lines: Int, full: Bool)>((0, 0, false))

    public init(level: LogLevel = .log, redactor: SecretRedactor = .none, maxOutputBytes: Int? = nil,
                maxOutputLines: Int? = nil, sink: @escaping @Sendable (LogLine) -> Void) {
        self.level = level
        self.redactor = redactor
        self.maxOutputBytes = maxOutputBytes
        self.maxOutputLines = maxOutputLines
        self.sink = sink
    }

    /// Output of the script or of a job: shown whatever the level, up to `maxOutputBytes`
    /// and `maxOutputLines`; a text that would pass either is dropped, and all after it.
    public func write(_ stream: LogLine.Stream, _ text: String) {
        guard admits(text) else { return }
        send(stream, masked: redactor.redact(text))
    }

    /// Whether `text` fits in what is left of the output limits; counts it if so.
    private func admits(_ text: String) -> Bool {
        guard maxOutputBytes != nil || maxOutputLines != nil else { return true }
        let lines = text.utf8.count(where: { $0 == 0x0A }) + 1
        let (accepted, reached) = written.withLock { state -> (Bool, String?) in
            if state.full { return (false, nil) }
            state.bytes += text.utf8.count
            state.lines += lines
            let reached = if let limit = maxOutputBytes, state.bytes > limit { Self.describe(bytes: limit) }
                else if let limit = maxOutputLines, state.lines > limit { "\(limit) lines" } else { String?.none }
            state.full = reached != nil
            return (reached == nil, reached)
        }
        if let reached {
            sink(LogLine(.stderr, "[brigade] the build's output reached its limit of \(reached); later output is dropped"))
        }
        return accepted
    }

    /// A line of a job's output that the job streams (`streamLogs`): shown as a worker
    /// message at `log` level, `[brigade:<runner>] <pod> logs <line>`, but it is output all
    /// the same and counts toward the output limits (a job streaming gigabytes filled the store).
    public func jobOutputLine(runner: String, podName: String, _ line: String) {
        guard LogLevel.log >= level else { return }
        write(.stdout, "[brigade:\(runner)] \(podName) logs \(line)")
    }

    /// Masked whole before the split, so that a secret of several lines is masked as one.
    private func send(_ stream: LogLine.Stream, masked text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let pieces = Self.pieces(of: line)
            for (index, piece) in pieces.enumerated() {
                sink(LogLine(stream, String(piece), continues: index < pieces.count - 1))
            }
        }
    }

    /// Most bytes of one line of the log; a longer line is kept in pieces, shown joined.
    /// Each is a row of the store and is read whole: one `console.log` of 16 MiB was one
    /// row, and every reader of the log held all of it at once. 64 KiB, what a job's line
    /// and a worker message are cut to, and 1 KiB for their prefix or note.
    public static let maxLineBytes = 65 << 10

    /// `line` in pieces of at most `maxLineBytes`, each ending where a character starts.
    static func pieces(of line: Substring) -> [Substring] {
        let utf8 = line.utf8
        guard utf8.count > maxLineBytes else { return [line] }
        var pieces: [Substring] = []
        var start = utf8.startIndex
        while start < utf8.endIndex {
            let end = utf8.cutIndex(from: start, atMostBytes: maxLineBytes)
            pieces.append(line[start..<end])
            start = end
        }
        return pieces
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
    ///
    /// - Parameter countsAsOutput: the script can cause any number of this message (brigadier's
    ///   warning about a job it runs, say), so it counts toward the output limits like output:
    ///   a loop of them was not bounded (130,000 lines in 10 s). The worker's own messages,
    ///   a few a job or a build, are kept whatever the limits.
    public func log(_ messageLevel: LogLevel, _ component: String?, _ message: String, countsAsOutput: Bool = false) {
        guard messageLevel >= level, messageLevel != .none else { return }
        let prefix = component.map { "[brigade:\($0)]" } ?? "[brigade]"
        let text = redactor.redact("\(prefix) \(message)", atMostBytes: Self.maxMessageBytes)
        guard !countsAsOutput || admits(text) else { return }
        send(messageLevel >= .warn ? .stderr : .stdout, masked: text)
    }

}
