import CJavaScriptCore
import Foundation

// The native functions behind the prelude (console, timers, process, require).
// The prelude receives them as an argument and keeps them in a closure: no script
// can reach them, which is how scripts are kept away from the host's files and processes.
extension ScriptContext {
    func makeHostBinding() -> JSObjectRef {
        let clock = ContinuousClock.now
        return makeNativeObject([
            "write": { call in
                call.context.onOutput(call.bool(0) ? .stderr : .stdout, call.string(1))
                return nil
            },
            "timerSet": { call in
                call.context.loop.setTimer(id: Int(call.number(0)), delay: call.number(1), referenced: call.bool(2))
                return nil
            },
            "timerClear": { call in
                call.context.loop.clearTimer(id: Int(call.number(0)))
                return nil
            },
            "timerRef": { call in
                call.context.loop.setTimerReferenced(id: Int(call.number(0)), call.bool(1))
                return nil
            },
            "timerActive": { call in
                call.context.makeBool(call.context.loop.hasTimer(id: Int(call.number(0))))
            },
            "immediate": { call in
                call.context.loop.queueImmediate(id: Int(call.number(0)))
                return nil
            },
            "immediateClear": { call in
                call.context.loop.cancelImmediate(id: Int(call.number(0)))
                return nil
            },
            "now": { call in
                call.context.makeNumber(clock.duration(to: .now).seconds * 1000)
            },
            "exit": { call in
                let code = call.number(0)
                call.context.requestExit(code.isFinite ? Int32(clamping: Int(code)) : 0)
                return nil
            },
            "resolve": { call in
                let context = call.context
                let resolution = try context.modules.resolve(
                    call.string(0), from: call.string(1), parentIsBuiltin: call.bool(2))
                let result = context.makeObject()
                switch resolution {
                case .builtin(let filename): context.setProperty(result, "builtin", context.makeString(filename))
                case .file(let path): context.setProperty(result, "file", context.makeString(path))
                }
                return result
            },
            "readSource": { call in
                call.context.makeString(try call.context.modules.readSource(call.string(0)))
            },
            "builtinSource": { call in
                guard let builtin = call.context.modules.builtin(call.string(0)) else {
                    throw NativeError("no builtin module \(call.string(0))")
                }
                return call.context.makeString(builtin.source)
            },
            "builtinBinding": { call in
                guard let make = call.context.modules.builtin(call.string(0))?.binding else { return nil }
                return call.context.makeNativeObject(make(call.context))
            },
            "compile": { call in
                try call.context.compileFunction(
                    filename: call.string(0), source: call.string(1), parameters: call.string(2))
            },
        ])
    }

    /// Compiles `source` as the body of a function taking `parameters` (comma-separated),
    /// the way Node wraps a CommonJS module: the wrapper's head shares the module's first
    /// line, so line numbers in errors and stacks are those of the file.
    func compileFunction(filename: String, source: String, parameters: String) throws -> JSObjectRef {
        var body = source
        if body.hasPrefix("#!") { body = "//" + body.dropFirst(2) }
        let wrapped = "(function (\(parameters)) {" + body + "\n})"
        let function: JSValueRef
        do {
            function = try evaluate(wrapped, sourceURL: filename)
        } catch let error as JSException {
            // "Unexpected end of script" points at the wrapper's closing line, past the file's end.
            let lastLine = Double(body.split(separator: "\n", omittingEmptySubsequences: false).count)
            if let object = error.thrown.object, let line = numberProperty(object, "line"), line > lastLine {
                setProperty(object, "line", makeNumber(lastLine))
                throw JSException(object, in: self)
            }
            throw error
        }
        guard let object = JSValueToObject(ref, function, nil) else {
            throw NativeError("\(filename) did not compile to a function")
        }
        return object
    }
}

/// The host's own builtin modules, written in JavaScript (Sources/JSHost/js).
public enum HostBuiltins {
    static let all: [BuiltinModule] = [
        module("util"), module("events"), module("path"), module("assert"),
    ]

    private static func module(_ name: String) -> BuiltinModule {
        BuiltinModule(filename: "node/\(name).js", publicNames: [name], source: (try? resource("\(name).js")) ?? "")
    }

    static func resource(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "js") else {
            throw NativeError("the host resource js/\(name) is missing from this build")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
