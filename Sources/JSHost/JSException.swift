import CJavaScriptCore

/// A value thrown by JavaScript, rendered for people at the moment it was caught.
///
/// `thrown` keeps the original value so that it can be handed back to scripts
/// (Brigade passes a rejection's reason to `error` handlers as is).
public struct JSException: Error, CustomStringConvertible, @unchecked Sendable {
    /// The thrown value itself.
    public let thrown: ProtectedValue
    /// `name: message` for Errors, the value's string form otherwise.
    public let message: String
    /// Where it was thrown, when JSC knows (`file:line` or `file:line:column`).
    public let location: String?
    /// The stack, one `at` frame a line, when JSC recorded one.
    public let stack: String?

    public var description: String {
        if let location, !message.contains(location) {
            return "\(message) (\(location))"
        }
        return message
    }

    init(_ value: JSValueRef, in context: ScriptContext) {
        thrown = ProtectedValue(value, in: context)
        if context.isObject(value), let object = JSValueToObject(context.ref, value, nil) {
            let name = context.stringProperty(object, "name")
            let text = context.stringProperty(object, "message")
            if let name, let text {
                message = text.isEmpty ? name : "\(name): \(text)"
            } else {
                message = context.string(from: value)
            }
            let file = context.stringProperty(object, "sourceURL")
            // Numbers a script may have set on what it threw: only whole, plausible ones are places.
            let line = context.numberProperty(object, "line").flatMap(Self.place)
            let column = context.numberProperty(object, "column").flatMap(Self.place)
            // Builtin modules have virtual names (`brigadier-js/job.js`); a place in them
            // tells a script's author nothing.
            if let file, let line, file.hasPrefix("/") {
                let place = "\(file):\(line)"
                // JSC's column for a SyntaxError does not point at the offending token.
                location = name == "SyntaxError" ? place : column.map { "\(place):\($0)" } ?? place
            } else {
                location = nil
            }
            stack = context.stringProperty(object, "stack").flatMap { $0.isEmpty ? nil : $0 }
        } else {
            message = context.inspect(value)
            location = nil
            stack = nil
        }
    }

    private static func place(_ number: Double) -> Int? {
        number >= 0 && number < 1e9 && number == number.rounded() ? Int(number) : nil
    }
}

/// The watchdog stopped a script: it ran too long without yielding, or its memory grew too large.
public struct ScriptTerminated: Error, CustomStringConvertible, Sendable {
    public let termination: JSRuntime.Termination
    public var description: String {
        switch termination {
        case .time(let seconds):
            "script ran for more than \(formatSeconds(seconds)) without yielding and was stopped (an infinite loop?)"
        case .memory(let bytes):
            "script's memory grew past \(bytes >> 20) MiB and it was stopped"
        case .interrupted(let reason):
            reason
        }
    }
}

/// `process.exit(code)` was called by a script.
public struct ScriptExited: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public var description: String { "script called process.exit(\(code))" }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? "\(Int(seconds)) s" : "\(seconds) s"
}
