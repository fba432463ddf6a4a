import BrigantineCore
import Brigadier
import Foundation
import JobRunners
import JSHost
import Synchronization
import TestSupport
import Worker

/// A finished build and everything it logged.
struct BuildRun {
    let outcome: BuildOutcome
    let lines: [LogLine]

    var stdout: [String] { lines.filter { $0.stream == .stdout }.map(\.text) }
    var stderr: [String] { lines.filter { $0.stream == .stderr }.map(\.text) }
    var text: String { lines.map(\.text).joined(separator: "\n") }
    /// What the script itself printed to stdout (worker `[brigade…]` lines left out).
    var printed: [String] { stdout.filter { !$0.hasPrefix("[brigade") } }
    var succeeded: Bool { outcome.status == .succeeded }

    func contains(_ text: String) -> Bool { lines.contains { $0.text.contains(text) } }
}

/// A job runner for tests of what scripts hand to runners: it records each job and
/// answers with what `respond` says (by default, success with the job's name as output).
final class RecordingRunner: JobRunner {
    let name = "recording"
    private let recorded = Mutex<[JobSpec]>([])
    private let respond: @Sendable (JobSpec) async throws -> JobOutput

    init(respond: @escaping @Sendable (JobSpec) async throws -> JobOutput = { JobOutput(output: $0.name, exitCode: 0) }) {
        self.respond = respond
    }

    var jobs: [JobSpec] { recorded.withLock { $0 } }

    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        recorded.withLock { $0.append(job) }
        return try await respond(job)
    }
}

enum Harness {
    static func scratchDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brigantine-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs `script` as brigade.js in a fresh directory (with `files` and symbolic `links` beside it), on a lane
    /// of its own (as the gateway runs builds).
    static func run(
        _ script: String, event: String = "exec", payload: String? = "",
        project configure: (inout Project) -> Void = { _ in },
        runner: any JobRunner = SimulateRunner(), level: LogLevel = .log,
        files: [String: String] = [:], links: [String: String] = [:], config: String? = nil,
        scriptTimeLimit: Double = 5, buildTimeout: Double = 60, scriptMemoryLimit: Int = 512 << 20, maxLogBytes: Int = 16 << 20,
        revision: BuildRequest.Revision = .init(commit: "abc123", ref: "master")
    ) async throws -> BuildRun {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (path, contents) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        for (path, target) in links {
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(path).path, withDestinationPath: target)
        }
        let scriptPath = directory.appendingPathComponent("brigade.js").path
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        var project = Project(name: "brigadecore/empty-testbed", directory: directory.path)
        configure(&project)
        let request = BuildRequest(
            project: project, eventType: event, provider: "brigade-cli", revision: revision, payload: payload,
            script: .file(path: scriptPath), moduleRoot: directory.path, config: config, logLevel: level)
        let lines = Mutex<[LogLine]>([])
        let settings = WorkerSettings(
            scriptTimeLimit: scriptTimeLimit, buildTimeout: buildTimeout, scriptMemoryLimit: scriptMemoryLimit,
            maxLogBytes: maxLogBytes, workRoot: directory.appendingPathComponent("work"))
        // Limited as the gateway's and brig run's logs are.
        let log = BuildLog(level: level, redactor: project.redactor, maxOutputBytes: settings.maxLogBytes,
                           maxOutputLines: settings.maxLogLines) { line in lines.withLock { $0.append(line) } }
        let lane = BuildLane(runtime: JSRuntime(entryTimeLimit: scriptTimeLimit, heapLimit: scriptMemoryLimit))
        defer { lane.close() }
        let worker = BuildWorker(request: request, runner: runner, log: log, settings: settings, runtime: lane.runtime)
        let outcome = try await worker.ends(on: lane, within: buildTimeout + 30)
        return BuildRun(outcome: outcome, lines: lines.withLock { $0 })
    }

    /// A context with brigadier installed but no build: for tests of its internal modules.
    static func brigadierContext() throws -> ScriptContext {
        let directory = FileManager.default.temporaryDirectory
        let log = BuildLog { _ in }
        let bridge = JobBridge(
            runner: SimulateRunner(),
            context: JobContext(buildID: "test", projectName: "p", projectID: "id", buildDirectory: directory, log: log),
            policy: JobPolicy())
        return try ScriptContext(
            runtime: JSRuntime(), moduleRoots: [directory.path], builtins: BrigadierModule.builtins(jobs: bridge))
    }
}

extension ScriptContext {
    /// Evaluates `source` with the named internal brigadier modules in scope, as text.
    func evaluate(_ source: String, with modules: [String: String]) throws -> String {
        for (name, filename) in modules {
            setProperty(globalObject, name, try requireBuiltin("brigadier-js/\(filename)"))
        }
        return string(from: try evaluate(source))
    }
}

enum LocalRunnerFactory {
    /// A local runner whose cache lives in a fresh scratch directory.
    static func make(cacheRoot: URL? = nil) -> LocalRunner {
        LocalRunner(cacheRoot: cacheRoot ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("brigantine-cache-\(UUID().uuidString)"))
    }
}

extension BuildWorker {
    /// Runs the build on `lane`, waiting at most `seconds` for it: a build that never ends
    /// (a lost wake-up in the lane, say) fails its test instead of hanging the whole run.
    /// The build is left running then.
    func ends(on lane: BuildLane, within seconds: Double = 60) async throws -> BuildOutcome {
        let first = SettledOnce<BuildOutcome?>()
        Task { first.settle(await self.run(on: lane)) }
        let timer = Task {
            try await Task.sleep(for: .seconds(seconds))
            first.settle(nil)
        }
        defer { timer.cancel() }
        guard let outcome = await first.value else {
            throw TestFailure("the build did not end within \(seconds.formatted()) s")
        }
        return outcome
    }
}
