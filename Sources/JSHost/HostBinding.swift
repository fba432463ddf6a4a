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
                call.context.requestExit(code.isFinite ? Int32(min(max(code, -Double(Int32.max)), Double(Int32.max))) : 0)
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
            "compileBuiltin": { call in
                guard let builtin = call.context.modules.builtin(call.string(0)) else {
                    throw NativeError("no builtin module \(call.string(0))")
                }
                return try call.context.compile(builtin.source)
            },
            "builtinBinding": { call in
                guard let make = call.context.modules.builtin(call.string(0))?.binding else { return nil }
                return call.context.makeNativeObject(make(call.context))
            },
            "compileFile": { call in
                let path = call.string(0)
                let text = call.bool(2) ? call.string(1) : try call.context.modules.readSource(path)
                return try call.context.compile(.module(text, url: path, parameters: ScriptContext.fileModuleParameters))
            },
        ])
    }

    /// The parameters of a file module's function, as in Node.
    static let fileModuleParameters = "exports,require,module,__filename,__dirname"

    /// Evaluates a wrapped module to its function.
    func compile(_ source: ScriptSource) throws -> JSObjectRef {
        let function: JSValueRef
        do {
            function = try evaluate(source)
        } catch let error as JSException {
            // "Unexpected end of script" points at the wrapper's closing line, past the file's end.
            let lastLine = Double(source.lineCount)
            if let object = error.thrown.object, let line = numberProperty(object, "line"), line > lastLine {
                setProperty(object, "line", makeNumber(lastLine))
                throw JSException(object, in: self)
            }
            throw error
        }
        guard let object = JSValueToObject(ref, function, nil) else {
            throw NativeError("\(source.url) did not compile to a function")
        }
        return object
    }
}

/// The host's own builtin modules, written in JavaScript (Sources/JSHost/js).
public enum HostBuiltins {
    /// The prelude, read and converted once per process.
    static let prelude = Result { ScriptSource(try resource("prelude.js"), url: "brigantine:prelude.js") }

    static let all: [BuiltinModule] = ["util", "events", "path", "assert", "buffer"].map { name in
        let filename = "node/\(name).js"
        let code = (try? resource("\(name).js")) ?? "throw new Error('the \(name) module is missing from this build');"
        return BuiltinModule(filename: filename, publicNames: [name], source: BuiltinModule.wrap(code, filename: filename))
    }

    static func resource(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "js") else {
            throw NativeError("the host resource js/\(name) is missing from this build")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
