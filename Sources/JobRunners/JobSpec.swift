import BrigantineCore
import Foundation

/// A job as a runner needs it: what `Job.run()` hands over, after the script side has
/// applied Brigade's rules (name check, env resolution, volume checks, project policy).
public struct JobSpec: Sendable, Codable, Equatable {
    public struct EnvVar: Sendable, Codable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public struct Resources: Sendable, Codable, Equatable {
        public var cpu: String?
        public var memory: String?
        public init(cpu: String? = nil, memory: String? = nil) {
            self.cpu = cpu
            self.memory = memory
        }
    }

    public struct Cache: Sendable, Codable, Equatable {
        public var enabled: Bool
        public var size: String
        public var path: String
    }

    public struct Storage: Sendable, Codable, Equatable {
        public var enabled: Bool
        public var path: String
    }

    public struct Host: Sendable, Codable, Equatable {
        public var os: String?
        public var name: String?
        public var nodeSelector: [[String]]
    }

    public var name: String
    /// `<name>-<buildID>`, Brigade's pod name.
    public var podName: String
    public var image: String
    public var imageForcePull: Bool
    public var imagePullSecrets: [String]
    public var tasks: [String]
    public var args: [String]
    public var shell: String
    public var env: [EnvVar]
    /// Milliseconds (Brigade's `timeout || 60000`).
    public var timeout: Double
    /// `timeout` as a duration a clock can take: at least 1 ms, and at most 10^10 ms (about
    /// 115 days; the build's own timeout ends it long before) whatever number a script set.
    public var timeLimit: Duration {
        .milliseconds(Int64(timeout.isNaN ? 60_000 : min(max(timeout, 1), 1e10)))
    }
    public var privileged: Bool
    public var serviceAccount: String?
    public var resourceRequests: Resources
    public var resourceLimits: Resources
    public var host: Host
    public var cache: Cache
    public var storage: Storage
    /// Mount the container engine's socket (only when the project allows host mounts).
    public var dockerSocket: Bool
    public var annotations: [String: String]
    public var streamLogs: Bool
    public var mountPath: String
    public var useSource: Bool

    /// A job with Brigade's defaults for everything not given.
    public init(name: String, podName: String, image: String, tasks: [String], shell: String = "/bin/sh",
                env: [EnvVar] = [], timeout: Double = 900_000) {
        self.name = name
        self.podName = podName
        self.image = image
        imageForcePull = false
        imagePullSecrets = []
        self.tasks = tasks
        args = []
        self.shell = shell
        self.env = env
        self.timeout = timeout
        privileged = false
        serviceAccount = nil
        resourceRequests = Resources()
        resourceLimits = Resources()
        host = Host(os: nil, name: nil, nodeSelector: [])
        cache = Cache(enabled: false, size: "5Mi", path: "/mnt/brigade/cache")
        storage = Storage(enabled: false, path: "/mnt/brigade/share")
        dockerSocket = false
        annotations = [:]
        streamLogs = false
        mountPath = "/src"
        useSource = true
    }

    /// The script the tasks become, exactly as Brigade wrote it to `/hook/main.sh`:
    /// `#!<shell>`, a blank line, `set -e` (sh) or `set -eo pipefail` (bash), the tasks.
    /// Nil when there are no tasks: the image's own command runs.
    public var script: String? {
        guard !tasks.isEmpty else { return nil }
        var script = "#!\(shell)\n\n"
        switch shell {
        case "/bin/sh": script += "set -e\n\n"
        case "/bin/bash": script += "set -eo pipefail\n\n"
        default: break
        }
        return script + tasks.joined(separator: "\n")
    }

    /// Checks that what a process or container gets can be passed to one: a NUL cut the
    /// shell, an argument or a path short without a word before. The messages name the
    /// field or variable, never its value (values often hold secrets).
    public func validateForProcess() throws {
        let texts = [("image", image), ("shell", shell), ("mountPath", mountPath),
                     ("cache.path", cache.path), ("storage.path", storage.path)]
            + args.indices.map { ("args[\($0)]", args[$0]) }
        for (field, text) in texts where text.contains("\0") {
            throw JobFailure.cannotStart("\(field) contains a NUL byte")
        }
        for variable in env {
            if variable.name.isEmpty || variable.name.contains("=") || variable.name.contains("\0") {
                throw JobFailure.cannotStart("environment variable name '\(variable.name)' is not valid (empty, or contains '=' or NUL)")
            }
            if variable.value.contains("\0") {
                throw JobFailure.cannotStart("environment variable \(variable.name) contains a NUL byte")
            }
        }
    }

    /// The interpreter that runs `script` (Brigade: `""` runs /bin/sh).
    public var interpreter: String { shell.isEmpty ? "/bin/sh" : shell }

    /// The job cache's name: project name with `.` and `/` as `-`, then the job name, lower-case.
    public func cacheName(project: String) -> String {
        let projectPart = project.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "/", with: "-")
        return "\(projectPart)-\(name)".lowercased()
    }
}

/// What a runner knows about the build a job belongs to.
public struct JobContext: Sendable {
    public let buildID: String
    public let projectName: String
    public let projectID: String
    /// A directory for this build's files (job work directories, shared storage). Not made
    /// in advance: a runner that puts files there makes what it needs (most builds need
    /// none), and the worker removes it when the build is over.
    public let buildDirectory: URL
    public let log: BuildLog
    /// The build's source, which jobs with `useSource` get at their `mountPath` (`/src`), as
    /// Brigade's jobs got a clone of the project's repository: a gateway build's checkout,
    /// or `brig run`'s project root. Nil: there is none.
    public let source: URL?

    public init(buildID: String, projectName: String, projectID: String, buildDirectory: URL, log: BuildLog,
                source: URL? = nil) {
        self.buildID = buildID
        self.projectName = projectName
        self.projectID = projectID
        self.buildDirectory = buildDirectory
        self.log = log
        self.source = source
    }

    /// The per-build directory jobs with `storage.enabled` share.
    public var sharedStorage: URL { buildDirectory.appendingPathComponent("shared", isDirectory: true) }

    /// A copy of the source for one job, made now, or nil when the job gets none. Each job
    /// gets its own, as each Brigade job cloned the repository anew: what one job changes
    /// there, the next does not see (shared storage is for that).
    public func sourceCopy(for job: JobSpec) throws -> URL? {
        guard job.useSource, !job.mountPath.isEmpty, let source else { return nil }
        let copy = buildDirectory.appendingPathComponent("sources/\(job.podName)", isDirectory: true)
        do {
            try makeDirectories(copy.deletingLastPathComponent())
            try? FileManager.default.removeItem(at: copy) // a job run again with the same name
            let leftOut = try copyTree(from: source, to: copy)
            if !leftOut.isEmpty {
                let shown = leftOut.prefix(5).joined(separator: ", ") + (leftOut.count > 5 ? " and \(leftOut.count - 5) more" : "")
                log.log(.warn, nil, "job \(job.name): left out of its copy of the source, as FIFOs, sockets and devices cannot be copied: \(shown)")
            }
        } catch {
            throw JobFailure.cannotStart("cannot copy the build's source for \(job.podName): \(fileErrorReason(error))")
        }
        return copy
    }
}

/// A finished job.
public struct JobOutput: Sendable, Equatable {
    /// Everything the job wrote (stdout and stderr interleaved), its `Result`.
    public let output: String
    public let exitCode: Int32

    public init(output: String, exitCode: Int32) {
        self.output = output
        self.exitCode = exitCode
    }
}

/// Why a job did not succeed. The descriptions are Brigade's messages, which scripts
/// may match on: `job.run()` rejects with `job <name>(<pod>): Error: <description>`.
public enum JobFailure: Error, CustomStringConvertible, Sendable {
    /// The job ran and exited non-zero.
    case failed(podName: String, exitCode: Int32, output: String)
    /// The job ran past its timeout and was killed.
    case timedOut(milliseconds: Double, output: String)
    /// The job could not be started at all.
    case cannotStart(String)

    public var description: String {
        switch self {
        case .failed(let podName, _, _): "Pod \(podName) failed to run to completion"
        case .timedOut(let milliseconds, _): "time limit (\(formatMilliseconds(milliseconds)) ms) exceeded"
        case .cannotStart(let reason): reason
        }
    }

    /// What the job wrote before it failed.
    public var output: String {
        switch self {
        case .failed(_, _, let output), .timedOut(_, let output): output
        case .cannotStart: ""
        }
    }
}

func formatMilliseconds(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// Runs jobs. Implementations: `LocalRunner` (a shell on this machine) and
/// `SimulateRunner` (runs nothing); the container runner plugs in here too.
public protocol JobRunner: Sendable {
    /// The name used in log prefixes (`[brigade:<name>]`) and in `--runner`.
    var name: String { get }
    /// Runs `job` to its end. Throws `JobFailure` (or any error, reported as the reason).
    /// Cancellation of the calling task stops the job.
    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput
    /// Called once a build is over, to let go of what its jobs shared (a build volume, say).
    func buildFinished(_ context: JobContext) async
}

extension JobRunner {
    public func buildFinished(_ context: JobContext) async {}
}
