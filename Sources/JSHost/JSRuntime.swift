import CJavaScriptCore
import Synchronization

/// One JavaScriptCore VM (a context group) with its watchdog.
///
/// Contexts created in the same runtime share compiled builtins, which makes a fresh
/// context per build cheap. A runtime runs one script at a time: use it from one
/// thread at a time (JSC's API lock would serialise anyway, and a runaway script in
/// one context stalls every other context of its group until the watchdog fires).
public final class JSRuntime: @unchecked Sendable {
    let group: JSContextGroupRef
    /// Longest a single entry into the VM may run (nil: unlimited).
    public let entryTimeLimit: Double?
    private let terminated = Atomic<Bool>(false)

    public init(entryTimeLimit: Double? = 10) {
        group = JSContextGroupCreate()
        self.entryTimeLimit = entryTimeLimit
        if let limit = entryTimeLimit, limit > 0 {
            JSContextGroupSetExecutionTimeLimit(
                group, limit, runtimeShouldTerminate, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    deinit {
        if entryTimeLimit != nil {
            JSContextGroupClearExecutionTimeLimit(group)
        }
        JSContextGroupRelease(group)
    }

    fileprivate func recordTermination() {
        terminated.store(true, ordering: .sequentiallyConsistent)
    }

    /// True once the watchdog has stopped a script; stays true until `clearTermination`.
    public var didTerminate: Bool {
        terminated.load(ordering: .sequentiallyConsistent)
    }

    /// Makes the runtime usable again after a termination.
    ///
    /// JSC can swallow a termination that hit a microtask and report it on the next
    /// call instead, so one throw-away evaluation absorbs it before the flag is reset.
    public func clearTermination() {
        guard didTerminate else { return }
        let context = JSGlobalContextCreateInGroup(group, nil)
        withJSString("0") { _ = JSEvaluateScript(context, $0, nil, nil, 0, nil) }
        JSGlobalContextRelease(context)
        terminated.store(false, ordering: .sequentiallyConsistent)
    }
}

// The watchdog's callback: always terminate, and remember that it happened so the
// host can tell a termination from an ordinary exception.
private func runtimeShouldTerminate(_ context: JSContextRef?, _ info: UnsafeMutableRawPointer?) -> Bool {
    guard let info else { return true }
    Unmanaged<JSRuntime>.fromOpaque(info).takeUnretainedValue().recordTermination()
    return true
}
