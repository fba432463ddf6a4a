import Synchronization

/// Lets at most `limit` tasks hold a permit for the same key at once; the others wait
/// in arrival order. (A limit of one is a per-key lock.)
///
/// A task cancelled while it waits stops waiting at once (`CancellationError`): a build
/// stopped while its checkout or its job waited behind another's would otherwise end only
/// once that other was done.
public final class AsyncLimiter: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Slot {
        var holders = 0
        var waiting: [Waiter] = []
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var nextWaiter: UInt64 = 0
    }

    public let limit: Int
    private let state = Mutex(State())

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    public func withPermit<T: Sendable>(_ key: String = "", _ body: () async throws -> T) async throws -> T {
        try await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async throws {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted: Bool? = state.withLock { state in
                    // Checked under the lock, so a cancel that came before the waiter was
                    // listed (and found nothing to remove) is not missed.
                    if Task.isCancelled { return false }
                    var slot = state.slots[key, default: Slot()]
                    defer { state.slots[key] = slot }
                    if slot.holders < limit {
                        slot.holders += 1
                        return true
                    }
                    slot.waiting.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                switch granted {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break // resumed by `release`, or by the cancel
                }
            }
        } onCancel: {
            let removed = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard var slot = state.slots[key], let index = slot.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                let waiter = slot.waiting.remove(at: index)
                state.slots[key] = slot.holders == 0 && slot.waiting.isEmpty ? nil : slot
                return waiter.continuation
            }
            removed?.resume(throwing: CancellationError())
        }
    }

    private func release(_ key: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard var slot = state.slots[key] else { return nil }
            defer { state.slots[key] = slot.holders == 0 && slot.waiting.isEmpty ? nil : slot }
            if slot.waiting.isEmpty {
                slot.holders -= 1
                return nil
            }
            return slot.waiting.removeFirst().continuation // the permit passes straight to the next waiter
        }
        next?.resume()
    }
}
