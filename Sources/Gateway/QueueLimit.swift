import Logging
import Synchronization

/// The gateway's cap on builds waiting in the store. At the cap a webhook is answered `503`
/// with `Retry-After` and nothing is stored: a flood cannot fill the disk, and a registry
/// that retries (Harbor, distribution) delivers it again once the queue has room.
///
/// Counting the store for every webhook would cost a query each, so the count is the
/// store's as last counted plus the builds accepted since, counted again at most once per
/// `recountInterval` and off the webhook's path. Builds started since the last count still
/// count, so near the cap it refuses a little early rather than late.
final class QueueLimit: Sendable {
    enum Verdict: Equatable, Sendable {
        case admitted
        case full(waiting: Int, limit: Int)
    }

    /// Seconds a refused sender is told to wait.
    static let retryAfterSeconds = 30

    /// nil: no cap.
    let limit: Int?
    private let recountInterval: Duration
    private let countWaiting: @Sendable () async throws -> Int
    private let logger: Logger

    private struct State {
        var waiting = 0
        /// Every build accepted so far: those accepted during a count are added to its result.
        var acceptedTotal = 0
        var countedAt: ContinuousClock.Instant?
        var counting = false
        var refusing = false
    }
    private let state = Mutex(State())

    init(limit: Int?, recountInterval: Duration = .seconds(1), logger: Logger,
         countWaiting: @escaping @Sendable () async throws -> Int) {
        self.limit = limit.flatMap { $0 > 0 ? $0 : nil }
        self.recountInterval = recountInterval
        self.logger = logger
        self.countWaiting = countWaiting
    }

    /// Whether one more build may be stored now.
    func check() -> Verdict {
        guard let limit else { return .admitted }
        let (waiting, recount, filled) = state.withLock { state -> (Int, Bool, Bool) in
            let due = state.countedAt.map { $0.duration(to: .now) >= recountInterval } ?? true
            let recount = due && !state.counting
            if recount { state.counting = true }
            return (state.waiting, recount, Self.note(full: state.waiting >= limit, in: &state))
        }
        if recount { Task { await self.count() } }
        if filled { logTransition(full: true, waiting: waiting, limit: limit) }
        return waiting < limit ? .admitted : .full(waiting: waiting, limit: limit)
    }

    /// A build was stored.
    func accepted() {
        state.withLock { state in
            state.waiting += 1
            state.acceptedTotal += 1
        }
    }

    /// Counts the builds waiting in the store now. A count that fails keeps the last one.
    func count() async {
        let acceptedBefore = state.withLock { state in
            state.counting = true
            return state.acceptedTotal
        }
        let began = ContinuousClock.now
        let counted = try? await countWaiting()
        let (waiting, changed) = state.withLock { state -> (Int, Bool) in
            state.counting = false
            state.countedAt = began
            if let counted { state.waiting = counted + (state.acceptedTotal - acceptedBefore) }
            return (state.waiting, limit.map { Self.note(full: state.waiting >= $0, in: &state) } ?? false)
        }
        if changed, let limit { logTransition(full: waiting >= limit, waiting: waiting, limit: limit) }
    }

    /// Records whether the queue is full; true when that changed.
    private static func note(full: Bool, in state: inout State) -> Bool {
        defer { state.refusing = full }
        return full != state.refusing
    }

    // One line when the queue fills and one when it has room again: a flood does not flood the log.
    private func logTransition(full: Bool, waiting: Int, limit: Int) {
        if full {
            logger.warning("the queue is full: \(waiting) builds wait, the gateway's limit is \(limit); webhooks get 503 until builds leave it")
        } else {
            logger.notice("the queue has room again: \(waiting) builds wait (limit \(limit)); webhooks are accepted")
        }
    }
}
