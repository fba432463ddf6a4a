import BrigantineCore
import Brigadier
import Foundation
import JobRunners
import JSHost
import Logging
import Store
import Synchronization
import Worker

/// Runs stored builds: takes pending ones from the store (oldest first), runs each with
/// the script host, and records its log, jobs and outcome.
///
/// Builds run on `lanes` threads, each with a VM of its own and a fresh context per build
/// inside it; a lane runs many live builds (most of a build's life is waiting for jobs).
/// At most `maxBuilds` builds are live at once, and of one project at most its
/// `maxConcurrentBuilds`, else `perProjectLimit`.
public final class BuildScheduler: Sendable {
    public struct Settings: Sendable {
        /// Threads running builds' JavaScript (about one per core is plenty).
        public var lanes: Int
        /// Builds live at once, over all lanes.
        public var maxBuilds: Int
        /// Builds of one project live at once, for projects that do not set their own.
        public var perProjectLimit: Int
        public var worker: WorkerSettings
        /// How often the queue is looked at when nobody says a build was added, and the
        /// store asked whether live builds were asked to stop.
        public var pollInterval: Duration
        /// Where mirrors of projects' git repositories are kept.
        public var repositories: URL
        /// How long a build waits before each new try when it could not start for a reason
        /// that may pass (its repository or the container engine out of reach): one more try
        /// per delay, then it fails. Its script has not run, so nothing runs twice.
        public var startRetryDelays: [Duration]
        /// How long one fetch of a project's repository may take; past it the host counts as
        /// out of reach (and the start is tried again after `startRetryDelays`).
        public var fetchTimeLimit: Duration
        /// How often a running build's new log lines are written to the store (what is left
        /// at its end goes with its end).
        public var logFlushInterval: Duration

        public static let defaultStartRetryDelays: [Duration] = [.seconds(10), .seconds(60), .seconds(300)]
        public static let defaultFetchTimeLimit: Duration = .seconds(600)

        public init(lanes: Int = 2, maxBuilds: Int = 100, perProjectLimit: Int = 4, worker: WorkerSettings,
                    pollInterval: Duration = .seconds(1), repositories: URL? = nil,
                    startRetryDelays: [Duration] = defaultStartRetryDelays, fetchTimeLimit: Duration = defaultFetchTimeLimit,
                    logFlushInterval: Duration = .milliseconds(200)) {
            self.lanes = max(1, lanes)
            self.maxBuilds = max(1, maxBuilds)
            self.perProjectLimit = max(1, perProjectLimit)
            self.worker = worker
            self.pollInterval = pollInterval
            self.repositories = repositories ?? worker.workRoot.appendingPathComponent("repositories", isDirectory: true)
            self.startRetryDelays = startRetryDelays
            self.fetchTimeLimit = fetchTimeLimit
            self.logFlushInterval = logFlushInterval
        }
    }

    /// What the scheduler tells whoever counts (the gateway's metrics); each is called on
    /// the scheduler's tasks and must return at once.
    public struct Observer: Sendable {
        /// A build ended: its status, how long it waited to start, and how long it ran.
        public var buildEnded: @Sendable (_ status: BuildStatus, _ queued: Duration, _ ran: Duration) -> Void = { _, _, _ in }
        /// A write to the store failed; it is tried again.
        public var storeWriteFailed: @Sendable (_ error: any Error) -> Void = { _ in }
        /// A write to the store landed (after failures or not).
        public var storeWriteLanded: @Sendable () -> Void = {}
        /// A build could not start for a reason that may pass; it is tried again later.
        public var startRetried: @Sendable () -> Void = {}
        /// A build's script was stopped by one of the script limits.
        public var scriptStopped: @Sendable (_ limit: ScriptLimit) -> Void = { _ in }

        public init() {}
    }

    /// The project a build belongs to, by Brigade ID (nil: it no longer exists).
    public typealias ProjectLookup = @Sendable (String) -> Project?
    /// The runner for a project's jobs.
    public typealias RunnerFactory = @Sendable (Project) async throws -> any JobRunner
    /// Project ID → `maxConcurrentBuilds`, for the projects that set it (the others may have
    /// `perProjectLimit` live at once); a shared store counts those over all its gateways.
    public typealias ConcurrencyLimits = @Sendable () -> [String: Int]

    private let store: any BuildStore
    private let projects: ProjectLookup
    private let makeRunner: RunnerFactory
    private let limits: ConcurrencyLimits
    private let settings: Settings
    private let checkouts: RepositoryCheckout
    private let lanes: [BuildLane]
    private let state = Mutex(State())
    private let logger: Logger
    private let observer: Observer
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    private struct State {
        var running: [String: Int] = [:] // project ID → builds running
        var workers: [String: BuildWorker] = [:] // build ID → its worker, for cancellation
        var cancelled: Set<String> = [] // live builds already told to stop
        /// Build ID → the task getting it ready to run (a checkout, a container engine to
        /// reach, a wait before trying again), which a stop cuts short.
        var starting: [String: Task<(any JobRunner, BuildRequest), any Error>] = [:]
        /// Build ID → why it was told to stop before it had a worker.
        var stoppedWhileStarting: [String: String] = [:]
        var total = 0
        /// The projects that may have pending builds, when known: those a claim that found
        /// nothing had skipped as busy, and those with builds added since (nil: unknown).
        /// While each of them is at its limit, no claim can succeed.
        var mayHavePending: Set<String>?
        /// Builds added while a claim was with the store: their projects, or nil when
        /// one of unknown project came or claims overlapped (a claim that found nothing
        /// then knows nothing).
        var addedDuringClaim: Set<String>? = []
        /// Claims with the store now, each counted against the room of any project.
        var claimsInFlight = 0
        /// Those of them that skip projects (at their limit when the claim went out).
        var skippingClaimsInFlight = 0
        /// Claims in a row that found a build: from two on, there is a backlog.
        var claimsFound = 0
        /// A wake-up came while claims were out and sent none beside them: it is owed once
        /// they are back (what it wakes for may be what they could not see).
        var wakeupOwed = false
        /// Set when `run` ends: writes that fail are no longer tried again.
        var stopping = false
    }

    public init(store: any BuildStore, projects: @escaping ProjectLookup, runners: @escaping RunnerFactory, settings: Settings,
                limits: @escaping ConcurrencyLimits = { [:] },
                logger: Logger = Logger(label: "brigantine.scheduler"), observer: Observer = Observer()) {
        self.store = store
        self.limits = limits
        self.logger = logger
        self.observer = observer
        self.projects = projects
        makeRunner = runners
        self.settings = settings
        checkouts = RepositoryCheckout(mirrors: settings.repositories, hostTimeLimit: settings.fetchTimeLimit)
        let worker = settings.worker
        lanes = (0..<settings.lanes).map { index in
            BuildLane(runtime: JSRuntime(entryTimeLimit: worker.scriptTimeLimit, heapLimit: worker.scriptMemoryLimit),
                      niceness: worker.threadNiceness, name: "lane \(index + 1)")
        }
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the scheduler a build was added, so it need not wait for its next poll. A build
    /// of a project already at its limit cannot start now: asking the store for it would
    /// cost a write per webhook under load, so that wake-up is skipped.
    /// - Parameter projectID: the build's project (nil: unknown, look anyway).
    public func wake(for projectID: String? = nil) {
        let limit = projectID.map { limits()[$0] ?? settings.perProjectLimit }
        let full = state.withLock { state in
            guard let projectID, let limit, state.running[projectID, default: 0] >= limit else {
                state.mayHavePending = nil
                state.addedDuringClaim = nil
                return false
            }
            state.mayHavePending?.insert(projectID)
            state.addedDuringClaim?.insert(projectID)
            return true
        }
        if !full { wakeup.yield() }
    }

    /// The same, for a build that may not start before `time` (the end of its coalescing
    /// window): the wake-up comes then. (Were it lost, the next poll would find the build.)
    public func wake(for projectID: String, at time: Date?) {
        guard let time, time > Date() else { return wake(for: projectID) }
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(Int(time.timeIntervalSinceNow * 1000) + 1))
            wake(for: projectID)
        }
    }

    static let shutdownReason = "the gateway is shutting down"

    /// Takes and runs builds until the task is cancelled; running builds are then stopped.
    public func run() async {
        // A discarding group frees each build's task as it ends; a plain task group keeps
        // every ended child (about 15 KB each) until its result is awaited, which here is never.
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: settings.pollInterval)
                    wake()
                    await stopBuildsAskedToStop()
                }
            }
            for await _ in wakeups {
                if Task.isCancelled { break }
                var answering = true
                while let busy = reserveClaim(answeringWakeup: answering) {
                    answering = false
                    group.addTask { [self] in
                        guard let build = await claim(skipping: busy) else { return }
                        wakeup.yield() // there may be more, and room for them
                        await execute(build)
                    }
                }
            }
            group.cancelAll()
            state.withLock { state in
                state.stopping = true
                for worker in state.workers.values { worker.cancel(reason: Self.shutdownReason) }
                for start in state.starting.values { start.cancel() }
            }
        }
        for lane in lanes { lane.close() }
    }

    /// Builds live here now (running, or waiting for their jobs and timers).
    public var liveBuilds: Int { state.withLock { $0.total } }

    /// Stops a build live here at once; false if none of that ID is live here.
    @discardableResult
    public func cancel(buildID: String, reason: String) -> Bool {
        let (worker, first, waiting): (BuildWorker?, Bool, Bool) = state.withLock { state in
            if let start = state.starting[buildID] {
                if state.stoppedWhileStarting[buildID] == nil { state.stoppedWhileStarting[buildID] = reason }
                start.cancel()
                return (nil, false, true)
            }
            guard let worker = state.workers[buildID] else { return (nil, false, false) }
            return (worker, state.cancelled.insert(buildID).inserted, false)
        }
        if waiting {
            logger.notice("stopping build \(buildID) (not started yet): \(reason)")
            return true
        }
        guard let worker else { return false }
        if first {
            logger.notice("stopping build \(buildID): \(reason)")
            worker.cancel(reason: reason)
        }
        return true
    }

    /// Stops the live builds that were asked to stop through the store (`brig build cancel`,
    /// or the API of another gateway sharing it). The store is read only while builds live.
    private func stopBuildsAskedToStop() async {
        guard !state.withLock({ $0.workers.isEmpty && $0.starting.isEmpty }) else { return }
        let requests: [String: String]
        do {
            requests = try await store.cancelRequests()
        } catch {
            return // the store is out of reach: the next poll asks again
        }
        for (id, reason) in requests { cancel(buildID: id, reason: reason) }
    }

    /// Whether a claim may go to the store now, and the projects it must skip (nil: not now).
    ///
    /// Under load every build that ends asks for the next one. Once the store has found
    /// nothing outside the busy projects, it is not asked again (a write that would find
    /// nothing) until a build of another project arrives or a busy project has room.
    ///
    /// A claim takes a commit (~1–2 ms): one at a time, claims would set the pace of a
    /// backlog. So under a backlog (the last two claims found a build) more go out beside
    /// the first and share its commit, while there is room for them. As none knows which
    /// project its build comes from, each counts against the room of every project, and
    /// one goes out beside others only if no project is full even so: one that must skip
    /// a project might skip the only one with a backlog, and find nothing. Nor beside one
    /// that skips a project: found empty while another claim was out, it would leave the
    /// queue unknown, and the next claim at the limit would skip the backlog again.
    /// - Parameter answeringWakeup: the first reserve after a wake-up (not a further one
    ///   while claims go out): refused because of the claims out, it is owed.
    private func reserveClaim(answeringWakeup: Bool) -> Set<String>? {
        let limits = self.limits()
        return state.withLock { state in
            let out = state.claimsInFlight
            let busy = Set(state.running.filter { $0.value + out >= limits[$0.key] ?? settings.perProjectLimit }.keys)
                .union(limits.filter { out >= $0.value }.keys)
            if out > 0, state.claimsFound < 2 || out >= settings.perProjectLimit || !busy.isEmpty || state.skippingClaimsInFlight > 0 {
                if answeringWakeup { state.wakeupOwed = true }
                return nil
            }
            guard state.total + out < settings.maxBuilds else { return nil }
            if let candidates = state.mayHavePending, candidates.isSubset(of: busy) { return nil }
            state.addedDuringClaim = out == 0 ? [] : nil
            state.claimsInFlight += 1
            if !busy.isEmpty { state.skippingClaimsInFlight += 1 }
            return busy
        }
    }

    /// The next build there is room for, marked running; nil when none can start now. Takes
    /// the place `reserveClaim` gave it.
    ///
    /// In a shared store, a project with a limit of its own may be at it through other
    /// gateways' builds: a claim that found nothing leaves such projects as possibly
    /// pending, so the next wake-up (one of theirs ending here, or the poll) asks again.
    private func claim(skipping busy: Set<String>) async -> StoredBuild? {
        // Only a shared store counts other gateways' builds; this one's are counted here.
        let storeWide = store.isShared ? limits() : [:]
        let claimed: Result<StoredBuild?, any Error>
        do { claimed = .success(try await store.claimNextPending(busyProjects: busy, limits: storeWide)) } catch { claimed = .failure(error) }
        let (build, wake): (StoredBuild?, Bool) = state.withLock { state in
            state.claimsInFlight -= 1
            if !busy.isEmpty { state.skippingClaimsInFlight -= 1 }
            let wake = state.wakeupOwed && state.claimsInFlight == 0
            if wake { state.wakeupOwed = false }
            guard case .success(let build?) = claimed else {
                state.claimsFound = 0
                // Found nothing: pending builds are all of busy projects. (A failed claim tells nothing.)
                if case .success = claimed {
                    state.mayHavePending = state.addedDuringClaim.map { busy.union($0).union(storeWide.keys) }
                }
                return (nil, wake)
            }
            state.claimsFound += 1
            state.running[build.build.projectID, default: 0] += 1
            state.total += 1
            return (build, wake)
        }
        if wake { wakeup.yield() }
        return build
    }

    /// Runs a build and records its end. Its place is given back as soon as the script is
    /// done, before that record is committed: the next build need not wait for the disk.
    private func execute(_ stored: StoredBuild) async {
        let build = stored.build
        let started = stored.startedAt ?? Date()
        let ending = await run(build, coalesced: stored.coalesced)
        if let why = ending.putBack {
            logger.notice("build put back in the queue: \(why)", metadata: ["build": "\(build.id)", "project": "\(build.projectName)"])
            release(build)
            await persist("the return of build \(build.id) to the queue") { store in try await store.putBack(buildID: build.id) }
            return
        }
        let ran = max(0, Date().timeIntervalSince(started))
        observer.buildEnded(ending.status, .seconds(max(0, started.timeIntervalSince(stored.createdAt))), .seconds(ran))
        if let limit = ending.stoppedAtLimit { observer.scriptStopped(limit) }
        logEnd(of: build, ending, ran: ran)
        release(build)
        await persist("the end of build \(build.id)") { store in
            try await store.finish(buildID: build.id, status: ending.status, exitCode: ending.exitCode,
                                   reason: ending.reason, lastLines: ending.lastLines, jobs: ending.jobs)
        }
        // A shared store counts this build against its project's own limit until its end is
        // stored: the claim made as it ended may have found the project still full.
        if store.isShared, limits()[build.projectID] != nil { wakeup.yield() }
    }

    /// Gives the build's place back, for the next claim.
    private func release(_ build: NewBuild) {
        state.withLock { state in
            state.running[build.projectID, default: 1] -= 1
            if state.running[build.projectID] == 0 { state.running[build.projectID] = nil }
            state.total -= 1
            state.workers[build.id] = nil
            state.cancelled.remove(build.id)
            state.stoppedWhileStarting[build.id] = nil
        }
        wakeup.yield()
    }

    /// One line per build in the gateway's log; a failed one (a notice, so `--log-level
    /// notice` keeps it) says why. The reason is already masked like the build's own log.
    private func logEnd(of build: NewBuild, _ ending: Ending, ran: TimeInterval) {
        var metadata: Logger.Metadata = [
            "build": "\(build.id)", "project": "\(build.projectName)", "status": "\(ending.status.rawValue)",
            "ms": "\(String(format: "%.1f", ran * 1000))",
        ]
        if ending.status == .succeeded {
            logger.info("build ended", metadata: metadata)
        } else {
            metadata["exitCode"] = "\(ending.exitCode)"
            if let reason = ending.reason { metadata["reason"] = "\(reason)" }
            logger.notice("build ended", metadata: metadata)
        }
    }

    /// How a build ended, with what is still to be stored of it.
    private struct Ending {
        var status: BuildStatus
        var exitCode: Int
        var reason: String?
        var lastLines: [LogLine]
        var jobs: [StoredJob] = []
        /// It has not ended, and goes back in the queue, because of this: the gateway stopped
        /// before its script could start, or while it ran and its project reruns such builds.
        var putBack: String?
        var stoppedAtLimit: ScriptLimit?
    }

    private func run(_ build: NewBuild, coalesced: Int) async -> Ending {
        guard let project = projects(build.projectID) else {
            return Ending(status: .failed, exitCode: 1, reason: "project \(build.projectName) no longer exists", lastLines: [])
        }
        let spool = LogSpool()
        // Made once a build: each secret's printed forms are worked out as it is made.
        let redactor = project.redactor
        let log = BuildLog(level: LogLevel(name: build.logLevel) ?? .log, redactor: redactor,
                           maxOutputBytes: settings.worker.maxLogBytes,
                           maxOutputLines: settings.worker.maxLogLines, sink: spool.append)
        let source = settings.worker.workRoot.appendingPathComponent("\(build.id).source", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: source) }
        if coalesced > 0 {
            let window = project.coalesceWindow.map { " of \(Self.seconds(.seconds($0)))" } ?? ""
            log.log(.log, nil, "\(coalesced + 1) webhooks for the same image repository came within the project's"
                + " coalescing window\(window): this build runs the last one's event")
        }
        // Logs reach the store every `logFlushInterval` while the build runs (and while it
        // waits to try its start again). The flusher is not the worker's sibling in a group:
        // at shutdown the worker still ends (it is cancelled through `cancel(reason:)`) and
        // its outcome is recorded.
        let flusher = Task { [self] in
            // Stopped, it writes nothing more: what is left goes with the build's end, in one
            // write. (It once wrote the rest on its way out, a commit of its own that the build
            // waited for while it still held its place.)
            while !Task.isCancelled {
                do { try await Task.sleep(for: settings.logFlushInterval) } catch { return }
                await flush(spool, of: build.id)
            }
        }
        func stopFlushing() async {
            flusher.cancel()
            await flusher.value // a write under way lands before the final one, keeping lines in order
        }
        let outcome: BuildOutcome
        do {
            let (runner, request) = try await start(build, project: project, source: source, log: log)
            // The lane with the fewest live builds; a project's own time limit applies per context.
            let lane = lanes.min { $0.liveBuilds < $1.liveBuilds }!
            let worker = BuildWorker(request: request, runner: runner, log: log, settings: settings.worker, runtime: lane.runtime)
            // A build claimed just before shutdown began is told to stop as soon as it has a
            // worker; else shutdown would wait for it to finish (a timer of an hour, say). So
            // is one told to stop just as its start was done.
            let stopReason = state.withLock { state -> String? in
                state.workers[build.id] = worker
                if let reason = state.stoppedWhileStarting.removeValue(forKey: build.id) {
                    state.cancelled.insert(build.id)
                    return reason
                }
                return state.stopping ? Self.shutdownReason : nil
            }
            if let stopReason { worker.cancel(reason: stopReason) }
            outcome = await worker.run(on: lane)
            await stopFlushing()
            // A restart (SIGTERM: a deploy, say) interrupts a build just as a crash does, and
            // gets the same answer: the project asked for interrupted builds to run again.
            if outcome.stoppedWith == Self.shutdownReason, project.rerunInterrupted {
                return Ending(status: .pending, exitCode: 0, lastLines: [],
                              putBack: "the gateway stopped while it ran, and its project runs interrupted builds again")
            }
        } catch is StartPostponed {
            await stopFlushing()
            return Ending(status: .pending, exitCode: 0, lastLines: [], putBack: "the gateway stopped before it could start")
        } catch {
            await stopFlushing()
            log.log(.error, nil, "\(error)")
            return Ending(status: .failed, exitCode: 1, reason: Self.recordable(reason: "\(error)", redactor), lastLines: spool.take())
        }
        let jobs = outcome.jobs.map { job in
            // The image too: a script may build it from a secret (a private mirror's path, say),
            // or of any length (real references are under 256 bytes).
            StoredJob(buildID: build.id, id: job.podName, name: job.name, image: redactor.redact(job.image, atMostBytes: 1024),
                      status: job.status.rawValue,
                      exitCode: job.exitCode.map(Int.init), startedAt: job.startedAt, finishedAt: job.finishedAt,
                      failure: job.failure.map { Self.recordable(reason: $0, redactor) }, output: redactor.redact(job.output))
        }
        return Ending(status: outcome.status == .succeeded ? .succeeded : .failed, exitCode: Int(outcome.exitCode),
                      reason: outcome.reason.map { Self.recordable(reason: $0, redactor) }, lastLines: spool.take(), jobs: jobs,
                      stoppedAtLimit: outcome.stoppedAtLimit)
    }

    /// A build's reason as it is stored, listed and logged: masked, and at most 8 KiB, since
    /// a script's error can be of any size (a 30 MB message was stored, shown by every list of
    /// builds and logged by the gateway, whole).
    static func recordable(reason: String, _ redactor: SecretRedactor) -> String {
        redactor.redact(reason, atMostBytes: 8 << 10)
    }

    /// `prepare` as a task of its own, which a stop cuts short (`cancel(buildID:reason:)`,
    /// the gateway stopping) wherever it is: in a fetch, or waiting to try again.
    private func start(_ build: NewBuild, project: Project, source: URL, log: BuildLog) async throws -> (any JobRunner, BuildRequest) {
        let task = Task { try await prepare(build, project: project, source: source, log: log) }
        let stopping = state.withLock { state in
            state.starting[build.id] = task
            return state.stopping
        }
        if stopping { task.cancel() }
        defer { state.withLock { _ = $0.starting.removeValue(forKey: build.id) } }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// The build's runner and request. A failure that may pass (a `TransientError`: the
    /// repository's host or the container engine out of reach) is tried again after each of
    /// `startRetryDelays`, noted in the build's log. A cancel meanwhile ends the start, and
    /// the build, with its reason; the gateway stopping ends it with `StartPostponed`: nothing
    /// of the build has run, so it goes back in the queue. While it waits, the store knows it
    /// (`markWaitingToStart`), so that a gateway that dies puts it back in the queue too.
    private func prepare(_ build: NewBuild, project: Project, source: URL, log: BuildLog) async throws -> (any JobRunner, BuildRequest) {
        let delays = settings.startRetryDelays
        var attempt = 0
        while true {
            do {
                let runner = try await makeRunner(project)
                let request = try await request(for: build, project: project, source: source, log: log)
                // From here its script may run: a gateway that dies now must not run it again.
                if attempt > 0 { try await store.markWaitingToStart(buildID: build.id, false) }
                return (runner, request)
            } catch {
                // A stop makes whatever step was under way fail (a killed git, a cancelled
                // write): the stop is the reason, not that failure.
                if let interruption = startInterruption(build.id) { throw interruption }
                guard let error = error as? any TransientError else { throw error }
                guard attempt < delays.count else {
                    throw attempt == 0 ? error : SchedulerError("\(error) (tried \(attempt + 1) times)")
                }
                let delay = delays[attempt]
                // Best effort: unmarked, a gateway that dies while the build waits leaves it
                // to recovery's usual rule (failed, or run again with `rerunInterrupted`).
                if attempt == 0 { try? await store.markWaitingToStart(buildID: build.id, true) }
                attempt += 1
                log.log(.warn, nil, "could not start: \(error); trying again in \(Self.seconds(delay))"
                    + " (try \(attempt + 1) of \(delays.count + 1))")
                observer.startRetried()
                // A stop cuts the sleep short (the task is cancelled).
                try? await Task.sleep(for: delay)
                if let interruption = startInterruption(build.id) { throw interruption }
            }
        }
    }

    private struct StartPostponed: Error {}

    /// Why the build's start must end now, if it must: it was told to stop (its reason), or
    /// the gateway is stopping (`StartPostponed`).
    private func startInterruption(_ buildID: String) -> (any Error)? {
        state.withLock { state in
            if let reason = state.stoppedWhileStarting.removeValue(forKey: buildID) { return SchedulerError(reason) }
            return state.stopping || Task.isCancelled ? StartPostponed() : nil
        }
    }

    /// `10 s`, `1.5 s`: a delay as a log line gives it.
    static func seconds(_ duration: Duration) -> String {
        let seconds = duration / .seconds(1)
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }

    /// Runs a write to the store even if the calling task is being cancelled (at shutdown),
    /// so that a build that ended is recorded as ended. A write that fails (a database out
    /// of reach, a full disk) is tried again, 0.1 s and then up to 5 s apart, until it lands
    /// or the scheduler stops: a build must not stay Running for want of one write. (A build
    /// whose end could not be stored by then is found at the next start, as interrupted.)
    private func persist(_ what: @autoclosure () -> String,
                         _ write: @escaping @Sendable (any BuildStore) async throws -> Void) async {
        let what = what()
        await Task { [self] in
            var delay = Duration.milliseconds(100)
            var failures = 0
            while true {
                do {
                    try await write(store)
                    observer.storeWriteLanded()
                    if failures > 0 { logger.notice("stored \(what) after \(failures) failed attempt(s)") }
                    return
                } catch {
                    failures += 1
                    observer.storeWriteFailed(error)
                    if state.withLock({ $0.stopping }) {
                        logger.error("could not store \(what) before stopping: \(error)")
                        return
                    }
                    // One warning per outage, not one per attempt.
                    if failures == 1 { logger.warning("could not store \(what), trying again until it lands: \(error)") }
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
        }.value
    }

    /// Writes the spooled lines, even when cancelled: a cancelled write would lose the lines
    /// it had taken (GRDB's async writes stop on cancellation).
    private func flush(_ spool: LogSpool, of buildID: String) async {
        let lines = spool.take()
        guard !lines.isEmpty else { return }
        await persist("log lines of build \(buildID)") { try await $0.appendLog(buildID: buildID, lines: lines) }
    }

    /// What the worker needs to run a stored build of `project`: the repository's
    /// brigade.js at the build's revision when the project has a repository and the file
    /// is there, else the project's default script.
    private func request(for build: NewBuild, project: Project, source: URL, log: BuildLog) async throws -> BuildRequest {
        guard let cloneURL = project.repo?.cloneURL, !cloneURL.isEmpty else {
            return try Self.request(for: build, project: project, repositoryScript: nil)
        }
        let checkout = try await checkouts.checkout(
            cloneURL: cloneURL, project: project.id, commit: build.commit, ref: build.ref, into: source)
        log.log(.log, nil, "checked out \(RepositoryCheckout.display(cloneURL)) at \(checkout.commit)")
        if let note = checkout.note { log.log(.warn, nil, note) }
        let script = checkout.directory.appendingPathComponent("brigade.js")
        var request: BuildRequest
        if FileManager.default.fileExists(atPath: script.path) {
            request = try Self.request(for: build, project: project, repositoryScript: script)
        } else {
            log.log(.log, nil, "the repository has no brigade.js; using the project's default script")
            request = try Self.request(for: build, project: project, repositoryScript: nil)
        }
        // Jobs get the checkout at their mountPath, as Brigade's VCS sidecar cloned it for them.
        request.sourceDirectory = checkout.directory
        return request
    }

    static func request(for build: NewBuild, project: Project, repositoryScript: URL?) throws -> BuildRequest {
        let script: BuildRequest.Script
        let moduleRoot: String
        if let repositoryScript {
            script = .file(path: repositoryScript.path)
            moduleRoot = repositoryScript.deletingLastPathComponent().path
        } else if let file = project.defaultScriptFile {
            script = .file(path: file)
            moduleRoot = ScriptLocation.moduleRoot(for: script, project: project, projectFileGiven: true)
        } else if let source = project.defaultScript {
            script = .inline(source: source, path: (project.directory as NSString).appendingPathComponent("brigade.js"))
            moduleRoot = project.directory
        } else {
            throw SchedulerError("project \(project.name) has no script: set defaultScript or defaultScriptFile"
                + (project.repo?.cloneURL == nil ? "" : ", or add brigade.js to its repository"))
        }
        return BuildRequest(
            buildID: build.id, project: project, eventType: build.eventType, provider: build.provider,
            revision: .init(commit: build.commit, ref: build.ref),
            payload: String(decoding: build.payload, as: UTF8.self), cloneURL: build.cloneURL ?? project.repo?.cloneURL,
            script: script, moduleRoot: moduleRoot, logLevel: LogLevel(name: build.logLevel) ?? .log)
    }
}

struct SchedulerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Log lines waiting to be written to the store.
final class LogSpool: Sendable {
    private let lines = Mutex<[LogLine]>([])

    var append: @Sendable (LogLine) -> Void {
        { [self] line in lines.withLock { $0.append(line) } }
    }

    func take() -> [LogLine] {
        lines.withLock { lines in
            defer { lines = [] }
            return lines
        }
    }
}
