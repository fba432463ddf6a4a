import CJavaScriptCore
import Foundation
import Synchronization

/// One JavaScriptCore VM (a context group) with its watchdog.
///
/// Contexts created in the same runtime share compiled builtins, which makes a fresh
/// context per build cheap. A runtime runs one script at a time: use it from one
/// thread at a time (JSC's API lock would serialise anyway, and a runaway script in
/// one context stalls every other context of its group until the watchdog fires).
///
/// The watchdog enforces two limits on each entry into the VM: how long it may run
/// without yielding (a context may ask for its own limit), and how much the VM's heap may
/// grow during it (JSC has no heap cap of its own). Growth, not size: contexts of many
/// live builds share a lane's VM, and the one that runs away is the one to stop. It ticks
/// only while an entry runs longer than a tick, so short entries cost nothing.
public final class JSRuntime: @unchecked Sendable {
    /// Why the watchdog stopped a script.
    public enum Termination: Sendable, Equatable {
        case time(seconds: Double)
        case memory(bytes: Int)
        /// Its context was interrupted (`ScriptInterruption`), with this reason.
        case interrupted(String)
    }

    /// Execution-counter units (a loop iteration counts 1, a call 15) that code runs in the
    /// interpreter, within one context, before JSC compiles it: see `engineOptions`.
    public static let baselineJITThreshold: Int32 = 200_000

    let group: JSContextGroupRef
    /// Longest a single entry into the VM may run (nil: unlimited).
    public let entryTimeLimit: Double?
    /// Most the VM's heap may grow during one entry, in bytes (nil: unlimited).
    public let heapLimit: Int?
    private let tick: Double
    private let ticks = Atomic<Int>(0)
    /// The time limit of the entry that runs now (its context's, else the runtime's).
    private let currentTimeLimit = Mutex<Double?>(nil)
    /// What may interrupt the entry that runs now.
    private let currentInterruption = Mutex<ScriptInterruption?>(nil)
    private let terminated = Mutex<Termination?>(nil)
    /// The running entry's looks at the heap (nil: none yet): see `ticksToNextHeapLook`.
    private let heapLooks = Mutex<HeapLooks?>(nil)
    /// How deep the script's thread is in entries of ours and native functions (see
    /// `enter`); only that thread touches it.
    var entryDepth = 0
    /// Where an outermost entry keeps JSC's entry scope.
    let entryScope = VMEntryScopeStorage()
    /// A context that lives as long as the runtime, holding `detachedRejectionCallback`.
    private let anchor: JSGlobalContextRef
    /// A no-op function for contexts that are done: JSC keeps a context's unhandled-
    /// rejection callback in a strong handle (a GC root), so a callback of the context's
    /// own would keep that context alive for as long as the VM, and it cannot be cleared.
    let detachedRejectionCallback: JSObjectRef

    public init(entryTimeLimit: Double? = 10, heapLimit: Int? = nil) {
        _ = engineOptions
        group = JSContextGroupCreate()
        self.entryTimeLimit = entryTimeLimit.flatMap { $0 > 0 ? $0 : nil }
        self.heapLimit = heapLimit.flatMap { $0 > 0 ? $0 : nil }
        tick = min(0.01, self.entryTimeLimit ?? 0.01)
        let anchor = JSGlobalContextCreateInGroup(group, nil)!
        let noop = withJSString("(function () {})") { JSEvaluateScript(anchor, $0, nil, nil, 1, nil) }
        let callback = JSValueToObject(anchor, noop, nil)!
        JSValueProtect(anchor, callback)
        self.anchor = anchor
        detachedRejectionCallback = callback
        arm()
    }

    deinit {
        JSValueUnprotect(anchor, detachedRejectionCallback)
        JSGlobalContextRelease(anchor)
        JSContextGroupClearExecutionTimeLimit(group)
        JSContextGroupRelease(group)
    }

    /// Without limits of its own the runtime has no watchdog, and contexts' limits do nothing.
    private func arm() {
        guard entryTimeLimit != nil || heapLimit != nil else { return }
        JSContextGroupSetExecutionTimeLimit(group, tick, runtimeWatchdogTick, Unmanaged.passUnretained(self).toOpaque())
    }

    /// An outermost entry into the VM begins: its time starts from zero.
    /// - Parameters:
    ///   - timeLimit: this entry's own limit, in seconds (nil: the runtime's).
    ///   - interruption: what may stop this entry before its limit.
    func entryBegan(timeLimit: Double? = nil, interruption: ScriptInterruption? = nil) {
        currentInterruption.withLock { $0 = interruption }
        ticks.store(0, ordering: .relaxed)
        heapLooks.withLock { $0 = nil }
        currentTimeLimit.withLock { $0 = timeLimit ?? entryTimeLimit }
    }

    /// Called by the watchdog on the script's thread each `tick` of one long entry.
    fileprivate func watchdogTick(_ context: JSContextRef?) -> Bool {
        let tickCount = ticks.add(1, ordering: .relaxed).newValue
        let elapsed = Double(tickCount) * tick
        if let limit = currentTimeLimit.withLock({ $0 }), elapsed >= limit {
            terminated.withLock { $0 = .time(seconds: limit) }
            return true
        }
        if let reason = currentInterruption.withLock({ $0 })?.reason(now: .now) {
            terminated.withLock { $0 = .interrupted(reason) }
            return true
        }
        let previous = heapLooks.withLock { $0 }
        if let limit = heapLimit, let context, tickCount >= previous?.nextTick ?? 0 {
            // Entries this long are rare, so the first tick is when the heap is first read:
            // what the entry allocated before that counts as part of where it started.
            let lookStarted = Self.threadCPUSeconds()
            let size = heapSize(context)
            let start = previous?.start ?? size
            if size - start > limit {
                // The heap holds garbage too: collect once before deciding the script is
                // using that much.
                JSSynchronousGarbageCollectForDebugging(context)
                if heapSize(context) - start > limit {
                    terminated.withLock { $0 = .memory(bytes: limit) }
                    return true
                }
            }
            let wait = ticksToNextHeapLook(after: previous, size: size, grown: size - start, limit: limit,
                                           now: tickCount, cost: Self.threadCPUSeconds() - lookStarted)
            heapLooks.withLock { $0 = HeapLooks(start: start, size: size, tick: tickCount, nextTick: tickCount + wait) }
        }
        arm() // JSC's watchdog fires again only if it is set again before answering false
        return false
    }

    /// JSC's memory statistics count every object, which takes a while on a heap of
    /// millions (a `.then` chain that keeps every promise): the heap is read again after
    /// ticks enough that reading takes at most a tenth of the script's time (so the time
    /// limit still comes about when it should), but before it could reach the limit at the
    /// rate it grew since the last look (so the memory limit does too). Both in CPU time,
    /// as ticks are: on a busy machine the look's wall time says little of its cost.
    private func ticksToNextHeapLook(after last: HeapLooks?, size: Int, grown: Int, limit: Int,
                                     now: Int, cost: Double) -> Int {
        var wait = Int(cost * 10 / tick)
        if let last {
            if now > last.tick {
                let growthPerTick = max(0, size - last.size) / (now - last.tick)
                if growthPerTick > 0 { wait = min(wait, max(0, limit - grown) / (2 * growthPerTick)) }
            }
        } else {
            wait = min(wait, 10) // the first look: soon again, to learn how fast the heap grows
        }
        return max(1, wait)
    }

    /// An entry's looks at the heap: its size at the first (where the entry started), the
    /// size and tick of the last, and the tick of the next.
    private struct HeapLooks {
        let start: Int
        let size: Int
        let tick: Int
        let nextTick: Int
    }

    /// CPU time the calling thread has used, in seconds: what ticks and limits count.
    public static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The VM's heap size, from JSC's memory statistics.
    func heapSize(_ context: JSContextRef) -> Int {
        guard let statistics = JSGetMemoryUsageStatistics(context) else { return 0 }
        let size = withJSString("heapSize") { JSObjectGetProperty(context, statistics, $0, nil) }
        return size.map { Int(JSValueToNumber(context, $0, nil)) } ?? 0
    }

    /// Why the watchdog stopped a script; nil until it does, and after `clearTermination`.
    public var termination: Termination? {
        terminated.withLock { $0 }
    }

    public var didTerminate: Bool { termination != nil }

    /// Makes the runtime usable again after a termination.
    ///
    /// JSC can swallow a termination that hit a microtask and report it on the next
    /// call instead; an entry that ends while the runtime is terminated absorbs it (see
    /// `enter`; JSC drops the microtasks still queued then), so one empty entry makes sure.
    /// After a memory termination the heap is collected, so the next build starts small.
    public func clearTermination() {
        guard let reason = termination else { return }
        let context = JSGlobalContextCreateInGroup(group, nil)!
        enter(context, timeLimit: nil, interruption: nil) {}
        if case .memory = reason { JSSynchronousGarbageCollectForDebugging(context) }
        JSGlobalContextRelease(context)
        terminated.withLock { $0 = nil }
        arm()
    }
}

/// JSC's process-wide options, set once before the first VM exists.
///
/// Polling traps: by default JSC stops a running script (the watchdog) by suspending its
/// thread with a signal from a "signal sender" thread. With several VMs busy at once,
/// that suspension deadlocks against libpas's scavenger, which suspends threads too: both
/// lanes of a loaded gateway were found spinning in the allocator for good. With polling
/// traps the script's own code checks for the stop request at loop edges and calls, so no
/// thread is ever suspended.
///
/// Baseline JIT only for code that is hot within one context: JSC compiles a function to
/// Baseline once per VM, and from then on every fresh context runs it as Baseline code,
/// which costs more to set up per context (its inline caches are rebuilt for each new
/// global object's shapes) than a build's few calls of it ever win back. With the
/// threshold at 200,000 (JSC's default is 500) a build's glue code stays in the
/// interpreter — 18 % less time per build — while a loop or recursion that runs that
/// long in one build still gets compiled within milliseconds: a 3e7-iteration loop, fib(27)
/// and sorting 200,000 objects ran as fast as with the default (interpreter only: 8x slower).
private let engineOptions: Void = {
    _ = jsc_options_set_boolean("usePollingTraps", 1)
    _ = jsc_options_set_int("thresholdForJITAfterWarmUp", JSRuntime.baselineJITThreshold)
    _ = jsc_options_set_int("thresholdForJITSoon", JSRuntime.baselineJITThreshold)
}()

// The watchdog's callback; it runs on the thread of the script it interrupts.
private func runtimeWatchdogTick(_ context: JSContextRef?, _ info: UnsafeMutableRawPointer?) -> Bool {
    guard let info else { return true }
    return Unmanaged<JSRuntime>.fromOpaque(info).takeUnretainedValue().watchdogTick(context)
}
