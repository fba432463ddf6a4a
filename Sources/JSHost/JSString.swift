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
        self = String(decoding: UnsafeBufferPointer(start: characters, count: length), as: UTF16.self)
    }
}

/// A new (+1) JSStringRef holding `text`; the caller releases it.
func makeJSString(_ text: String) -> JSStringRef {
    let units = Array(text.utf16)
    return units.withUnsafeBufferPointer { JSStringCreateWithCharacters($0.baseAddress, $0.count) }
}

/// Runs `body` with a temporary JSStringRef for `text`.
func withJSString<Result>(_ text: String, _ body: (JSStringRef) throws -> Result) rethrows -> Result {
    let string = makeJSString(text)
    defer { JSStringRelease(string) }
    return try body(string)
}
