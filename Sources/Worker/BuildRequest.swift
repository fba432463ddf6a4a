import BrigantineCore
import Brigadier
import Foundation
import JSHost

/// Everything a build needs: which project, which event, which script.
public struct BuildRequest: Sendable {
    public struct Revision: Sendable, Equatable {
        public var commit: String
        public var ref: String

        public init(commit: String = "", ref: String = "") {
            self.commit = commit
            self.ref = ref
        }
    }

    /// Where the script comes from.
    public enum Script: Sendable, Equatable {
        /// A file on disk.
        case file(path: String)
        /// Text (a project's inline `defaultScript`), named as if it were the file `path`.
        case inline(source: String, path: String)

        public var path: String {
            switch self {
            case .file(let path), .inline(_, let path): path
            }
        }
    }

    /// A lower-case ULID.
    public var buildID: String
    public var project: Project
    public var eventType: String
    /// `e.provider`: `brigade-cli` for `brig run`, `dockerhub`, `acr`, … for webhooks.
    public var provider: String
    public var revision: Revision
    /// `e.payload` exactly as received; nil means none at all (the key is absent).
    public var payload: String?
    public var cloneURL: String?
    public var script: Script
    /// The directory `require` may load modules from (the project's root).
    public var moduleRoot: String
    /// brigade.json text sent with the build (`brig run --config`); when nil, a
    /// brigade.json beside the script is used, then the project's `defaultConfig`.
    public var config: String?
    public var logLevel: LogLevel
    /// What jobs with `useSource` get at their `mountPath` (`/src`): the checked-out
    /// repository of a gateway build, the project root for `brig run`; nil for none.
    public var sourceDirectory: URL?

    public init(
        buildID: String = ULID.make(), project: Project, eventType: String, provider: String,
        revision: Revision = Revision(), payload: String? = nil, cloneURL: String? = nil,
        script: Script, moduleRoot: String, config: String? = nil, logLevel: LogLevel = .log,
        sourceDirectory: URL? = nil
    ) {
        self.buildID = buildID
        self.project = project
        self.eventType = eventType
        self.provider = provider
        self.revision = revision
        self.payload = payload
        self.cloneURL = cloneURL
        self.script = script
        self.moduleRoot = moduleRoot
        self.config = config
        self.logLevel = logLevel
        self.sourceDirectory = sourceDirectory
    }

    /// Brigade's worker name for the build.
    public var workerID: String { "brigade-worker-\(buildID)" }

    /// Event types the lifecycle fires itself; a build cannot be started with them.
    public static let lifecycleEventTypes: Set<String> = ["after", "error"]
}

/// Limits and places that apply to every build a worker runs.
public struct WorkerSettings: Sendable {
    /// Longest one entry into the script may run without yielding, in seconds.
    public var scriptTimeLimit: Double
    /// Longest a whole build may take, in seconds.
    public var buildTimeout: Double
    /// Most the script heap may grow while one entry into the script runs, in bytes
    /// (JavaScriptCore has no cap of its own).
    public var scriptMemoryLimit: Int
    /// Most jobs one build may start.
    public var maxJobs: Int
    /// Most log text one build may write, in bytes; later lines are dropped, with a note.
    public var maxLogBytes: Int
    /// Most lines of it, each a row of the store: a limit in bytes alone let 16 MiB of empty
    /// lines be 16 million rows.
    public var maxLogLines: Int
    /// Where build directories (job work directories, shared storage) are made.
    public var workRoot: URL
    /// The nice value of build threads (Linux: per thread; 0 leaves it as it is). A gateway
    /// runs builds below its request handling, so a backlog of builds (stored, durable)
    /// does not slow the acknowledgement of new webhooks.
    public var threadNiceness: Int32

    public init(scriptTimeLimit: Double = 10, buildTimeout: Double = 3600, scriptMemoryLimit: Int = 512 << 20,
                maxJobs: Int = 1000, maxLogBytes: Int = 16 << 20, maxLogLines: Int = 500_000, workRoot: URL,
                threadNiceness: Int32 = 0) {
        self.scriptTimeLimit = scriptTimeLimit
        self.buildTimeout = buildTimeout
        self.scriptMemoryLimit = scriptMemoryLimit
        self.maxJobs = maxJobs
        self.maxLogBytes = maxLogBytes
        self.maxLogLines = maxLogLines
        self.workRoot = workRoot
        self.threadNiceness = threadNiceness
    }

    /// A VM for `project`'s builds, with its limits: the project's own time limit, else these.
    public func makeRuntime(for project: Project) -> JSRuntime {
        JSRuntime(entryTimeLimit: project.scriptTimeLimit ?? scriptTimeLimit, heapLimit: scriptMemoryLimit)
    }
}

/// Which of the script limits stopped a script.
public enum ScriptLimit: String, Sendable {
    /// `--script-time-limit` (or the project's `scriptTimeLimit`).
    case time
    /// `--script-memory-limit`.
    case memory

    /// The limit behind a termination, if it was one (not an interruption).
    init?(_ termination: JSRuntime.Termination) {
        switch termination {
        case .time: self = .time
        case .memory: self = .memory
        case .interrupted: return nil
        }
    }
}

/// How a build ended.
public struct BuildOutcome: Sendable {
    public enum Status: String, Sendable { case succeeded, failed }

    public let buildID: String
    public let status: Status
    /// The worker's exit code as Brigade's worker would have exited: 0, 1, or the
    /// script's `process.exitCode` / `process.exit(code)`.
    public let exitCode: Int32
    /// Why it failed, in one line; nil on success.
    public let reason: String?
    public let jobs: [JobRecord]
    public let startedAt: Date
    public let finishedAt: Date
    /// The reason given to `BuildWorker.cancel` when being stopped is what failed it (nil
    /// when it ended by itself, or had failed before the stop came).
    public var stoppedWith: String? = nil
    /// The limit that stopped the script, when one did.
    public var stoppedAtLimit: ScriptLimit? = nil
}
