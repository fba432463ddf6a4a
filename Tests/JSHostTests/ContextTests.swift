import CJavaScriptCore
import Foundation
import JSHost
import Testing

@Suite struct ContextTests {
    @Test func evaluatesAndConvertsStrings() throws {
        let host = try TestHost()
        #expect(try host.evaluate("1 + 2") == "3")
        // Each way strings cross (with or without NUL, ASCII, Latin-1, wider, astral) keeps
        // them intact in both directions, and JavaScript sees the same UTF-16 length.
        let length = try host.context.evaluate("(s) => s.length")
        for text in ["tab\there\u{0}nul – ü 🚀 \r\n end", "plain ascii", "latin-1 ü é ÿ", "– ü 🚀 漢字", "", "\u{0}"] {
            let value = host.context.makeString(text)
            #expect(host.context.string(from: value) == text)
            #expect(host.context.number(from: try host.context.call(length, [value])) == Double(text.utf16.count))
        }
        // Strings made by scripts: Latin-1 and ASCII ones as JSC stores them (8-bit), and a
        // lone surrogate, which a Swift string cannot hold, as U+FFFD.
        #expect(host.context.string(from: try host.context.evaluate("'caf' + String.fromCharCode(233)")) == "café")
        #expect(host.context.string(from: try host.context.evaluate("'a'.repeat(3) + 'b'")) == "aaab")
        #expect(host.context.string(from: try host.context.evaluate("'x\\uD800y'")) == "x\u{FFFD}y")
    }

    @Test func syntaxErrorsCarryFileAndLine() throws {
        let host = try TestHost()
        let path = try host.write("broken.js", "var a = 1;\nvar b = ;\n")
        do {
            try host.context.loadMainModule(path)
            Issue.record("expected a syntax error")
        } catch let error as JSException {
            #expect(error.message.hasPrefix("SyntaxError"))
            #expect(error.location == "\(path):2")
        }
    }

    @Test func anUnfinishedFileIsReportedAtItsLastLine() throws {
        // JSC reports a missing closing brace on the module wrapper's own line, past the file.
        for (name, text) in [("lf.js", "function f() {\n  return 1;\n\n"), ("crlf.js", "function f() {\r\n  return 1;\r\n\r\n")] {
            let host = try TestHost()
            let path = try host.write(name, text)
            do {
                try host.context.loadMainModule(path)
                Issue.record("expected a syntax error for \(name)")
            } catch let error as JSException {
                #expect(error.message.hasPrefix("SyntaxError"), "\(error.message)")
                #expect(error.location == "\(path):4", "\(name)")
            }
        }
    }

    @Test func runtimeErrorsCarryLineAndColumn() throws {
        let host = try TestHost()
        do {
            try host.run("const o = {};\n\nfunction f() { return o.x.y; }\nf();\n")
            Issue.record("expected a TypeError")
        } catch let error as JSException {
            #expect(error.message.hasPrefix("TypeError"))
            #expect(error.location?.hasPrefix(host.directory.path + "/main.js:3:") == true, "\(error.location ?? "-")")
        }
    }

    @Test func nativeFunctionsBehaveLikeFunctions() throws {
        let host = try TestHost()
        let add = host.context.makeFunction("add") { call in
            call.context.makeNumber(call.number(0) + call.number(1))
        }
        host.context.setProperty(host.context.globalObject, "add", add)
        #expect(try host.evaluate("add(2, 3)") == "5")
        #expect(try host.evaluate("add.call(null, 4, 5)") == "9")
        #expect(try host.evaluate("add.bind(null, 10)(1)") == "11")
        #expect(try host.evaluate("[1, 2].map((x) => add(x, 1)).join()") == "2,3")
        #expect(try host.evaluate("typeof add") == "function")
    }

    @Test func nativeErrorsBecomeJavaScriptErrors() throws {
        let host = try TestHost()
        let fail = host.context.makeFunction("fail") { _ in throw NativeError("nope", kind: .typeError, code: "E_NOPE") }
        host.context.setProperty(host.context.globalObject, "fail", fail)
        #expect(try host.evaluate("try { fail() } catch (e) { `${e instanceof TypeError} ${e.message} ${e.code}` }")
            == "true nope E_NOPE")
    }

    @Test func jsonRoundTrip() throws {
        let host = try TestHost()
        let value = try host.context.parseJSON(#"{"b":[1,"two",null],"a":{"ü":true}}"#)
        #expect(try host.context.jsonString(value) == #"{"b":[1,"two",null],"a":{"ü":true}}"#)
        #expect(throws: NativeError.self) { try host.context.parseJSON("{nope") }
    }

    @Test func executionTimeLimitStopsRunawayScripts() throws {
        let host = try TestHost(entryTimeLimit: 0.2)
        #expect(throws: ScriptTerminated.self) { try host.run("while (true) {}") }
        host.context.runtime.clearTermination()
    }

    /// The watchdog must not suspend threads: JSC's signal-based traps deadlocked against
    /// its allocator's scavenger with two VMs busy (see `engineOptions`).
    @Test func runawayScriptsAreStoppedByPollingNotThreadSuspension() throws {
        let host = try TestHost(entryTimeLimit: 0.2)
        var polling: Int32 = 0
        #expect(jsc_options_get_boolean("usePollingTraps", &polling) != 0)
        #expect(polling != 0)
        #expect(throws: ScriptTerminated.self) { try host.run("let n = 0; for (;;) { n = (n + 1) % 7 }") }
    }

    /// A build's glue code stays in the interpreter; only code hot within one build is
    /// compiled (see `engineOptions`). Such code still runs at compiled speed.
    @Test func onlyCodeHotWithinOneContextIsCompiled() throws {
        let host = try TestHost()
        for option in ["thresholdForJITAfterWarmUp", "thresholdForJITSoon"] {
            var threshold: Int32 = 0
            #expect(jsc_options_get_int(option, &threshold) != 0)
            #expect(threshold == JSRuntime.baselineJITThreshold)
        }
        let sum = try host.context.evaluate("let s = 0; for (let i = 0; i < 1e6; i++) s += i % 7; s")
        #expect(host.context.number(from: sum) == 2_999_997)
    }

    @Test func executionTimeLimitCoversTimersAndMicrotasks() throws {
        let host = try TestHost(entryTimeLimit: 0.2)
        #expect(throws: ScriptTerminated.self) {
            try host.run("setTimeout(() => { Promise.resolve().then(() => { for (;;) {} }) }, 5)")
        }
    }

    /// A loop of promise continuations never returns to the host: JSC ran each one as an
    /// entry of its own, too short for the watchdog, until the microtasks ran inside ours.
    @Test(arguments: [
        "(async () => { while (true) { globalThis.turns++; await null } })()",
        "const f = () => { globalThis.turns++; return Promise.resolve().then(f) }; f()",
    ])
    func loopsOfContinuationsAreStopped(loop: String) throws {
        #expect(JSRuntime.drainsInsideEntries)
        let host = try TestHost(entryTimeLimit: 0.2)
        var thrown: (any Error)?
        try #require(finishes(within: 20) {
            do { try host.context.evaluate("globalThis.turns = 0; " + loop) } catch { thrown = error }
        })
        #expect(thrown is ScriptTerminated)
        host.context.runtime.clearTermination()
        // What the loop left queued is dropped: it does not run on in later entries.
        let turns = try host.evaluate("turns")
        #expect(try host.evaluate("Promise.resolve().then(() => {}); turns") == turns)
        #expect(try host.evaluate("'still usable'") == "still usable")
    }

    /// A `.then` chain that keeps every promise makes a heap of millions of objects, which
    /// JSC's memory statistics walk one by one: read at every tick of the watchdog, they
    /// took so long that a 2 s time limit came after 38 s. Under a memory limit, the heap is
    /// read only as often as it is worth (`JSRuntime.ticksToNextHeapLook`), and the time limit holds.
    /// Measured in the script thread's CPU time, which a busy machine (this suite) stretches
    /// far less than the wall clock; the wall-clock bound is only against a hang.
    @Test func aHeapOfMillionsDoesNotHoldOffTheTimeLimit() throws {
        let context = try ScriptContext(runtime: JSRuntime(entryTimeLimit: 2, heapLimit: 4 << 30))
        context.onOutput = { _, _ in }
        var thrown: (any Error)?
        var cpuSeconds = 0.0
        try #require(finishes(within: 300) {
            let started = JSRuntime.threadCPUSeconds()
            do { try context.evaluate("const f = () => Promise.resolve().then(f); f()") } catch { thrown = error }
            cpuSeconds = JSRuntime.threadCPUSeconds() - started
        })
        #expect((thrown as? ScriptTerminated)?.termination == .time(seconds: 2))
        #expect(cpuSeconds < 10, "the script's thread used \(cpuSeconds) s of CPU for a 2 s limit")
        context.runtime.clearTermination()
    }

    /// The host reads a value the script made (a thrown object's `toString`, a getter): what
    /// that code queues runs within the limit too, not in JSC's own drain afterwards.
    @Test func continuationsQueuedByCodeTheHostCallsAreStopped() throws {
        let host = try TestHost(entryTimeLimit: 0.2)
        let value = try host.context.evaluate("""
            ({ toString() { (async () => { for (;;) await null })(); return 'looping' } })
            """)
        var text = ""
        try #require(finishes(within: 20) { text = host.context.string(from: value) })
        #expect(text == "looping")
        #expect(host.context.runtime.termination == .time(seconds: 0.2))
        host.context.runtime.clearTermination()
    }

    @Test func unhandledRejectionsAreReported() throws {
        let host = try TestHost()
        try host.run("""
            Promise.reject(new Error('first'));
            const handled = Promise.reject(new Error('caught')); handled.catch(() => {});
            setTimeout(() => { Promise.reject('second') }, 1);
            """)
        let reasons = host.context.takeUnhandledRejections().map { host.context.inspect($0.ref) }
        #expect(reasons.count == 2)
        #expect(reasons.first?.hasPrefix("Error: first") == true)
        #expect(reasons.last == "'second'")
    }

    @Test func processExitEndsTheScript() throws {
        let host = try TestHost()
        #expect(throws: ScriptExited.self) { try host.run("console.log('before'); process.exit(3); console.log('after')") }
        #expect(host.stdout == ["before"])
    }

    /// Numbers a script chooses reach Swift integers only within range: none can trap the host.
    @Test func outlandishNumbersFromAScriptAreNoCrash() throws {
        let host = try TestHost()
        do {
            try host.run("process.exit(1e300)")
            Issue.record("expected process.exit")
        } catch let exited as ScriptExited {
            #expect(exited.code == Int32.max)
        }
        do {
            try TestHost().run("throw { name: 'Odd', message: 'thrown', sourceURL: '/x.js', line: 1e300, column: -Infinity }")
            Issue.record("expected the throw")
        } catch let error as JSException {
            #expect(error.location == nil, "\(error.location ?? "-")")
        }
    }

    @Test func scriptsCannotReachTheHost() throws {
        let host = try TestHost()
        #expect(try host.evaluate("typeof host") == "undefined")
        #expect(try host.evaluate("JSON.stringify(process.env)") == "{}")
        #expect(try host.evaluate("typeof require") == "undefined")
    }
}

@Suite struct ContextLifetimeTests {
    /// Contexts are freed when the host lets go of them (a cycle here made every build's
    /// context live forever, and GC slower with each build).
    @Test func contextsAreReleased() throws {
        weak var released: ScriptContext?
        try {
            let context = try ScriptContext(runtime: JSRuntime())
            try context.evaluate("Promise.reject(new Error('kept as a protected value'))")
            _ = context.takeUnhandledRejections()
            released = context
            context.close()
        }()
        #expect(released == nil)
    }
}
