import Logging
import Synchronization

/// The lines a logger was told, as "level: message", for tests of what the gateway says.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(said: self) }
    }

    struct Handler: LogHandler {
        let said: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            said.lines.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}
