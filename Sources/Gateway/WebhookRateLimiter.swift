import BrigantineCore
import Logging
import Synchronization

/// Each project's `rateLimit`, as token buckets in this gateway's memory: a webhook that
/// would make a build takes a token, and one that finds none is refused with 429 before
/// anything is stored. A flood to one project (a registry sending an event for every layer,
/// a retry loop) then costs the queue and the other projects nothing.
///
/// The buckets are per gateway: with several gateways on a shared store, each lets a project
/// through at its own rate. They outlive a reload of the project files; a changed limit
/// starts its project's bucket full again. A run of refusals is logged at its first and
/// when it ends, not once per webhook, so that a flood does not flood the log as well.
final class WebhookRateLimiter: Sendable {
    /// What `take` found: a token (give it back with `giveBack` if no build was made after
    /// all), or none, with how long until the next.
    enum Admission: Equatable {
        case admitted
        case refused(retryAfterSeconds: Int)
    }

    private struct Bucket {
        let limit: Project.RateLimit
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// Webhooks refused since the last one admitted.
        var refusedInARow = 0
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant

    init(logger: Logger, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.logger = logger
        self.now = now
    }

    /// A token from `project`'s bucket; always admitted for a project without a limit.
    func take(for project: Project) -> Admission {
        guard let limit = project.rateLimit else { return .admitted }
        let now = now()
        let (admission, refusedBefore) = buckets.withLock { buckets in
            var bucket = refilled(buckets[project.id], limit: limit, at: now)
            defer { buckets[project.id] = bucket }
            let refusedBefore = bucket.refusedInARow
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                bucket.refusedInARow = 0
                return (Admission.admitted, refusedBefore)
            }
            bucket.refusedInARow += 1
            let wait = (1 - bucket.tokens) / limit.refillPerSecond
            return (Admission.refused(retryAfterSeconds: max(1, Int(wait.rounded(.up)))), refusedBefore)
        }
        switch admission {
        case .admitted where refusedBefore > 0:
            logger.notice("webhooks accepted again after \(refusedBefore) refused over the project's rate limit",
                          metadata: ["project": "\(project.name)"])
        case .refused where refusedBefore == 0:
            logger.notice("webhooks refused with 429: the project's rate limit is \(limit)",
                          metadata: ["project": "\(project.name)"])
        default:
            break
        }
        return admission
    }

    /// Returns the token `take` gave for a webhook that made no build (a duplicate delivery,
    /// a store that did not answer).
    func giveBack(for project: Project) {
        guard let limit = project.rateLimit else { return }
        buckets.withLock { buckets in
            guard var bucket = buckets[project.id], bucket.limit == limit else { return }
            bucket.tokens = min(Double(limit.burst), bucket.tokens + 1)
            buckets[project.id] = bucket
        }
    }

    private func refilled(_ bucket: Bucket?, limit: Project.RateLimit, at now: ContinuousClock.Instant) -> Bucket {
        guard let bucket, bucket.limit == limit else { return Bucket(limit: limit, tokens: Double(limit.burst), updated: now) }
        let seconds = bucket.updated.duration(to: now) / .seconds(1)
        var refilled = bucket
        refilled.tokens = min(Double(limit.burst), bucket.tokens + seconds * limit.refillPerSecond)
        refilled.updated = now
        return refilled
    }
}
