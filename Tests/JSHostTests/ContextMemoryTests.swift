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
}
