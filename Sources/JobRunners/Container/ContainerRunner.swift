import BrigantineCore
import Foundation
import NIOCore
import NIOHTTP1

/// Runs each job in a container of its image, through the Docker Engine API (dockerd or
/// Podman's compatible service), the way Brigade ran a pod:
///
/// - tasks become Brigade's script (`#!shell`, its `set -e` prologue, the tasks), passed to
///   the job's shell as `[shell, -c, script]` rather than copied to `/hook/main.sh`: the same
///   text runs, without the engine mounting the container's filesystem to unpack a file;
///   `args` become the command;
/// - `env` values are the environment (project secrets only where the script put them);
/// - `storage.enabled` mounts the build's volume, `cache.enabled` a volume kept per project
///   and job, `useSource` a copy of the build's source at `mountPath` (`/src`, as Brigade's
///   VCS sidecar did); `privileged` and the engine socket only reach jobs the project allows them;
/// - no network unless the project allows it; memory and CPU limits map to the engine's;
/// - every container is labelled with project, build, job and owner, and removed after
///   its job; leftovers of a `brig` that died are removed the next time a runner starts.
public final class ContainerRunner: JobRunner {
    public let name = "container"
    public let socketPath: String
    public let allowNetwork: Bool
    /// Registry host → what images of that registry are pulled with (the project's `registries`).
    public let credentials: [String: Project.RegistryCredential]
    private let engine: EngineClient
    private let global: AsyncLimiter
    private let perBuild: AsyncLimiter
    private let maxOutputBytes: Int
    private let owner: String

    /// Engine sockets tried when none is given: Docker's, then Podman's (root and rootless).
    public static let defaultSockets = ["/var/run/docker.sock", "/run/podman/podman.sock",
                                        "/run/user/\(getuid())/podman/podman.sock"]

    /// Connects to the first engine that answers and removes containers left by dead owners.
    public static func connect(
        socket: String? = nil, allowNetwork: Bool = false, maxRunning: Int = 8, maxRunningPerBuild: Int = 4,
        maxOutputBytes: Int = 16 << 20
    ) async throws -> ContainerRunner {
        for path in socket.map({ [$0] }) ?? defaultSockets where FileManager.default.fileExists(atPath: path) {
            let runner = ContainerRunner(socketPath: path, allowNetwork: allowNetwork, maxRunning: maxRunning,
                                         maxRunningPerBuild: maxRunningPerBuild, maxOutputBytes: maxOutputBytes)
            guard await runner.engine.ping() else { continue }
            try await runner.removeLeftovers()
            return runner
        }
        throw EngineUnavailable(socketPath: socket ?? defaultSockets.joined(separator: " or "))
    }

    convenience init(socketPath: String, allowNetwork: Bool, maxRunning: Int, maxRunningPerBuild: Int, maxOutputBytes: Int) {
        self.init(socketPath: socketPath, allowNetwork: allowNetwork,
                  limits: (AsyncLimiter(limit: maxRunning), AsyncLimiter(limit: maxRunningPerBuild)),
                  maxOutputBytes: maxOutputBytes, credentials: [:])
    }

    /// The same runner (sharing its limits on running containers) for one project: with or
    /// without network for jobs, pulling with the project's registry credentials.
    public func forProject(_ project: Project) -> ContainerRunner {
        project.allowJobNetwork == allowNetwork && project.registries == credentials ? self : ContainerRunner(
            socketPath: socketPath, allowNetwork: project.allowJobNetwork, limits: (global, perBuild),
            maxOutputBytes: maxOutputBytes, credentials: project.registries)
    }

    private init(socketPath: String, allowNetwork: Bool, limits: (AsyncLimiter, AsyncLimiter), maxOutputBytes: Int,
                 credentials: [String: Project.RegistryCredential]) {
        self.socketPath = socketPath
        self.allowNetwork = allowNetwork
        self.credentials = credentials
        engine = EngineClient(socketPath: socketPath)
        (global, perBuild) = limits
        self.maxOutputBytes = maxOutputBytes
        owner = "\(ProcessInfo.processInfo.hostName)/\(getpid())"
    }

    public func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        try job.validateForProcess()
        guard !job.image.isEmpty else {
            throw JobFailure.cannotStart("job \(job.name) has no image (Brigade's default image is empty): set job.image")
        }
        var started = false
        do {
            return try await global.withPermit {
                try await perBuild.withPermit(context.buildID) {
                    started = true
                    return try await runContainer(job, in: context)
                }
            }
        } catch is CancellationError where !started {
            // Stopped while it waited for a place among the running jobs.
            throw JobFailure.cannotStart("job \(job.name) was stopped with its build before it could start")
        }
    }

    public func buildFinished(_ context: JobContext) async {
        // A container whose removal the engine did not answer in time goes now (it would
        // also keep the build's volume in use).
        _ = try? await Self.withinEngineLimit { [self] in
            try await removeContainers(labelled: "brigantine.build=\(context.buildID)")
        }
        _ = try? await Self.withinEngineLimit { [engine] in
            try await engine.send(.DELETE, "/volumes/\(Self.storageVolume(context.buildID))?force=true")
        }
    }

    // MARK: One job

    private func runContainer(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        // The timeout counts from here, as Brigade's counted while the pod was pending: a pull
        // that does not end, or an engine that does not make the container, is the job's timeout too.
        let deadline = ContinuousClock.now + job.timeLimit
        let available: Void? = try await Self.within(deadline) { [self] in
            try await ensureImage(job.image, forcePull: job.imageForcePull, log: context.log)
        }
        guard available != nil else { throw timedOutBeforeStart(job, "while its image \(job.image) was being pulled", context) }
        guard let id = try await Self.within(deadline, { [self] in try await create(job, in: context) }) else {
            // The engine may still make it: what carries the job's labels goes.
            Task { [self] in try? await removeContainers(labelled: "brigantine.pod=\(job.podName)") }
            throw timedOutBeforeStart(job, "while the engine made its container", context)
        }
        let outcome: Result<JobOutput, any Error>
        do {
            outcome = .success(try await withTaskCancellationHandler {
                try await runCreated(id, job: job, until: deadline, in: context)
            } onCancel: {
                Task { [engine] in _ = try? await engine.send(.POST, "/containers/\(id)/kill") }
            })
        } catch {
            outcome = .failure(error)
        }
        // Removed whatever happened, even when the job was cancelled; an engine that does not
        // answer keeps it, and the job still ends.
        await Task { [engine] in
            _ = try? await Self.withinEngineLimit { try await engine.send(.DELETE, "/containers/\(id)?force=true&v=true") }
        }.value
        return try outcome.get()
    }

    private func runCreated(_ id: String, job: JobSpec, until deadline: ContinuousClock.Instant,
                            in context: JobContext) async throws -> JobOutput {
        guard let started = try await Self.within(deadline, { [engine] in try await engine.send(.POST, "/containers/\(id)/start") }) else {
            throw timedOutBeforeStart(job, "while the engine started its container", context)
        }
        guard started.isSuccess else {
            throw JobFailure.cannotStart("container for \(job.podName) did not start: \(started.message)")
        }
        context.log.log(.log, name, "Timeout set at \(formatMilliseconds(job.timeout)) milliseconds")
        let output = OutputCollector(limit: maxOutputBytes, redactor: context.log.redactor) { [name] line in
            if job.streamLogs { context.log.jobOutputLine(runner: name, podName: job.podName, line) }
        }
        let exit = try await waitForExit(id, until: deadline, output: output)
        return try exit.outcome(of: job, output: output.finish(), runner: name, log: context.log)
    }

    private func timedOutBeforeStart(_ job: JobSpec, _ phase: String, _ context: JobContext) -> JobFailure {
        context.log.log(.error, name, "\(job.podName) ran past its timeout \(phase)")
        return .timedOut(milliseconds: job.timeout, output: "")
    }

    /// How long the engine's log stream may go on after the container's exit is known.
    /// Podman's follow sometimes never ends when a container exits as it attaches; then
    /// the output is read again without following.
    static let logStreamGrace: Duration = .seconds(3)
    /// How long that second read, and a kill, may take before the engine counts as unresponsive.
    static let engineCallLimit: Duration = .seconds(10)

    private enum WaitEvent: Sendable { case exit(JobExit), logsEnded, logsOverdue, killSent }

    /// Follows the container's output while waiting for it to exit, or for the timeout. The
    /// timeout ends the wait even when the engine no longer answers.
    private func waitForExit(_ id: String, until deadline: ContinuousClock.Instant, output: OutputCollector) async throws -> JobExit {
        // The kill is sent only once the timeout is the known exit: the killed container's exit cannot come first.
        let (exit, logsEnded) = try await withThrowingTaskGroup(of: WaitEvent.self) { group in
            group.addTask { [engine] in
                var frames = LogDemultiplexer()
                _ = try await engine.stream(.GET, "/containers/\(id)/logs?follow=1&stdout=1&stderr=1") { chunk in
                    frames.feed(chunk.readableBytesView).withUnsafeBytes { output.append($0) }
                }
                return .logsEnded
            }
            group.addTask { [engine] in
                let reply = try await engine.send(.POST, "/containers/\(id)/wait")
                let code = (reply.json as? [String: Any])?["StatusCode"] as? Int ?? -1
                return .exit(.exited(Int32(clamping: code)))
            }
            group.addTask {
                try await Task.sleep(until: deadline)
                return .exit(.timedOut)
            }
            // Done when the exit is known and the log has ended (a killed container ends it
            // too), or the log stream is overdue.
            var exit: JobExit?
            var logsEnded = false
            waiting: while let event = try await group.next() {
                switch event {
                case .logsEnded: logsEnded = true
                case .exit(let known):
                    guard exit == nil else { break }
                    exit = known
                    if known == .timedOut {
                        group.addTask { [engine] in
                            _ = try? await Self.withinEngineLimit { try await engine.send(.POST, "/containers/\(id)/kill") }
                            return .killSent
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: known == .timedOut ? Self.engineCallLimit : Self.logStreamGrace)
                        return .logsOverdue
                    }
                case .logsOverdue: break waiting
                case .killSent: break
                }
                if exit != nil, logsEnded { break }
            }
            group.cancelAll()
            return (exit ?? .exited(-1), logsEnded)
        }
        if !logsEnded { try? await readRestOfLogs(id, after: output.received, into: output) }
        return exit
    }

    /// Reads the container's whole log once more (not following) and keeps what comes after
    /// the bytes the stream already delivered.
    private func readRestOfLogs(_ id: String, after received: Int, into output: OutputCollector) async throws {
        try await Self.withinEngineLimit { [engine] in
            var frames = LogDemultiplexer()
            var skip = received
            _ = try await engine.stream(.GET, "/containers/\(id)/logs?stdout=1&stderr=1") { chunk in
                let bytes = frames.feed(chunk.readableBytesView)
                let skipped = min(skip, bytes.count)
                skip -= skipped
                bytes[skipped...].withUnsafeBytes { output.append($0) }
            }
        }
    }

    /// Runs an engine call, or gives up on it after `engineCallLimit`.
    private static func withinEngineLimit<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let result = try await within(.now + engineCallLimit, call) else { throw EngineUnresponsive() }
        return result
    }

    /// What `call` returns, or nil when `deadline` comes first (the call is then cancelled).
    private static func within<T: Sendable>(_ deadline: ContinuousClock.Instant,
                                            _ call: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await call() }
            group.addTask { try await Task.sleep(until: deadline); return nil }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    private func create(_ job: JobSpec, in context: JobContext) async throws -> String {
        var hostConfig: [String: Any] = [
            "NetworkMode": allowNetwork ? "bridge" : "none",
            "Privileged": job.privileged,
            // Podman's compatible API does not apply its configured defaults; these work with both engines.
            "Ulimits": [["Name": "nofile", "Soft": 1024, "Hard": 20000], ["Name": "nproc", "Soft": 32768, "Hard": 32768]],
        ]
        var mounts: [[String: Any]] = []
        if job.storage.enabled {
            mounts.append(["Type": "volume", "Source": Self.storageVolume(context.buildID), "Target": job.storage.path])
        }
        if job.cache.enabled {
            mounts.append(["Type": "volume", "Source": Self.cacheVolume(job.cacheName(project: context.projectName)), "Target": job.cache.path])
        }
        if let source = try context.sourceCopy(for: job) {
            mounts.append(["Type": "bind", "Source": source.path, "Target": job.mountPath])
        }
        if !mounts.isEmpty { hostConfig["Mounts"] = mounts }
        if job.dockerSocket { hostConfig["Binds"] = ["\(socketPath):/var/run/docker.sock"] }
        // As Kubernetes would, a limit that is not a quantity stops the job; an empty one is none (Brigade's truthiness).
        if let memory = job.resourceLimits.memory, !memory.isEmpty {
            guard let bytes = ResourceQuantity.bytes(memory) else { throw Self.notAQuantity("memory", memory, job, example: "512Mi") }
            hostConfig["Memory"] = bytes
        }
        if let cpu = job.resourceLimits.cpu, !cpu.isEmpty {
            guard let cores = ResourceQuantity.cores(cpu) else { throw Self.notAQuantity("cpu", cpu, job, example: "500m") }
            hostConfig["NanoCpus"] = Int(cores * 1e9)
        }

        var body: [String: Any] = [
            "Image": job.image,
            "Env": job.env.map { "\($0.name)=\($0.value)" },
            "Labels": [
                "brigantine.managed": "true", "brigantine.owner": owner, "brigantine.project": context.projectID,
                "brigantine.build": context.buildID, "brigantine.job": job.name, "brigantine.pod": job.podName,
            ],
            "HostConfig": hostConfig,
        ]
        if let script = job.script { body["Entrypoint"] = [job.interpreter, "-c", script] }
        if !job.args.isEmpty { body["Cmd"] = job.args }
        context.log.log(.log, name, "Creating container for \(job.podName) (image \(job.image))")
        let reply = try await engine.send(.POST, "/containers/create", json: body)
        guard reply.isSuccess, let id = (reply.json as? [String: Any])?["Id"] as? String else {
            throw JobFailure.cannotStart("the engine would not create a container for \(job.podName): \(reply.message)")
        }
        return id
    }

    private static func notAQuantity(_ resource: String, _ value: String, _ job: JobSpec, example: String) -> JobFailure {
        .cannotStart("job \(job.name)'s resourceLimits.\(resource) is \"\(value)\", which is not a quantity the engine can "
            + "apply (such as \(example))")
    }

    /// Makes the image available: pulled when asked to or when missing. No registry may
    /// be reachable; then the error says the image must be loaded into the engine first.
    private func ensureImage(_ image: String, forcePull: Bool, log: BuildLog) async throws {
        if !forcePull, try await engine.send(.GET, "/images/\(image)/json").isSuccess { return }
        let host = RegistryHost.of(image: image)
        let credential = credentials[host]
        log.log(.log, name, "Pulling image \(image)" + (credential.map { " as \($0.username) (the project's credential for \(host))" } ?? ""))
        var failure: String?
        var progress = Data()
        let auth = credential.map { [("X-Registry-Auth", Self.registryAuth($0, host: host))] } ?? []
        let status = try await engine.stream(.POST, "/images/create?fromImage=\(Self.query(image))", headers: auth) { chunk in
            progress.append(contentsOf: chunk.readableBytesView)
        }
        // Pull errors arrive inside a 200 answer, as {"error": …} lines.
        for line in progress.split(separator: 0x0A) {
            if let message = (try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])?["error"] as? String {
                failure = message
            }
        }
        if !(200..<300).contains(status) {
            failure = EngineClient.Reply(status: status, body: progress).message
        }
        if let failure {
            let hint = credential == nil ? "; the project has no credential for \(host) in its registries" : ""
            throw JobFailure.cannotStart("image \(image) is not available: it is not in the engine and could not be pulled "
                + "(\(failure)\(hint))")
        }
    }

    /// The engine's `X-Registry-Auth`: the credential as JSON, base64url-encoded.
    static func registryAuth(_ credential: Project.RegistryCredential, host: String) -> String {
        let json = (try? JSONSerialization.data(withJSONObject: [
            "username": credential.username, "password": credential.password,
            "serveraddress": host == RegistryHost.dockerHub ? "https://index.docker.io/v1/" : host,
        ], options: [.sortedKeys])) ?? Data()
        return json.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    // MARK: Leftovers

    /// Removes containers labelled by a brigantine process of this host that is no longer running.
    func removeLeftovers() async throws {
        let host = ProcessInfo.processInfo.hostName
        try await removeContainers(labelled: "brigantine.managed=true") { labels in
            guard let owner = labels["brigantine.owner"], let slash = owner.lastIndex(of: "/"), owner[..<slash] == host,
                  let pid = Int32(owner[owner.index(after: slash)...])
            else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
    }

    /// Removes the containers with `label` (`name=value`) whose labels pass `condition`.
    private func removeContainers(labelled label: String,
                                  where condition: ([String: String]) -> Bool = { _ in true }) async throws {
        let filter = Self.query(#"{"label":["\#(label)"]}"#)
        let reply = try await engine.send(.GET, "/containers/json?all=1&filters=\(filter)")
        for container in reply.json as? [[String: Any]] ?? [] {
            guard let id = container["Id"] as? String,
                  condition(container["Labels"] as? [String: String] ?? [:])
            else { continue }
            _ = try? await engine.send(.DELETE, "/containers/\(id)?force=true&v=true")
        }
    }

    // MARK: Names

    static func storageVolume(_ buildID: String) -> String { "brigantine-build-\(buildID)" }

    static func cacheVolume(_ cacheName: String) -> String {
        "brigantine-cache-" + String(cacheName.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" })
    }

    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// Kubernetes resource quantities (`128Mi`, `1G`, `500m`) as the engine wants them; nil for
/// what is not one, or is not a positive amount a machine could have (a script sets these).
enum ResourceQuantity {
    static func bytes(_ quantity: String) -> Int? {
        let units: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
                                         ("k", 1e3), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)]
        let (number, factor) = units.first { quantity.hasSuffix($0.0) }
            .map { (quantity.dropLast($0.0.count), $0.1) } ?? (Substring(quantity), 1)
        guard let value = Double(number).map({ $0 * factor }), value >= 1, value < 0x1p62 else { return nil }
        return Int(value)
    }

    static func cores(_ quantity: String) -> Double? {
        let value = quantity.hasSuffix("m") ? Double(quantity.dropLast()).map { $0 / 1000 } : Double(quantity)
        guard let value, value > 0, value <= 1e6 else { return nil }
        return value
    }
}
