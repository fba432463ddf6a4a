import BrigantineCore
import Foundation
import Logging
import Synchronization

/// `--log-format json`: one JSON object per line on stderr, for log collectors — `time`,
/// `level`, `message`, `source` (the module that logged), and the line's metadata as keys of
/// their own (`route`, `status`, `build`, …). What is logged is the same as in text.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let label: String

    /// One write per line, lines whole: handlers of every task share stderr.
    private static let output = Mutex(STDERR_FILENO)

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Any] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[key] = Self.json(value) }
        if let error = event.error { object["error"] = "\(error)" }
        object["time"] = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        object["level"] = event.level.rawValue
        object["message"] = event.message.description
        object["source"] = event.source
        object["logger"] = label
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        Self.output.withLock { StandardStreams.write(data, to: $0) }
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }
}
