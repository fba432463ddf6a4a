import ArgumentParser
import BrigantineCore
import Foundation
import Gateway
import Logging
import Store

/// `brig build`: read builds from the gateway's store.
struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "List builds, show one, print (and follow) its log, wait for one, stop it, run it again, or delete builds.",
        subcommands: [List.self, Get.self, Logs.self, Wait.self, Cancel.self, Rerun.self, Delete.self, Prune.self])

    /// `--keep-days` of `brig build prune` and `brig gateway`.
    static let keptDays = NumberBounds("days", from: 0, to: 36_500, meaning: "a century")
    /// `--timeout` of `brig build wait` (without it, it waits until the build ends).
    static let waitTimes = NumberBounds("seconds", from: 0, to: 365 * 86_400, meaning: "a year")

    static func open(_ places: Places) async throws -> any BuildStore {
        try await places.openStore(logger: Logger(label: "brig.build") { _ in SwiftLogNoOpLogHandler() })
    }

    static func find(_ id: String, in store: any BuildStore) async throws -> StoredBuild {
        guard let build = try await store.build(id: id) else { throw CLIError("no build \(id)") }
        return build
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recent builds, newest first.")
        @OptionGroup var places: Places
        @Option(help: "Only this project (name or Brigade ID).") var project: String?
        @Option(help: "Only builds in this status: Pending, Running, Succeeded or Failed.") var status: String?
        @Option(help: "How many.") var limit = 20
        @Option(help: "Only builds that came before this one (the last of the previous page).") var before: String?
        @OptionGroup var format: OutputFormat

        func validate() throws {
            // SQLite takes a negative LIMIT for none at all: the whole store.
            guard limit >= 1 else { throw ValidationError("--limit must be 1 or more") }
        }

        func run() async throws {
            let wanted = try status.map { word in
                guard let status = BuildStatus(named: word) else {
                    throw CLIError("--status must be one of \(BuildStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(word)'")
                }
                return status
            }
            let store = try await BuildCommand.open(places)
            let builds = try await store.builds(projectID: project.map(ProjectID.of), status: wanted, before: before, limit: limit)
            if format.json { return format.print(json: builds.map(APIObjects.build)) }
            for build in builds {
                print([build.id, build.build.projectName, build.build.eventType, build.status.rawValue,
                       build.reason ?? ""].joined(separator: "\t"))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a build and its jobs.")
        @OptionGroup var places: Places
        @Argument var id: String
        @OptionGroup var format: OutputFormat

        func run() async throws {
            let store = try await BuildCommand.open(places)
            let build = try await BuildCommand.find(id, in: store)
            let jobs = try await store.jobs(buildID: build.id, withOutput: false)
            if format.json {
                // The build as /v1/build/<id> has it, with its jobs as /v1/build/<id>/jobs has them.
                var object = APIObjects.build(build)
                object["jobs"] = jobs.map(APIObjects.job)
                return format.print(json: object)
            }
            print("""
                build: \(build.id)
                project: \(build.build.projectName) (\(build.build.projectID))
                event: \(build.build.eventType) from \(build.build.provider), commit '\(build.build.commit)', ref '\(build.build.ref)'
                status: \(build.status.rawValue)\(build.exitCode.map { ", exit code \($0)" } ?? "")
                """)
            if let reason = build.reason { print("reason: \(reason)") }
            if build.coalesced > 0 {
                print("coalesced: \(build.coalesced) later webhook\(build.coalesced == 1 ? "" : "s") joined it (its event is the last one's)")
            }
            if build.status == .pending, let time = build.build.notBefore, time > Date() {
                print("starts: not before \(ISO8601DateFormatter().string(from: time)) (the end of its coalescing window)")
            }
            for job in jobs {
                print("job \(job.id): \(job.status)\(job.exitCode.map { " (exit \($0))" } ?? "")\(job.failure.map { ": \($0)" } ?? "")")
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a build's log (and its jobs' output).")
        @OptionGroup var places: Places
        @Argument(help: "Build ID (or --last).") var id: String?
        @Flag(help: "The newest build (of --project, if given).") var last = false
        @Option(help: "With --last: of this project (name or Brigade ID).") var project: String?
        @Flag(help: "Then each job's output, after a line naming the job.") var jobs = false
        @Flag(help: "Keep printing new lines until the build ends.") var follow = false

        func validate() throws {
            guard (id == nil) == last else { throw ValidationError("name a build, or give --last (not both)") }
            if project != nil, !last { throw ValidationError("--project goes with --last") }
        }

        func run() async throws {
            let store = try await BuildCommand.open(places)
            let build: StoredBuild
            if let id {
                build = try await BuildCommand.find(id, in: store)
            } else {
                guard let newest = try await store.builds(projectID: project.map(ProjectID.of), status: nil, limit: 1).first else {
                    throw CLIError("no build" + (project.map { " of \($0)" } ?? "") + " yet")
                }
                build = newest
            }
            try await store.forEachLogBatch(of: build.id, follow: follow, pollInterval: .milliseconds(250)) { lines in
                for line in lines { print(line.line.shown, terminator: "") }
            }
            guard jobs else { return }
            for job in try await store.jobs(buildID: build.id) {
                print("==> job \(job.id) (\(job.status)\(job.exitCode.map { ", exit \($0)" } ?? "")) <==")
                let output = job.output
                if !output.isEmpty { print(output.hasSuffix("\n") ? String(output.dropLast()) : output) }
            }
        }
    }

    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait for a build to end and print its status.",
            discussion: "Exit status: 0 when it succeeded, 2 when it failed, 1 when it had not ended within --timeout or does not exist.")
        @OptionGroup var places: Places
        @Argument var id: String
        @Option(help: "Seconds to wait at most (default: until it ends).") var timeout: Double?

        func run() async throws {
            let timeout = try timeout.map { try BuildCommand.waitTimes.checked($0, for: "--timeout") }
            let store = try await BuildCommand.open(places)
            guard let build = try await store.waitForEnd(of: id, timeout: timeout.map { .seconds($0) },
                                                         pollInterval: .milliseconds(250)) else {
                throw CLIError("no build \(id)")
            }
            print("\(id): \(build.status.rawValue)\(build.reason.map { " (\($0))" } ?? "")")
            switch build.status {
            case .succeeded: return
            case .failed: throw QuietExit(exitCode: 2)
            default: throw CLIError("build \(id) had not ended after \((timeout ?? 0).formatted()) s")
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a build: a pending one ends at once; a running one is stopped by its gateway within about a second.")
        @OptionGroup var places: Places
        @Argument var id: String

        func run() async throws {
            let store = try await BuildCommand.open(places)
            switch try await store.requestCancel(buildID: id, reason: "cancelled with brig build cancel") {
            case .ended: print("\(id): cancelled before it ran (Failed)")
            case .requested: print("\(id): asked its gateway to stop it")
            case .alreadyEnded(let status): throw CLIError("build \(id) has already ended: \(status.rawValue)")
            case .notFound: throw CLIError("no build \(id)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete ended builds, with their jobs and logs.",
            discussion: "A pending or running build is kept: stop it first with brig build cancel. Exit status 1 when any build was not deleted.")
        @OptionGroup var places: Places
        @Argument(help: "Build IDs.") var ids: [String]

        func run() async throws {
            guard !ids.isEmpty else { throw CLIError("name the builds to delete") }
            let store = try await BuildCommand.open(places)
            var kept = 0
            for id in ids {
                let problem: String
                switch try await store.deleteBuild(id: id) {
                case .deleted:
                    print("\(id): deleted")
                    continue
                case .notEnded(let status): problem = "build \(id) is \(status.rawValue): stop it first (brig build cancel \(id))"
                case .notFound: problem = "no build \(id)"
                }
                StandardStreams.writeError("Error: \(problem)\n")
                kept += 1
            }
            if kept > 0 { throw QuietExit(exitCode: 1) }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete ended builds older than --keep-days, with their jobs and logs; prints how many.")
        @OptionGroup var places: Places
        @Option(name: .customLong("keep-days"), help: "Days an ended build is kept, counted from when it came.")
        var keepDays: Double

        func run() async throws {
            let keepDays = try BuildCommand.keptDays.checked(keepDays, for: "--keep-days")
            let store = try await BuildCommand.open(places)
            let deleted = try await store.deleteEndedBuilds(createdBefore: Date().addingTimeInterval(-keepDays * 86_400))
            print("deleted \(deleted) ended build\(deleted == 1 ? "" : "s") older than \(keepDays.formatted()) days")
        }
    }

    struct Rerun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a new build of a build's event (same project, revision and payload); prints its ID.")
        @OptionGroup var places: Places
        @Argument var id: String

        func run() async throws {
            let store = try await BuildCommand.open(places)
            guard let again = try await store.rerun(buildID: id) else { throw CLIError("no build \(id)") }
            print(again.id)
        }
    }
}
