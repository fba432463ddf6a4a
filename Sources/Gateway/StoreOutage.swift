import Foundation
import Logging
import Scheduler
import Store
import Synchronization

/// Whether the store takes writes, as the latest ones showed (a full disk, a database out
/// of reach). The log says so once when writes start failing and once when they land again,
/// not once per refused webhook; `/readyz` answers 503 in between, since a webhook then gets
/// 503 too. Reads may still work meanwhile (SQLite on a full disk reads fine).
///
/// A store can fail and succeed by turns (SQLite on a full disk commits while its log has
/// room to reuse): an outage ends only with a write that lands `settling` after the last
/// failure, so that it is said once rather than once per turn.
final class StoreOutage: Sendable {
    private struct Outage {
        let began: ContinuousClock.Instant
        var lastFailure: ContinuousClock.Instant
        var refusedWebhooks = 0
    }

    private let outage = Mutex<Outage?>(nil)
    private let logger: Logger
    let settling: Duration
    /// How long a failure counts when nothing lands after it: with no webhooks and no
    /// builds' writes, nothing else would tell that the store takes writes again.
    let memory: Duration

    init(logger: Logger, settling: Duration = .seconds(1), memory: Duration = .seconds(10)) {
        self.logger = logger
        self.settling = settling
        self.memory = memory
    }

    /// A write failed (`webhook`: a webhook's build, which was refused).
    func failed(_ error: any Error, webhook: Bool) {
        let now = ContinuousClock.now
        let began = outage.withLock { outage in
            let began = outage == nil
            if outage == nil { outage = Outage(began: now, lastFailure: now) }
            outage?.lastFailure = now
            if webhook { outage?.refusedWebhooks += 1 }
            return began
        }
        if began {
            logger.warning("the build store refuses writes, so webhooks get 503 until it takes them again: \(error)")
        }
    }

    /// A write landed: an outage, if there was one and it has settled, is over.
    func succeeded() {
        let now = ContinuousClock.now
        let ended = outage.withLock { outage -> Outage? in
            guard let current = outage, now - current.lastFailure >= settling else { return nil }
            outage = nil
            return current
        }
        guard let ended else { return }
        let lasted = String(format: "%.1f", (ended.lastFailure - ended.began).seconds)
        logger.notice("the build store takes writes again; they failed for \(lasted) s, and \(ended.refusedWebhooks) webhook(s) were refused")
    }

    /// Whether writes fail: one failed within `memory`, and none landed after it settled.
    var isFailing: Bool {
        outage.withLock { outage in outage.map { ContinuousClock.now - $0.lastFailure < memory } ?? false }
    }
}

extension BuildScheduler.Observer {
    /// This observer, also telling `outage` how the builds' writes went.
    func reporting(to outage: StoreOutage) -> Self {
        var observer = self
        observer.storeWriteFailed = { [storeWriteFailed] error in
            storeWriteFailed(error)
            outage.failed(error, webhook: false)
        }
        observer.storeWriteLanded = { [storeWriteLanded] in
            storeWriteLanded()
            outage.succeeded()
        }
        return observer
    }
}
