import Synchronization

/// A value settled once, from any thread or task, that any number of tasks await; later
/// settlements are dropped. Tests wait on it for a process's exit or a build's outcome
/// (whichever of that and a time limit comes first).
public final class SettledOnce<Value: Sendable>: Sendable {
    /// `value` is non-nil once settled (also when `Value` is itself optional: a settled
    /// nil is `.some(nil)`).
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    public init() {}

    public func settle(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>] = state.withLock { state in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume(returning: value) }
    }

    public var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let settled: Value? = state.withLock { state in
                    if state.value == nil { state.waiters.append(continuation) }
                    return state.value
                }
                if let settled { continuation.resume(returning: settled) }
            }
        }
    }
}

/// Set by a process's termination handler (see `Process.start`).
public typealias ExitSignal = SettledOnce<Void>

extension SettledOnce where Value == Void {
    public func signal() { settle(()) }
    public func wait() async { await value }
}

/// A test's own failure (a program that did not start, a build that did not end), with
/// what happened as its description.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
