import BrigantineCore
import Foundation

/// Where a build is in its life.
public enum BuildStatus: String, Sendable, Codable, CaseIterable {
    case pending = "Pending"
    case running = "Running"
    case succeeded = "Succeeded"
    case failed = "Failed"

    /// The status a word names, in any case (`failed`, `Failed`); nil for other words.
    public init?(named word: String) {
        guard let status = Self.allCases.first(where: { $0.rawValue.lowercased() == word.lowercased() }) else { return nil }
        self = status
    }
}

/// A build as the gateway accepted it: everything needed to run it later.
public struct NewBuild: Sendable, Equatable {
    public var id: String
    public var projectID: String
    public var projectName: String
    public var eventType: String
    public var provider: String
    public var commit: String
    public var ref: String
    /// The request body exactly as received.
    public var payload: Data
    public var cloneURL: String?
    public var logLevel: String
    /// Names the delivery of the webhook this build came from: a project keeps one build per
    /// key, so a delivery sent again finds the first one's build (nil: never deduplicated).
    public var deliveryKey: String?
    /// Names what the webhook is about (its image repository and action) for a project that
    /// coalesces: while a pending build of the project has the same key, a new one is not
    /// stored but joins it, which then runs this one's event (nil: never coalesced).
    public var coalesceKey: String?
    /// The build may not start before this (the end of its coalescing window; nil: at once).
    public var notBefore: Date?

    public init(id: String = ULID.make(), projectID: String, projectName: String, eventType: String, provider: String,
                commit: String = "", ref: String = "", payload: Data, cloneURL: String? = nil, logLevel: String = "log",
                deliveryKey: String? = nil, coalesceKey: String? = nil, notBefore: Date? = nil) {
        self.id = id
        self.projectID = projectID
        self.projectName = projectName
        self.eventType = eventType
        self.provider = provider
        self.commit = commit
        self.ref = ref
        self.payload = payload
        self.cloneURL = cloneURL
        self.logLevel = logLevel
        self.deliveryKey = deliveryKey
        self.coalesceKey = coalesceKey
        self.notBefore = notBefore
    }
}

/// A stored build.
public struct StoredBuild: Sendable, Equatable {
    public var build: NewBuild
    public var status: BuildStatus
    public var reason: String?
    public var exitCode: Int?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// How many times a worker has taken it (more than one: re-run after a crash).
    public var attempts: Int
    /// Webhooks that joined this build while it waited out its coalescing window (the
    /// last one's event is the build's).
    public var coalesced = 0
    /// Set by listings, which leave `build.payload` empty: a payload can be 2 MiB and a
    /// page 1,000 builds (nil: the payload is there).
    public var listedPayloadBytes: Int?

    public var id: String { build.id }
    /// The size of the webhook's body.
    public var payloadBytes: Int { listedPayloadBytes ?? build.payload.count }
}

/// A stored job of a build. Its ID is its pod name, `<job name>-<build ID>`.
public struct StoredJob: Sendable, Equatable {
    public var buildID: String
    public var id: String
    public var name: String
    public var image: String
    public var status: String
    public var exitCode: Int?
    public var startedAt: Date
    public var finishedAt: Date?
    public var failure: String?
    public var output: String

    public init(buildID: String, id: String, name: String, image: String, status: String, exitCode: Int?,
                startedAt: Date, finishedAt: Date?, failure: String?, output: String) {
        self.buildID = buildID
        self.id = id
        self.name = name
        self.image = image
        self.status = status
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.failure = failure
        self.output = output
    }
}

/// A log line with its place in the build's log.
public struct StoredLogLine: Sendable, Equatable {
    public var sequence: Int
    public var line: LogLine
}

/// Durable storage of builds, their jobs and logs, and the queue of builds to run.
///
/// `create` returns only once the build is durable: a gateway answers 200 after it.
public protocol BuildStore: Sendable {
    /// Stores a new pending build; when its project already has a build of the same
    /// `deliveryKey`, stores nothing and returns that one (its ID tells them apart). Else,
    /// when a pending build of the project has the same `coalesceKey`, that one takes this
    /// one's event (type, provider, revision, payload), counts one more in `coalesced` and is
    /// returned; its ID, delivery key and `notBefore` stay.
    func create(_ build: NewBuild) async throws -> StoredBuild
    /// Takes the oldest pending build whose project is not in `busyProjects` (and whose
    /// `notBefore` has passed) and marks it running.
    ///
    /// `limits` (project ID → most builds running) are counted over every gateway of a
    /// shared store: a project at its limit anywhere gets no build here. A store of one
    /// gateway may leave them to its scheduler, which counts its own builds (`busyProjects`).
    func claimNextPending(busyProjects: Set<String>, limits: [String: Int]) async throws -> StoredBuild?
    /// Adds lines to the log of a build this store claimed and still holds (a shared store
    /// drops the lines of a claim it lost: the build was recovered, maybe run again elsewhere).
    func appendLog(buildID: String, lines: [LogLine]) async throws
    /// Marks a claimed build as one whose script has not started and that waits to try its
    /// start again (or clears that, before its script starts): a gateway that dies meanwhile
    /// leaves a build that recovery puts back in the queue, since none of it ran.
    func markWaitingToStart(buildID: String, _ waiting: Bool) async throws
    /// Puts a build this store claimed back in the queue (its log cleared) for the next
    /// gateway to run: one that stops while the build waits to try its start again, or while
    /// it runs for a project with `rerunInterrupted`. A build asked to stop meanwhile ends
    /// Failed with that reason instead.
    func putBack(buildID: String) async throws
    /// Records the end of a build this store claimed, together with its last log lines and its
    /// jobs, in one write: one commit instead of three, and a build seen ended has all of them.
    /// A shared store records nothing for a claim it lost: a build has one recorded end.
    func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?,
                lastLines: [LogLine], jobs: [StoredJob]) async throws
    /// Builds whose gateway is gone (after a crash) are failed with `reason`, or put back in
    /// the queue when `requeue` says so for their project. Returns how many were touched.
    /// (A build marked waiting to start is put back in the queue whatever `requeue` says.)
    func recoverInterrupted(reason: String, requeue: @Sendable (String) -> Bool) async throws -> Int
    /// How often to recover while serving: a store shared by several gateways finds builds of
    /// one that died; nil when only a start can find any (a store of one gateway).
    var recoveryInterval: Duration? { get }
    /// Whether several gateways may take builds from this store (then `claimNextPending`'s
    /// `limits` are counted over all of them).
    var isShared: Bool { get }

    /// Asks for a build to be stopped, from any process that opens the store: a pending
    /// build ends at once (Failed with `reason`) and never runs; a running one is marked,
    /// and the gateway running it stops it when it next reads `cancelRequests()`.
    func requestCancel(buildID: String, reason: String) async throws -> CancelRequest
    /// The builds this store's gateway runs that were asked to stop: build ID → reason.
    func cancelRequests() async throws -> [String: String]

    /// Deletes the builds that came before `cutoff` and have ended (Succeeded or Failed), with
    /// their jobs and logs, a batch per transaction; returns how many. Pending and running
    /// builds stay, however old.
    func deleteEndedBuilds(createdBefore cutoff: Date) async throws -> Int
    /// Deletes one build with its jobs and logs, if it has ended; one pending or running
    /// is left as it is (stop it first).
    func deleteBuild(id: String) async throws -> BuildDeletion

    func build(id: String) async throws -> StoredBuild?
    /// The build's status alone, for what polls it: a build read whole carries its payload,
    /// up to 2 MiB, and waiting for a build polled it ten times a second (nil: no such build).
    func status(ofBuild id: String) async throws -> BuildStatus?
    /// The newest builds, of one project and in one status when those are given, and older
    /// than the build `before` (the last of the previous page) when it is; without their
    /// payloads, whose sizes are in `listedPayloadBytes`.
    func builds(projectID: String?, status: BuildStatus?, before: String?, limit: Int) async throws -> [StoredBuild]
    /// How many builds wait in the queue (of every gateway, for a shared store).
    func pendingCount() async throws -> Int
    /// The build's jobs; `withOutput: false` leaves each `output` empty (a build's records
    /// keep up to 16 MiB of it, which a listing of its jobs does not show).
    func jobs(buildID: String, withOutput: Bool) async throws -> [StoredJob]
    func job(id: String, withOutput: Bool) async throws -> StoredJob?
    /// The build's log lines after `sequence`: at most `limit` of them, with no more than
    /// `maxBytes` of text but for the first.
    func logs(buildID: String, after sequence: Int, limit: Int, maxBytes: Int) async throws -> [StoredLogLine]
    /// Up to `maxBytes` of a job's output from byte `offset` (none past its end); nil when
    /// there is no such job.
    func jobOutput(id: String, from offset: Int, maxBytes: Int) async throws -> Data?
}

/// How much of a build's log, or of a job's output, a reader takes from the store at once.
/// A reader holds what it took until its client has taken that, and 200 clients that took
/// nothing of a job's 16 MB output held 3.2 GB of the gateway's memory when it was read whole.
public enum ReadPart {
    public static let logBytes = 256 << 10
    /// Larger: the store reads the whole output (up to 16 MiB) for each part of it.
    public static let outputBytes = 1 << 20
}

/// What asking to delete a build did.
public enum BuildDeletion: Sendable, Equatable {
    case deleted
    /// It is pending or running, and was kept.
    case notEnded(BuildStatus)
    case notFound
}

/// What asking to stop a build did.
public enum CancelRequest: Sendable, Equatable {
    /// It was pending: it has ended, Failed with the reason.
    case ended
    /// It is running: its gateway stops it (within a poll, about a second).
    case requested
    /// It had already ended, with this status.
    case alreadyEnded(BuildStatus)
    case notFound

    /// What a request to stop does to a build in `status` (nil: no such build); the stores
    /// then end a pending build or mark a running one.
    public init(status: BuildStatus?) {
        switch status {
        case .pending?: self = .ended
        case .running?: self = .requested
        case let ended?: self = .alreadyEnded(ended)
        case nil: self = .notFound
        }
    }
}

extension BuildStatus {
    /// Succeeded or Failed: nothing will change any more.
    public var isFinished: Bool { self == .succeeded || self == .failed }
}

extension BuildStore {
    public var recoveryInterval: Duration? { nil }
    public var isShared: Bool { false }

    public func builds(projectID: String?, limit: Int) async throws -> [StoredBuild] {
        try await builds(projectID: projectID, status: nil, before: nil, limit: limit)
    }

    public func builds(projectID: String?, status: BuildStatus?, limit: Int) async throws -> [StoredBuild] {
        try await builds(projectID: projectID, status: status, before: nil, limit: limit)
    }

    /// Takes the oldest pending build whose project is not in `busyProjects`, with no limits.
    public func claimNextPending(busyProjects: Set<String>) async throws -> StoredBuild? {
        try await claimNextPending(busyProjects: busyProjects, limits: [:])
    }

    public func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?) async throws {
        try await finish(buildID: buildID, status: status, exitCode: exitCode, reason: reason, lastLines: [], jobs: [])
    }

    /// A new build of the same event (project, type, revision, payload) as build `id`, queued
    /// to run; nil when there is no such build. Whatever became of the first is left as it is.
    public func rerun(buildID id: String) async throws -> StoredBuild? {
        guard let first = try await build(id: id)?.build else { return nil }
        return try await create(NewBuild(
            projectID: first.projectID, projectName: first.projectName, eventType: first.eventType,
            provider: first.provider, commit: first.commit, ref: first.ref, payload: first.payload,
            cloneURL: first.cloneURL, logLevel: first.logLevel))
    }

    /// Hands the build's log to `emit` in order, in batches. With `follow`, goes on until
    /// the build has ended (lines written before it was seen ended are all included).
    /// The build once it has ended, or as it is when `timeout` has passed or `stop` says so
    /// (nil: no such build).
    public func waitForEnd(of buildID: String, timeout: Duration?, pollInterval: Duration = .milliseconds(100),
                           stop: @Sendable () -> Bool = { false }) async throws -> StoredBuild? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            guard let status = try await status(ofBuild: buildID) else { return nil }
            if status.isFinished || stop() || deadline.map({ ContinuousClock.now >= $0 }) == true { break }
            try await Task.sleep(for: pollInterval)
        }
        return try await build(id: buildID)
    }

    public func jobs(buildID: String) async throws -> [StoredJob] {
        try await jobs(buildID: buildID, withOutput: true)
    }

    public func job(id: String) async throws -> StoredJob? {
        try await job(id: id, withOutput: true)
    }

    public func logs(buildID: String, after sequence: Int, limit: Int) async throws -> [StoredLogLine] {
        try await logs(buildID: buildID, after: sequence, limit: limit, maxBytes: .max)
    }

    /// Emits the build's log lines in batches of at most `ReadPart.logBytes` (but for a first
    /// line); with `follow`, goes on until the build ends (or `stop` says so).
    public func forEachLogBatch(
        of buildID: String, follow: Bool, pollInterval: Duration = .milliseconds(200),
        stop: @Sendable () -> Bool = { false },
        _ emit: ([StoredLogLine]) async throws -> Void
    ) async throws {
        var last = 0
        var limit = 500
        while true {
            let finished = try await status(ofBuild: buildID)?.isFinished ?? true
            while true {
                let lines = try await logs(buildID: buildID, after: last, limit: limit, maxBytes: ReadPart.logBytes)
                guard let tail = lines.last else { break }
                try await emit(lines)
                last = tail.sequence
                // Fewer lines a batch when they are long: the store reads all `limit` to
                // hand out a part of them.
                let average = lines.reduce(0) { $0 + $1.line.text.utf8.count } / lines.count
                limit = max(16, min(500, ReadPart.logBytes / max(1, average)))
            }
            if !follow || finished || stop() { return }
            try await Task.sleep(for: pollInterval)
        }
    }
}
