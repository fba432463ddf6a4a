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
        lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
    }

    private init(wrapping body: String, url: String, parameters: String) {
        var body = body
        if body.hasPrefix("#!") { body = "//" + body.dropFirst(2) }
        // Node's wrapper: its head shares the module's first line, so line numbers stay the file's.
        string = makeJSString("(function (\(parameters)) {" + body + "\n})")
        self.url = url
        lineCount = body.split(separator: "\n", omittingEmptySubsequences: false).count
    }

    /// A CommonJS module body, wrapped as a function of `parameters` (comma-separated).
    public static func module(_ body: String, url: String, parameters: String) -> ScriptSource {
        ScriptSource(wrapping: body, url: url, parameters: parameters)
    }

    deinit {
        JSStringRelease(string)
    }
}
