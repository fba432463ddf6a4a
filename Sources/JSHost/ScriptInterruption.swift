import Synchronization

/// A request, from any thread, to stop a context's script where it is: a cancel, or a
/// time by which it must have ended (the build timeout).
///
/// Between entries the host simply stops entering the script; this reaches one that is
/// running, through the watchdog (`JSRuntime`), which looks at it each tick of an entry
/// that has run longer than one: a loop is stopped within about 10 ms, not at the end of
/// its time limit.
public final class ScriptInterruption: Sendable {
    private struct State {
        var reason: String?
        var deadline: (instant: ContinuousClock.Instant, reason: String)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Stops the script at once with `reason` (the first reason given is kept).
    public func interrupt(_ reason: String) {
        state.withLock { if $0.reason == nil { $0.reason = reason } }
    }

    /// Stops the script with `reason` should it still run at `instant`.
    public func interrupt(at instant: ContinuousClock.Instant, reason: String) {
        state.withLock { $0.deadline = (instant, reason) }
    }

    /// Why the script must stop now, or nil.
    func reason(now: ContinuousClock.Instant) -> String? {
        state.withLock { state in
            if let reason = state.reason { return reason }
            if let deadline = state.deadline, now >= deadline.instant { return deadline.reason }
            return nil
        }
    }
}
