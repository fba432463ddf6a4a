import Synchronization

/// A value settled once, from any thread or task, that any number of tasks await; later
/// settlements are dropped. Tests wait on it for a process's exit or a build's outcome
/// (whichever of that and a time limit comes first).
public final class SettledOnce<Value: Sendable>: Sendable {
    private let state = Mutex<(done: Bool, value: Value?, waiters: [CheckedContinuation<Value, Never>])>((false, nil, []))

    public init() {}

    public func settle(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>] = state.withLock { state in
            guard !state.done else { return [] }
            state.done = true
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
                    if !state.done { state.waiters.append(continuation) }
                    return state.done ? state.value : nil
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
