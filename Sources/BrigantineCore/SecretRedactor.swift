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
                searched[index].withUnsafeBytes { Self.firstOffset(of: $0, in: UnsafeRawBufferPointer(bytes)) != nil }
            }
        }
        for index in present {
            text = text.replacingOccurrences(of: values[index], with: Self.mask)
        }
        return maskingInspectCuts(text)
    }

    /// `redact(text)`, cut to at most `maxBytes` of UTF-8 (where a character starts) when it is
    /// longer, saying how much was left out: for text a script decides the size of (an
    /// error's message) that goes where no other limit applies (a build's reason, a log message).
    public func redact(_ text: String, atMostBytes maxBytes: Int) -> String {
        let masked = redact(text)
        let utf8 = masked.utf8
        guard utf8.count > maxBytes else { return masked }
        let end = utf8.cutIndex(from: utf8.startIndex, atMostBytes: maxBytes)
        // Masked before the cut: no secret is whole in the text any more, so none is cut in two.
        let left = utf8.distance(from: end, to: utf8.endIndex)
        return String(masked[..<end]) + "… (\(left) more byte\(left == 1 ? "" : "s"))"
    }

    /// Masks the last bytes of text cut off after them when they could begin a secret.
    public func maskSecretStart(atEndOf bytes: inout [UInt8]) {
        let cutPart = secretStartLength(atEndOf: bytes[...])
        if cutPart > 0 { bytes.replaceSubrange((bytes.count - cutPart)..., with: Self.mask.utf8) }
    }

    /// What `util.inspect` (the host's util.js, like Node's) writes after a string it cut
    /// short at `MAX_STRING_LENGTH` (10,000) characters: `'…'... 11 more characters`.
    private static let inspectCutMark = (dots: Array("... ".utf8), words: Array(" more character".utf8))
    private static let inspectMaxStringLength = 10_000

    /// `text` with the end of each string `util.inspect` cut short masked where it could
    /// begin a secret: a cut there can leave a secret's first part, as a job's cut line can.
    private func maskingInspectCuts(_ text: String) -> String {
        // Only a text that long can hold a cut string: most lines are not searched at all.
        guard text.utf8.count > Self.inspectMaxStringLength else { return text }
        let (dots, words) = Self.inspectCutMark
        var bytes = Array(text.utf8)
        var cuts: [Range<Int>] = []
        var searchFrom = 0
        while let found = Self.firstOffset(of: words, in: bytes, from: searchFrom) {
            searchFrom = found + words.count
            // Back over the count and the dots to the closing quote.
            var countStart = found
            while countStart > 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[countStart - 1]) { countStart -= 1 }
            let quote = countStart - dots.count - 1
            guard countStart < found, quote >= 0, bytes[(quote + 1)..<countStart].elementsEqual(dots),
                  [UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`")].contains(bytes[quote]) else { continue }
            let cutPart = secretStartLength(atEndOf: bytes[..<quote])
            if cutPart > 0 { cuts.append((quote - cutPart)..<quote) }
        }
        guard !cuts.isEmpty else { return text }
        for cut in cuts.reversed() { bytes.replaceSubrange(cut, with: Self.mask.utf8) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// How many bytes at the end of `bytes` could be the start of a secret, longest first;
    /// 0 when none could. Text cut off there (a job's line or output past its cap) may end
    /// in a secret's first part, which `redact` cannot recognise as the secret.
    public func secretStartLength(atEndOf bytes: ArraySlice<UInt8>) -> Int {
        var longest = 0
        for secret in searched {
            // Starts that leave fewer bytes than the secret has: where a cut part could begin.
            let earliest = max(bytes.startIndex, bytes.endIndex - secret.count + 1)
            for start in earliest..<bytes.endIndex where bytes.endIndex - start > longest && bytes[start] == secret[0] {
                if bytes[start...].elementsEqual(secret.prefix(bytes.endIndex - start)) {
                    longest = bytes.endIndex - start
                    break
                }
            }
        }
        return longest
    }

    /// Where `needle` first occurs in `haystack`: `memchr` finds each place its first byte
    /// does (memmem, which would do it all, is a GNU extension Swift does not see).
    private static func firstOffset(of needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Int? {
        guard let first = needle.first, let needleBase = needle.baseAddress, let base = haystack.baseAddress,
              haystack.count >= needle.count else { return nil }
        let starts = haystack.count - needle.count + 1 // places where the needle could begin
        var offset = 0
        while offset < starts, let hit = memchr(base + offset, Int32(first), starts - offset) {
            if memcmp(hit, needleBase, needle.count) == 0 { return base.distance(to: UnsafeRawPointer(hit)) }
            offset = base.distance(to: UnsafeRawPointer(hit)) + 1
        }
        return nil
    }

    private static func firstOffset(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard start < haystack.count else { return nil }
        return needle.withUnsafeBytes { needle in
            haystack.withUnsafeBytes { haystack in
                firstOffset(of: needle, in: UnsafeRawBufferPointer(rebasing: haystack[start...])).map { start + $0 }
            }
        }
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
