import CJavaScriptCore

// JS strings are UTF-16. Going through UTF-16 both ways (never through C strings)
// keeps NUL bytes and every other character intact, so a webhook body reaches
// `e.payload` exactly as it was sent.

extension String {
    /// Copies a JS string. Lone surrogates, which Swift strings cannot hold, become U+FFFD.
    init(jsString: JSStringRef) {
        let length = JSStringGetLength(jsString)
        guard length > 0, let characters = JSStringGetCharactersPtr(jsString) else {
            self = ""
            return
        }
        let units = UnsafeBufferPointer(start: characters, count: length)
        // Most strings (job specs, log lines, payload fields) are ASCII: copy those directly,
        // as transcoding unit by unit costs several times more.
        if units.allSatisfy({ $0 < 0x80 }) {
            self = String(unsafeUninitializedCapacity: length) { bytes in
                for index in 0..<length { bytes[index] = UInt8(truncatingIfNeeded: units[index]) }
                return length
            }
        } else {
            self = String(decoding: units, as: UTF16.self)
        }
    }
}

/// A new (+1) JSStringRef holding `text`; the caller releases it.
func makeJSString(_ text: String) -> JSStringRef {
    // From UTF-8, JSC keeps ASCII text in its compact 8-bit form, which it hashes, parses
    // and compares faster; only text with a NUL (which would end a C string) goes as UTF-16.
    if !text.utf8.contains(0) {
        return text.withCString { JSStringCreateWithUTF8CString($0) }
    }
    let units = Array(text.utf16)
    return units.withUnsafeBufferPointer { JSStringCreateWithCharacters($0.baseAddress, $0.count) }
}

/// Runs `body` with a temporary JSStringRef for `text`.
func withJSString<Result>(_ text: String, _ body: (JSStringRef) throws -> Result) rethrows -> Result {
    let string = makeJSString(text)
    defer { JSStringRelease(string) }
    return try body(string)
}
