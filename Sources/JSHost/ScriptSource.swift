import CJavaScriptCore

/// JavaScript source kept as a JS string, made once and shared by every context (and VM)
/// that runs it: builtin modules and the prelude are not converted again for each build.
public final class ScriptSource: @unchecked Sendable {
    let string: JSStringRef
    /// The file name errors and stacks show.
    public let url: String
    /// Lines of the author's text (a module wrapper adds one more).
    let lineCount: Int

    public init(_ text: String, url: String) {
        string = makeJSString(text)
        self.url = url
        lineCount = Self.countLines(text)
    }

    private init(wrapping body: String, url: String, parameters: String) {
        var body = body
        if body.hasPrefix("#!") { body = "//" + body.dropFirst(2) }
        // Node's wrapper: its head shares the module's first line, so line numbers stay the file's.
        string = makeJSString("(function (\(parameters)) {" + body + "\n})")
        self.url = url
        lineCount = Self.countLines(body)
    }

    /// A CommonJS module body, wrapped as a function of `parameters` (comma-separated).
    public static func module(_ body: String, url: String, parameters: String) -> ScriptSource {
        ScriptSource(wrapping: body, url: url, parameters: parameters)
    }

    /// Lines as JavaScript counts them: a CRLF is one break, like a lone LF (a lone CR, rare
    /// in scripts, is not counted).
    private static func countLines(_ text: String) -> Int {
        text.utf8.reduce(1) { count, byte in byte == 0x0A ? count + 1 : count }
    }

    deinit {
        JSStringRelease(string)
    }
}
