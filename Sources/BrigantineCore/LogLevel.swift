/// Brigade's worker log levels (`--level`, `e.logLevel`): a `[brigade…]` line is shown
/// when its level is at or above the chosen one. Script output through `console` is never filtered.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case all = 0, log, info, warn, error, none

    /// Parses a level name case-insensitively; `""` means `log`, as in Brigade.
    public init?(name: String) {
        let name = name.lowercased()
        if name.isEmpty {
            self = .log
            return
        }
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public var name: String {
        switch self {
        case .all: "all"
        case .log: "log"
        case .info: "info"
        case .warn: "warn"
        case .error: "error"
        case .none: "none"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}
