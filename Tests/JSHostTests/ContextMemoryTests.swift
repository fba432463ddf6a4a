import CJavaScriptCore
import Foundation
@testable import JSHost
import Testing

@Suite struct ContextMemoryTests {
    /// Contexts closed in a shared VM leave nothing reachable behind (JSC's unhandled-
    /// rejection callback used to keep every one of them alive for as long as the VM).
    @Test func closedContextsLeaveNothingBehind() throws {
        let runtime = JSRuntime()
        func heap() -> Int {
            let ctx = JSGlobalContextCreateInGroup(runtime.group, nil)!
            defer { JSGlobalContextRelease(ctx) }
            JSSynchronousGarbageCollectForDebugging(ctx)
            return runtime.heapSize(ctx)
        }
        func makeAndClose(_ count: Int) throws {
            for _ in 0..<count {
                let context = try ScriptContext(runtime: runtime)
                try context.evaluate("globalThis.data = new Array(1000).fill('x'); Promise.reject(new Error('unhandled'))")
                _ = context.takeUnhandledRejections()
                context.close()
            }
        }
        try makeAndClose(20) // the VM's own warm-up
        let before = heap()
        try makeAndClose(200)
        let growth = heap() - before
        #expect(growth < 2 << 20, "200 closed contexts left \(growth >> 10) KiB reachable")
    }

    /// Values made one after another for one call stay alive while the later ones are made,
    /// even when making those collects (each maker here collects first, then fills the
    /// heap). Values waiting only in a Swift array are invisible to JSC's collector: the
    /// gateway's event arguments were collected that way under load, and the collector
    /// crashed when it met them again inside the script's event.
    @Test func valuesMadeForOneCallSurviveCollectionsInBetween() throws {
        let context = try ScriptContext(runtime: JSRuntime())
        let texts = (0..<40).map { "value \($0) " + String(repeating: "x", count: 64) }
        let makers: [() -> JSValueRef] = texts.map { text in
            {
                JSSynchronousGarbageCollectForDebugging(context.ref)
                for index in 0..<300 { _ = context.makeString("filler \(index) " + String(repeating: "y", count: 64)) }
                return context.makeString(text)
            }
        }
        let joined = try context.withValues(makers) { values in
            try context.call(try context.evaluate("(function () { return Array.from(arguments).join('|'); })"), values)
        }
        let got = context.string(from: joined).split(separator: "|").map(String.init)
        let lost = zip(got, texts).filter { $0 != $1 }.count + abs(got.count - texts.count)
        #expect(lost == 0, "\(lost) of \(texts.count) values were collected and their cells reused")
    }
}
