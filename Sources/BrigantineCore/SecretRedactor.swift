import Foundation

/// Masks secret values in text bound for logs and build records.
///
/// Values shorter than `minimumLength` are not masked: replacing every "ab" in a log
/// would make it unreadable and still hide nothing. Project loading warns about them.
public struct SecretRedactor: Sendable {
    public static let minimumLength = 4
    public static let mask = "***"
    private let values: [String]

    public init(secrets: some Sequence<String>) {
        // Longest first, so that a secret containing another is masked whole.
        values = Set(secrets.filter { $0.count >= Self.minimumLength })
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    public static let none = SecretRedactor(secrets: [])

    public var isEmpty: Bool { values.isEmpty }

    public func redact(_ text: String) -> String {
        var text = text
        for value in values where text.contains(value) {
            text = text.replacingOccurrences(of: value, with: Self.mask)
        }
        return text
    }
}
