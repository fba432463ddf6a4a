import Prometheus
import Scheduler
import Store
import Worker

/// What the gateway counts, in Prometheus' text format at `GET /metrics`: requests by
/// route and status, webhooks that joined a build, builds by outcome with their time in the queue and running,
/// scripts stopped by a limit, writes
/// to the store that had to be tried again, builds' starts tried again, old builds deleted, and, read when scraped, the
/// live builds and the queue. Labels are route patterns and statuses only: no URL (tokens ride in some), no
/// project names (their number is the operator's, not ours to multiply series by).
final class GatewayMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let storeWriteFailures: Counter
    private let startRetries: Counter
    private let deletedBuilds: Counter
    private let liveBuilds: Gauge
    private let pendingBuilds: Gauge

    /// Seconds, from what answering a webhook takes to what a long build takes.
    private static let requestBuckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5].map { .seconds($0) }
    private static let buildBuckets: [Duration] = [0.01, 0.1, 1, 5, 15, 60, 300, 900, 3600].map { .seconds($0) }

    init() {
        storeWriteFailures = registry.makeCounter(descriptor: .named(
            "brigantine_store_write_retries_total",
            help: "Writes of build logs and outcomes that the store refused and that were tried again."))
        startRetries = registry.makeCounter(descriptor: .named(
            "brigantine_build_start_retries_total",
            help: "Builds that could not start (their repository or the container engine out of reach) and were tried again."))
        deletedBuilds = registry.makeCounter(descriptor: .named(
            "brigantine_builds_deleted_total", help: "Ended builds deleted for being older than --keep-days."))
        liveBuilds = registry.makeGauge(descriptor: .named("brigantine_builds_live", help: "Builds live on this gateway."))
        pendingBuilds = registry.makeGauge(descriptor: .named("brigantine_builds_pending", help: "Builds waiting in the queue."))
    }

    /// Only requests that matched a route get here (Hummingbird runs router middleware on
    /// them alone), so methods and routes are the few the gateway serves: a client sending
    /// made-up paths or methods cannot make series without end.
    func requestServed(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: .named("brigantine_http_requests_total",
                                                help: "HTTP requests answered, by route pattern and status."),
                             labels: [("method", method), ("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: .named("brigantine_http_request_duration_seconds",
                                                          help: "Time to answer, by route pattern."),
                                       labels: [("route", route)], buckets: Self.requestBuckets)
            .record(duration)
    }

    /// A webhook answered with a build it did not make: a delivery sent again (`duplicate`)
    /// or one that joined a pending build in its coalescing window (`coalesced`).
    func webhookJoined(as how: String) {
        registry.makeCounter(descriptor: .named(
            "brigantine_webhooks_joined_total",
            help: "Webhooks that joined a build instead of making one, as a duplicate delivery or coalesced."),
                             labels: [("as", how)])
            .increment()
    }

    /// A connection the gateway closed for how its client behaved: a request that did not
    /// arrive in time (`request_timeout`), an answer it did not take (`send_timeout`), or one
    /// connection too many from its address (`client_limit`).
    func connectionClosed(_ why: String) {
        registry.makeCounter(descriptor: .named(
            "brigantine_connections_closed_total",
            help: "Connections closed for their client: a request too slow, an answer not taken, or too many from one address."),
                             labels: [("why", why)])
            .increment()
    }

    func buildsDeleted(_ count: Int) {
        deletedBuilds.increment(by: Int64(count))
    }

    /// What the scheduler reports to these metrics.
    var schedulerObserver: BuildScheduler.Observer {
        var observer = BuildScheduler.Observer()
        observer.buildEnded = { [self] status, queued, ran in
            registry.makeCounter(descriptor: .named("brigantine_builds_ended_total", help: "Builds ended on this gateway, by status."),
                                 labels: [("status", status.rawValue)]).increment()
            registry.makeDurationHistogram(descriptor: .named("brigantine_build_queue_seconds",
                                                              help: "Time from a webhook's acknowledgement to its build's start."),
                                           buckets: Self.buildBuckets)
                .record(queued)
            registry.makeDurationHistogram(descriptor: .named("brigantine_build_run_seconds", help: "Time a build ran, by status."),
                                           labels: [("status", status.rawValue)], buckets: Self.buildBuckets)
                .record(ran)
        }
        observer.storeWriteFailed = { [storeWriteFailures] _ in storeWriteFailures.increment() }
        observer.startRetried = { [startRetries] in startRetries.increment() }
        observer.scriptStopped = { [self] limit in
            registry.makeCounter(descriptor: .named(
                "brigantine_scripts_stopped_total",
                help: "Builds whose script a limit stopped: time (--script-time-limit) or memory (--script-memory-limit)."),
                                 labels: [("limit", limit.rawValue)])
                .increment()
        }
        return observer
    }

    /// The text a scrape gets; the queue's length is NaN when the store did not answer.
    func exposition(liveBuilds live: Int, pendingBuilds pending: Int?) -> [UInt8] {
        liveBuilds.set(Int64(live))
        pendingBuilds.set(pending.map(Double.init) ?? .nan)
        return registry.emitToBuffer()
    }
}

extension MetricNameDescriptor {
    /// A metric by its whole name (the empty unit adds nothing to it).
    static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
