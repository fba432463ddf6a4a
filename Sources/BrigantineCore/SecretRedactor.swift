import Foundation

/// Masks secret values in text bound for logs and build records.
///
/// A secret is masked in each form a script or job commonly prints it in, not only as it is:
/// `console.log(p)` quotes and escapes strings, `JSON.stringify(p)` escapes them its own way,
/// a URL carries them percent-encoded, and job output reaches the log a line at a time, so a
/// secret of several lines (a PEM key, a JSON credential) never arrives whole.
///
/// Values shorter than `minimumLength` are not masked: replacing every "ab" in a log
/// would make it unreadable and still hide nothing. Project loading warns about them.
public struct SecretRedactor: Sendable {
    public static let minimumLength = 4
    public static let mask = "***"
    private let values: [String]
    /// Their UTF-8, for the search every line goes through: a byte search takes tens of
    /// nanoseconds where Foundation's `String.contains` took over a microsecond a value
    /// (20 secrets cost 24 µs a log line, five times the rest of its cost: bench/log-masking.sh).
    private let searched: [[UInt8]]

    public init(secrets: some Sequence<String>) {
        let shown = secrets.filter { $0.count >= Self.minimumLength }.reduce(into: Set<String>()) { forms, secret in
            forms.formUnion(Self.printedForms(of: secret))
        }
        // Longest first, so that a secret containing another is masked whole.
        values = shown.filter { $0.count >= Self.minimumLength }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        searched = values.map { Array($0.utf8) }
    }

    public static let none = SecretRedactor(secrets: [])

    public var isEmpty: Bool { values.isEmpty }

    public func redact(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        var text = text
        let present = text.withUTF8 { bytes in
            searched.indices.filter { index in
                searched[index].withUnsafeBytes { Self.occurs($0, in: UnsafeRawBufferPointer(bytes)) }
            }
        }
        for index in present {
            text = text.replacingOccurrences(of: values[index], with: Self.mask)
        }
        return text
    }

    /// How many bytes at the end of `bytes` could be the start of a secret, longest first;
    /// 0 when none could. Text cut off there (a job's line or output past its cap) may end
    /// in a secret's first part, which `redact` cannot recognise as the secret.
    public func secretStartLength(atEndOf bytes: [UInt8]) -> Int {
        var longest = 0
        for secret in searched {
            // Starts that leave fewer bytes than the secret has: where a cut part could begin.
            let earliest = max(0, bytes.count - secret.count + 1)
            for start in earliest..<bytes.count where bytes.count - start > longest && bytes[start] == secret[0] {
                if bytes[start...].elementsEqual(secret.prefix(bytes.count - start)) {
                    longest = bytes.count - start
                    break
                }
            }
        }
        return longest
    }

    /// Whether `needle` occurs in `haystack`: `memchr` finds each place its first byte does
    /// (memmem, which would do it all, is a GNU extension Swift does not see).
    private static func occurs(_ needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let first = needle.first, let needleBase = needle.baseAddress, let base = haystack.baseAddress,
              haystack.count >= needle.count else { return false }
        let starts = haystack.count - needle.count + 1 // places where the needle could begin
        var offset = 0
        while offset < starts, let hit = memchr(base + offset, Int32(first), starts - offset) {
            if memcmp(hit, needleBase, needle.count) == 0 { return true }
            offset = base.distance(to: UnsafeRawPointer(hit)) + 1
        }
        return false
    }

    /// The secret as it is, and as the usual ways of printing it turn it into.
    static func printedForms(of secret: String) -> Set<String> {
        var forms: Set<String> = [secret, jsonEscaped(secret), inspectQuoted(secret)]
        if let encoded = secret.addingPercentEncoding(withAllowedCharacters: uriComponentCharacters) {
            forms.insert(encoded)
        }
        if secret.contains(where: \.isNewline) {
            // Each line on its own, as line-based output carries it (a CR before the LF stays out).
            forms.formUnion(secret.split(whereSeparator: \.isNewline).map(String.init))
        }
        return forms
    }

    /// What `JSON.stringify` writes between the quotes.
    static func jsonEscaped(_ text: String) -> String {
        escaped(text, quote: "\"", names: controlNames) { $0 < 0x20 ? "\\u" + hex($0, digits: 4, uppercase: false) : nil }
    }

    /// What `util.inspect` (so `console.log` of an object, or `%o`) shows between its quotes.
    /// Mirrors `quote` in the host's util.js: the quote character it picks is the one escaped.
    static func inspectQuoted(_ text: String) -> String {
        var quote: Unicode.Scalar = "'"
        if text.contains("'") {
            if !text.contains("\"") { quote = "\"" } else if !text.contains("`") && !text.contains("${") { quote = "`" }
        }
        return escaped(text, quote: quote, names: controlNames.merging(["\u{0B}": "v"]) { $1 }) {
            $0 < 0x20 || $0 == 0x7F ? "\\x" + hex($0, digits: 2, uppercase: true) : nil
        }
    }

    /// The control characters both write by name (`\n`); JSON has no `\v`.
    private static let controlNames: [Unicode.Scalar: String] = ["\u{08}": "b", "\t": "t", "\n": "n", "\u{0C}": "f", "\r": "r"]

    /// `text` as a JavaScript string between `quote`s: that quote and the backslash escaped,
    /// control characters by name, else as `code` writes them.
    private static func escaped(_ text: String, quote: Unicode.Scalar, names: [Unicode.Scalar: String],
                                code: (UInt32) -> String?) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == quote || scalar == "\\" {
                out += "\\" + String(scalar)
            } else if let name = names[scalar] {
                out += "\\" + name
            } else if let written = code(scalar.value) {
                out += written
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// What `encodeURIComponent` leaves as it is.
    private static let uriComponentCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")

    private static func hex(_ value: UInt32, digits count: Int, uppercase: Bool) -> String {
        let digits = String(value, radix: 16, uppercase: uppercase)
        return String(repeating: "0", count: max(0, count - digits.count)) + digits
    }
}
