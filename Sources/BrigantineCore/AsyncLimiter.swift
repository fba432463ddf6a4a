import Synchronization

/// Lets at most `limit` tasks hold a permit for the same key at once; the others wait
/// in arrival order. (A limit of one is a per-key lock.)
public final class AsyncLimiter: Sendable {
    private struct Slot {
        var holders = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    public let limit: Int
    private let slots = Mutex<[String: Slot]>([:])

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    public func withPermit<T: Sendable>(_ key: String = "", _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { continuation in
            let granted = slots.withLock { slots in
                var slot = slots[key, default: Slot()]
                defer { slots[key] = slot }
                if slot.holders < limit {
                    slot.holders += 1
                    return true
                }
                slot.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = slots.withLock { slots -> CheckedContinuation<Void, Never>? in
            guard var slot = slots[key] else { return nil }
            defer { slots[key] = slot.holders == 0 && slot.waiting.isEmpty ? nil : slot }
            if slot.waiting.isEmpty {
                slot.holders -= 1
                return nil
            }
            return slot.waiting.removeFirst() // the permit passes straight to the next waiter
        }
        next?.resume()
    }
}
