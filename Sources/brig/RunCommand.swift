import ArgumentParser
import BrigantineCore
import Foundation
import JobRunners
import Synchronization
import Worker

/// `brig run`: one build on this machine, for writing and testing a brigade.js against a
/// real payload. Flags are Brigade's `brig run` flags, plus runner, secrets and project file.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a brigade.js locally: fire one event at it and run its jobs.",
        discussion: """
            Exit status: 0 when the build succeeds, 2 when it fails, 1 when it cannot start.
            The script is -f FILE, else the project's defaultScriptFile/defaultScript, else ./brigade.js.
            """,
        aliases: ["exec"])

    @Argument(help: "Project name or Brigade ID, looked up in --projects (default: a local project with no secrets).")
    var project: String?

    @Option(name: [.short, .long], help: "The brigade.js to run.")
    var file: String?

    @Option(name: [.short, .long], help: "Event type.")
    var event = "exec"

    @Option(name: [.short, .long], help: "File whose contents become e.payload, byte for byte (- reads standard input).")
    var payload: String?

    @Option(name: [.short, .customLong("inline-payload")], help: "Text that becomes e.payload.")
    var inlinePayload: String?

    @Option(name: [.short, .long], help: "Revision commit (e.revision.commit).")
    var commit = ""

    @Option(name: [.short, .long], help: "Revision ref (e.revision.ref).")
    var ref = "master"

    @Option(help: "brigade.json to use (default: brigade.json beside the script, then the project's defaultConfig).")
    var config: String?

    @Option(name: [.short, .long], help: "Worker log level: all, log, info, warn, error or none.")
    var level = "log"

    @Option(help: "Job runner: local (tasks run here with the job's shell), container (in the job's image) or simulate (nothing runs).")
    var runner: String?

    @Option(name: .customLong("engine-socket"), help: "Container engine socket for --runner container (default: Docker's, then Podman's).")
    var engineSocket: String?

    @Option(name: .customLong("secret"),
            help: "A project secret: KEY=VALUE, or KEY alone for the value of the environment variable KEY, which keeps it out of the process list and shell history (repeatable; overrides the project file).")
    var secrets: [String] = []

    @Option(name: .customLong("project-file"), help: "Project YAML (name, secrets, defaultScript, runner, …).")
    var projectFile: String?

    @Option(help: "Directory of project YAML files, for PROJECT.")
    var projects = "projects"

    @Option(help: "Directory for job caches and build files.")
    var data: String?

    @Option(help: ArgumentHelp("Directory jobs see at their mountPath (/src), as Brigade's jobs saw the repository.",
                               discussion: "Default: the script's project root when it is a git repository (has .git), else none."))
    var source: String?

    @OptionGroup var limits: ScriptLimits

    func run() async throws {
        guard let logLevel = LogLevel(name: level) else {
            throw CLIError("unknown log level \"\(level)\": use all, log, info, warn, error or none")
        }
        if BuildRequest.lifecycleEventTypes.contains(event) {
            throw CLIError("'\(event)' is fired by the worker itself (after the main event) and cannot be the main event")
        }
        var project = try loadProject()
        for secret in secrets {
            let parts = secret.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else {
                throw CLIError("--secret takes KEY=VALUE, or KEY for the value of the environment variable KEY")
            }
            guard let value = parts.count == 2 ? parts[1] : ProcessInfo.processInfo.environment[parts[0]] else {
                throw CLIError("--secret \(secret): the environment variable \(secret) is not set")
            }
            project.secrets[parts[0]] = value
        }
        let script = try chooseScript(for: project)
        let moduleRoot = ScriptLocation.moduleRoot(for: script, project: project, projectFileGiven: projectFile != nil)
        let request = BuildRequest(
            project: project, eventType: event, provider: "brigade-cli",
            revision: .init(commit: commit, ref: ref), payload: try readPayload(), script: script,
            moduleRoot: moduleRoot, config: try config.map { try readText($0, what: "config") }, logLevel: logLevel,
            sourceDirectory: try sourceDirectory(projectRoot: moduleRoot))

        let dataDirectory = URL(fileURLWithPath: data ?? Self.defaultDataDirectory())
        let jobRunner = try await makeRunner(named: runner ?? project.runner ?? "local", project: project, data: dataDirectory)
        let settings = WorkerSettings(
            scriptTimeLimit: limits.scriptTimeLimit, buildTimeout: limits.buildTimeout, scriptMemoryLimit: limits.scriptMemoryLimitBytes,
            workRoot: dataDirectory.appendingPathComponent("builds", isDirectory: true))
        let log = BuildLog(level: logLevel, redactor: project.redactor, maxOutputBytes: settings.maxLogBytes,
                           maxOutputLines: settings.maxLogLines, sink: TerminalSink.write)
        for name in project.unmaskableSecretNames {
            log.log(.warn, nil, "secret \(name) is shorter than \(SecretRedactor.minimumLength) characters and is not masked in logs")
        }
        let worker = BuildWorker(request: request, runner: jobRunner, log: log, settings: settings)
        let interrupts = InterruptHandler { signal in worker.cancel(reason: "brig received \(signal)") }
        let outcome = await worker.run()
        interrupts.remove()
        if outcome.status == .failed {
            log.log(.error, nil, "build \(outcome.buildID) failed: \(outcome.reason ?? "exit code \(outcome.exitCode)")")
            throw QuietExit(exitCode: 2)
        }
    }

    private func loadProject() throws -> Project {
        let cwd = FileManager.default.currentDirectoryPath
        if let projectFile {
            let loaded = try projectError { try Project.load(file: projectFile) }
            if let name = project, name != loaded.name, ProjectID.of(name) != loaded.id {
                throw CLIError("\(projectFile) declares project '\(loaded.name)', not '\(name)'")
            }
            return loaded
        }
        guard let name = project else { return .local(directory: cwd) }
        return try ProjectCommand.find(name, in: projects)
    }

    private func projectError<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ProjectFileError { throw CLIError("\(error)") }
    }

    private func chooseScript(for project: Project) throws -> BuildRequest.Script {
        // The script named here is the user's own, wherever a link to it leads: it runs from
        // where it really is, so its modules resolve from there (as Node's do).
        if let file {
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError("script \(file) does not exist") }
            return .file(path: realPath(file) ?? URL(fileURLWithPath: file).standardizedFileURL.path)
        }
        if let path = project.defaultScriptFile { return .file(path: path) }
        if let source = project.defaultScript {
            return .inline(source: source, path: (project.directory as NSString).appendingPathComponent("brigade.js"))
        }
        let local = URL(fileURLWithPath: "brigade.js").standardizedFileURL.path
        if FileManager.default.fileExists(atPath: local) { return .file(path: realPath(local) ?? local) }
        throw CLIError("no script to run: pass -f FILE, or set defaultScript in the project file")
    }

    /// `--source`, else the project root if it is a repository (what a Brigade job would
    /// have had cloned); never a whole directory that merely holds the script.
    private func sourceDirectory(projectRoot: String) throws -> URL? {
        if let source {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--source \(source) is not a directory")
            }
            return URL(fileURLWithPath: source, isDirectory: true).standardizedFileURL
        }
        let root = URL(fileURLWithPath: projectRoot, isDirectory: true)
        return FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) ? root : nil
    }

    private func readPayload() throws -> String {
        if payload != nil, inlinePayload != nil {
            throw CLIError("Both payload and inline-payload should not be specified")
        }
        // `-p -`: a payload piped in (`curl … | brig run -p - …`).
        if payload == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        if let payload { return try readText(payload, what: "payload") }
        return inlinePayload ?? ""
    }

    private func readText(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read the \(what) file \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func makeRunner(named name: String, project: Project, data: URL) async throws -> any JobRunner {
        switch name {
        case "local": return LocalRunner(cacheRoot: data.appendingPathComponent("cache", isDirectory: true))
        case "simulate": return SimulateRunner()
        case "container":
            do {
                return try await ContainerRunner.connect(socket: engineSocket).forProject(project)
            } catch {
                throw CLIError("\(error)")
            }
        default: throw CLIError("unknown runner '\(name)': use local, container or simulate")
        }
    }

    static func defaultDataDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSTemporaryDirectory()) as NSString).appendingPathComponent(".cache")
        return (cache as NSString).appendingPathComponent("brigantine")
    }
}

/// The first SIGINT or SIGTERM cancels the build (its jobs are killed and it ends
/// recorded as failed); a second one exits at once.
final class InterruptHandler {
    private let sources: [any DispatchSourceSignal]

    init(onFirst: @escaping @Sendable (String) -> Void) {
        let seen = Atomic<Bool>(false)
        sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if seen.exchange(true, ordering: .relaxed) { Foundation.exit(130) }
                onFirst(name)
            }
            source.resume()
            return source
        }
    }

    func remove() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// Writes log lines to the terminal as they come, stdout and stderr in order.
enum TerminalSink {
    private static let lock = NSLock()

    static let write: @Sendable (LogLine) -> Void = { line in
        lock.lock()
        defer { lock.unlock() }
        StandardStreams.write(Data(line.shown.utf8), to: line.stream == .stdout ? STDOUT_FILENO : STDERR_FILENO)
    }
}
