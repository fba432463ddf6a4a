import CJavaScriptCore
import Foundation

/// One entry into the VM that includes the microtasks it queues.
///
/// Through the C API, JSC runs the microtask queue when the outermost API call lets go of
/// the VM's lock, after that call's own entry has ended, and it runs each continuation as
/// an entry of its own. Its watchdog measures CPU time per entry, so a script that loops
/// through continuations alone (`while (true) await null`, or a `.then` that queues the
/// next `.then`) was never stopped: each continuation takes microseconds.
///
/// So an outermost entry of ours holds the API lock itself, opens JSC's entry scope (the
/// one `JSEvaluateScript` would open), runs the call, then runs the microtask queue while
/// that scope is still open, and only then closes the scope and lets go of the lock (the
/// queue is empty by then, so JSC has nothing left to run). The call and its
/// continuations are one entry to the watchdog, which stops the whole at the time limit.
/// This is what newer WebKit's own `VM::drainMicrotasks` does (it opens one entry scope
/// for the whole drain).
///
/// The scope and the drain are JSC's exported C++ functions (`VMEntryScope::setUpSlow`,
/// `tearDownSlow`, `VM::drainMicrotasks`), found at run time. Where the library lacks them
/// (another JSC version), entries are as before and `JSRuntime.drainsInsideEntries` is false.
///
/// A scope is opened only by an outermost entry, never while JavaScript is on the stack:
/// entries made from a native function (JavaScript called Swift, which calls JavaScript)
/// run inside the entry that is already open. JSC's scope keeps a pointer to it in the VM,
/// and one opened inside another would be closed while the outer one still runs.
struct VMEntryFunctions: @unchecked Sendable {
    typealias ScopeFunction = @convention(c) (UnsafeMutableRawPointer) -> Void
    typealias DrainFunction = @convention(c) (UnsafeMutableRawPointer) -> Void

    let setUpScope: ScopeFunction
    let tearDownScope: ScopeFunction
    let drainMicrotasks: DrainFunction

    /// The functions in the loaded JavaScriptCore, or nil when one is missing.
    static let loaded: VMEntryFunctions? = {
        guard let library = dlopen("libjavascriptcoregtk-4.1.so.0", RTLD_NOW | RTLD_NOLOAD),
              let setUp = dlsym(library, "_ZN3JSC12VMEntryScope9setUpSlowEv"),
              let tearDown = dlsym(library, "_ZN3JSC12VMEntryScope12tearDownSlowEv"),
              let drain = dlsym(library, "_ZN3JSC2VM15drainMicrotasksEv")
        else { return nil }
        return VMEntryFunctions(
            setUpScope: unsafeBitCast(setUp, to: ScopeFunction.self),
            tearDownScope: unsafeBitCast(tearDown, to: ScopeFunction.self),
            drainMicrotasks: unsafeBitCast(drain, to: DrainFunction.self))
    }()
}

/// The memory of JSC's `VMEntryScope` (a reference to the VM, then the global object),
/// which lives on the caller's stack in JSC and in the runtime here. Room is left beyond
/// the two fields in case a later layout adds some.
final class VMEntryScopeStorage {
    private let words = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 8)

    init() { words.initialize(repeating: nil, count: 8) }
    deinit { words.deallocate() }

    func prepare(vm: UnsafeMutableRawPointer, globalObject: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        words[0] = vm
        words[1] = globalObject
        return UnsafeMutableRawPointer(words)
    }
}

extension JSRuntime {
    /// Whether entries run their microtasks inside themselves (see `VMEntryFunctions`).
    public static var drainsInsideEntries: Bool { VMEntryFunctions.loaded != nil }

    /// Runs `body`, which calls into the VM through `context`, as one entry with the
    /// microtasks it queues; nested in an entry or a native function, just runs it.
    ///
    /// - Parameters:
    ///   - timeLimit: this entry's own time limit (nil: the runtime's).
    ///   - interruption: what may stop this entry before its limit.
    func enter<Result>(_ context: JSGlobalContextRef, timeLimit: Double?, interruption: ScriptInterruption?,
                       _ body: () throws -> Result) rethrows -> Result {
        if entryDepth > 0 {
            entryDepth += 1
            defer { entryDepth -= 1 }
            return try body()
        }
        entryBegan(timeLimit: timeLimit, interruption: interruption)
        entryDepth = 1
        defer { entryDepth = 0 }
        guard let functions = VMEntryFunctions.loaded else {
            defer { if termination != nil { absorbTermination(context) } }
            return try body()
        }
        JSLock(context)
        let vm = UnsafeMutableRawPointer(group)
        let scope = entryScope.prepare(vm: vm, globalObject: UnsafeMutableRawPointer(context))
        functions.setUpScope(scope)
        defer {
            functions.drainMicrotasks(vm)
            if termination != nil { absorbTermination(context) }
            functions.tearDownScope(scope)
            JSUnlock(context)
        }
        return try body()
    }

    /// After the watchdog stopped the script, JSC keeps the termination pending in the VM
    /// (whether it hit the call or the microtasks after it) and drops what was still
    /// queued at the next call that takes it. That must be one of ours: making a context
    /// with a termination pending aborts the process.
    private func absorbTermination(_ context: JSGlobalContextRef) {
        var ignored: JSValueRef?
        withJSString("0") { _ = JSEvaluateScript(context, $0, nil, nil, 0, &ignored) }
    }

    /// A native function runs: JavaScript is on the stack, inside an entry already open.
    func nativeCall<Result>(_ body: () throws -> Result) rethrows -> Result {
        entryDepth += 1
        defer { entryDepth -= 1 }
        return try body()
    }
}
