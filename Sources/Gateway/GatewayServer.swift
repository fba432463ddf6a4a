import BrigantineCore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import JobRunners
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import UnixSignals
import Scheduler
import Store
import Worker

/// `brig gateway`: the HTTP server, the scheduler that runs stored builds, and the
/// watcher that reloads project files, in one process.
public final class GatewayServer: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var maxBodySize: Int
        /// A connection idle this long (including one that stops sending) is closed.
        public var idleTimeout: Duration
        /// A connection that does not deliver a whole request this long after it is ready for
        /// one is closed, however it trickles (see `RequestDeadline`).
        public var requestTimeout: Duration = .seconds(10)
        /// A connection whose client takes none of its answer this long is closed (see `SendDeadline`).
        public var sendTimeout: Duration = .seconds(30)
        /// Threads running builds' JavaScript.
        public var lanes: Int
        /// Builds live at once (running or waiting for their jobs and timers).
        public var maxBuilds: Int
        public var perProjectLimit: Int
        public var scriptTimeLimit: Double
        public var buildTimeout: Double
        /// Most a script heap may grow while one entry into a script runs, in bytes.
        public var scriptMemoryLimit: Int
        /// The container engine's socket (nil: Docker's, then Podman's).
        public var engineSocket: String?
        /// The bearer token the API under `/v1` asks for (nil: reads are open, changes refused).
        public var apiToken: String?
        /// Ended builds older than this are deleted, with their jobs and logs (nil: kept forever).
        public var keepEndedBuilds: Duration?
        /// How often that is done.
        public var pruneInterval: Duration = .seconds(3600)
        /// PEM files to serve HTTPS with (nil: plain HTTP).
        public var tls: TLSFiles?
        /// The waits before each new try of a build that could not start for a reason that may pass.
        public var startRetryDelays = BuildScheduler.Settings.defaultStartRetryDelays
        /// How long one fetch of a project's repository may take before its host counts as out of reach.
        public var fetchTimeLimit = BuildScheduler.Settings.defaultFetchTimeLimit
        /// Most builds waiting in the store before webhooks get 503 (nil: no cap).
        public var maxQueuedBuilds: Int? = 100_000
        /// Connections held open at once; more wait in the listen queue (nil: from the
        /// open-file limit, see `ConnectionLimit`).
        public var maxConnections: Int?
        /// Connections one client address may hold open at once; more are closed as they
        /// come (nil: no limit, as behind a proxy every client has its address).
        public var maxConnectionsPerClient: Int?

        public init(host: String = "0.0.0.0", port: Int = 7744, maxBodySize: Int = 2 << 20, idleTimeout: Duration = .seconds(30),
                    lanes: Int = 2, maxBuilds: Int = 100, perProjectLimit: Int = 4, scriptTimeLimit: Double = 10, buildTimeout: Double = 3600,
                    scriptMemoryLimit: Int = 512 << 20, engineSocket: String? = nil, apiToken: String? = nil,
                    keepEndedBuilds: Duration? = nil) {
            self.host = host
            self.port = port
            self.maxBodySize = maxBodySize
            self.idleTimeout = idleTimeout
            self.lanes = lanes
            self.maxBuilds = maxBuilds
            self.perProjectLimit = perProjectLimit
            self.scriptTimeLimit = scriptTimeLimit
            self.buildTimeout = buildTimeout
            self.scriptMemoryLimit = scriptMemoryLimit
            self.engineSocket = engineSocket
            self.apiToken = apiToken
            self.keepEndedBuilds = keepEndedBuilds
        }
    }

    /// A certificate chain and its private key, PEM files.
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public let registry: ProjectRegistry
    public let store: any BuildStore
    private let options: Options
    private let tlsConfiguration: TLSConfiguration?
    private let dataDirectory: URL
    private let logger: Logger
    private let scheduler: BuildScheduler
    private let metrics = GatewayMetrics()
    private let storeOutage: StoreOutage
    /// Held while the gateway lives: no second gateway on the same data directory.
    private let dataDirectoryLock: DataDirectoryLock

    /// - Parameter store: where builds are kept; nil: the embedded SQLite store in `dataDirectory`.
    public init(projectsDirectory: String, dataDirectory: URL, options: Options, logger: Logger,
                store: (any BuildStore)? = nil) throws {
        dataDirectoryLock = try DataDirectoryLock(directory: dataDirectory)
        self.options = options
        self.dataDirectory = dataDirectory
        self.logger = logger
        tlsConfiguration = try options.tls.map(Self.tlsConfiguration)
        registry = try ProjectRegistry(directory: projectsDirectory,
                                       onProblem: { problem in logger.error("\(problem)") },
                                       onChange: { change in logger.notice("\(change)") })
        let store = try store ?? SQLiteBuildStore(directory: dataDirectory)
        self.store = store
        let storeOutage = StoreOutage(logger: logger)
        self.storeOutage = storeOutage
        let cacheRoot = dataDirectory.appendingPathComponent("cache", isDirectory: true)
        let engine = EngineConnection(socket: options.engineSocket)
        scheduler = BuildScheduler(
            store: store, projects: { [registry] id in registry.project(named: id) },
            runners: { project in
                switch project.runner ?? "local" {
                case "container": return try await engine.runner().forProject(project)
                case let name: return try Self.runner(named: name, cacheRoot: cacheRoot)
                }
            },
            settings: .init(
                lanes: options.lanes, maxBuilds: options.maxBuilds, perProjectLimit: options.perProjectLimit,
                worker: WorkerSettings(scriptTimeLimit: options.scriptTimeLimit, buildTimeout: options.buildTimeout,
                                       scriptMemoryLimit: options.scriptMemoryLimit,
                                       workRoot: dataDirectory.appendingPathComponent("builds", isDirectory: true),
                                       threadNiceness: 10),
                repositories: dataDirectory.appendingPathComponent("repositories", isDirectory: true),
                startRetryDelays: options.startRetryDelays, fetchTimeLimit: options.fetchTimeLimit),
            limits: { [registry] in registry.concurrencyLimits },
            logger: logger, observer: metrics.schedulerObserver.reporting(to: storeOutage))
    }

    /// TLS 1.2 or later with the files' chain and key, read now so that a bad file stops the
    /// start with a reason (NIOSSL's errors name the file, never its contents).
    static func tlsConfiguration(_ files: TLSFiles) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
            guard !chain.isEmpty else { throw GatewaySetupError("no certificate in \(files.certificateChain)") }
            let key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            throw GatewaySetupError("cannot serve HTTPS with \(files.certificateChain) and \(files.privateKey): \(error)")
        }
    }

    static func runner(named name: String, cacheRoot: URL) throws -> any JobRunner {
        switch name {
        case "local": return LocalRunner(cacheRoot: cacheRoot)
        case "simulate": return SimulateRunner()
        default: throw GatewaySetupError("the \(name) runner is not available in this version")
        }
    }

    /// Serves until SIGTERM/SIGINT (or cancellation). `onListening` gets the bound address.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        try await recoverInterruptedBuilds()
        warnAboutProjects()

        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestLog(logger: logger, metrics: metrics))
        let queueLimit = QueueLimit(limit: options.maxQueuedBuilds, logger: logger) { [store] in try await store.pendingCount() }
        await queueLimit.count() // a restart finds the queue it left
        WebhookRoutes(registry: registry, store: store, accepted: { [scheduler] in scheduler.wake(for: $0, at: $1) },
                      joined: { [metrics] in metrics.webhookJoined(as: $0) },
                      maxBodySize: options.maxBodySize, rateLimiter: WebhookRateLimiter(logger: logger),
                      queueLimit: queueLimit, storeOutage: storeOutage).add(to: router)
        let access = APIAccess(token: options.apiToken)
        let api = router.group("v1").add(middleware: access)
        let shutdown = ShutdownSignal()
        ReadAPI(registry: registry, store: store, storeOutage: storeOutage, stopping: { shutdown.isSet }).add(to: router, api: api)
        BuildControl(registry: registry, store: store, scheduler: scheduler).add(to: api)
        router.group("metrics").add(middleware: access).get { [metrics, scheduler, store] _, _ in
            let pending = try? await store.pendingCount()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition(
                                liveBuilds: scheduler.liveBuilds, pendingBuilds: pending))))
        }
        let openFileLimit = ConnectionLimit.raiseOpenFileLimit()
        let maxConnections = options.maxConnections ?? ConnectionLimit.defaultMaxConnections(openFileLimit: openFileLimit)
        if maxConnections > openFileLimit / 2 {
            // Legal, but a flood of connections can then take every file the gateway needs.
            logger.warning("at most \(maxConnections) connections at once with an open-file limit of \(openFileLimit): a flood of connections can take the files the store, project reloads and jobs need, and stop the gateway; raise the open-file limit (ulimit -n) or lower --max-connections to half of it")
        } else {
            logger.info("at most \(maxConnections) connections at once (open-file limit \(openFileLimit))")
        }
        var http1Configuration = HTTP1Channel.Configuration(idleTimeout: TimeAmount(options.idleTimeout))
        http1Configuration.additionalChannelHandlers = connectionGuards()
        let http1: HTTPServerBuilder = .http1(configuration: http1Configuration)
        let application = Application(
            router: router,
            server: try tlsConfiguration.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "brigantine",
                                 availableConnectionsDelegate: .maximum(maxConnections, logger: logger)),
            onServerRunning: { [host = options.host] channel in onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)

        // `kill -HUP` (systemd's ExecReload): the projects are read again now. By default the
        // signal would end the gateway at once, its builds left running. Trapped before the
        // server listens, so no SIGHUP finds the default still in place.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [scheduler] in await scheduler.run() }
            group.addTask { [registry] in await registry.watch() }
            group.addTask { [registry, logger] in
                for await _ in hangups {
                    logger.notice("SIGHUP: reading the projects again")
                    registry.reloadIfChanged(force: true)
                }
            }
            if let interval = store.recoveryInterval {
                // A shared store: builds of another gateway that died are found while this one serves.
                group.addTask { [self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        do {
                            try await recoverInterruptedBuilds()
                        } catch {
                            if Task.isCancelled { break } // the gateway is stopping
                            logger.error("could not look for interrupted builds: \(error)")
                        }
                    }
                }
            }
            if let keep = options.keepEndedBuilds {
                // At start, then every `pruneInterval`; a failure is only tried again then.
                group.addTask { [self] in
                    while !Task.isCancelled {
                        await deleteOldBuilds(olderThan: keep)
                        try? await Task.sleep(for: options.pruneInterval)
                    }
                }
            }
            // The server returns after a graceful shutdown (SIGTERM/SIGINT); then the rest stops.
            // The signal is told first (services stop in reverse order), so the requests that
            // would go on (a followed log, a wait) end before the server waits for them.
            try await ServiceGroup(configuration: .init(
                services: [application, shutdown], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
            group.cancelAll()
        }
    }

    /// What each connection gets to keep slow or greedy clients from holding the gateway:
    /// a maker of fresh handlers, one set per connection.
    private func connectionGuards() -> @Sendable () -> [any RemovableChannelHandler] {
        let (options, logger, metrics) = (options, logger, metrics)
        let perClient = options.maxConnectionsPerClient.map(ClientConnectionCounts.init)
        return {
            let limit: [any RemovableChannelHandler] = perClient.map {
                [ClientConnectionLimit(counts: $0, logger: logger) { metrics.connectionClosed("client_limit") }]
            } ?? []
            return limit + [
                RequestDeadline(limit: options.requestTimeout, logger: logger) { metrics.connectionClosed("request_timeout") },
                SendDeadline(limit: options.sendTimeout, logger: logger) { metrics.connectionClosed("send_timeout") },
            ]
        }
    }

    /// Fails (or queues again, for projects that ask) builds whose gateway stopped while they ran.
    private func recoverInterruptedBuilds() async throws {
        let recovered = try await store.recoverInterrupted(
            reason: "the gateway stopped while this build was running") { [registry] id in
            registry.project(named: id)?.rerunInterrupted ?? false
        }
        if recovered > 0 {
            logger.warning("found \(recovered) build(s) left running by a gateway that stopped; see their status")
            scheduler.wake(for: nil)
        }
    }

    private func deleteOldBuilds(olderThan keep: Duration) async {
        let cutoff = Date().addingTimeInterval(-Double(keep.components.seconds))
        do {
            let deleted = try await store.deleteEndedBuilds(createdBefore: cutoff)
            metrics.buildsDeleted(deleted)
            if deleted > 0 { logger.notice("deleted \(deleted) ended build(s) that came before \(cutoff) (--keep-days)") }
        } catch {
            if !Task.isCancelled { logger.error("could not delete old builds: \(error)") }
        }
    }

    private func warnAboutProjects() {
        for project in registry.projects {
            if project.insecure {
                logger.warning("project \(project.name) is insecure: its webhooks are accepted without a secret, as in Brigade")
            } else if project.gateways.contains(.containerRegistry), project.webhookSecret?.isEmpty ?? true {
                logger.warning("project \(project.name) has no webhookSecret: its registry webhooks will be refused")
            }
        }
        let sharingTheGatewaysUser = registry.projects.filter { ($0.runner ?? "local") == "local" }.map(\.name).sorted()
        if sharingTheGatewaysUser.count > 1 {
            logger.warning("projects \(sharingTheGatewaysUser.joined(separator: ", ")) run their jobs with the local runner, as this gateway's user: the jobs of each can read the others' project files and secrets, and the gateway's store; `runner: container` keeps them apart")
        }
        if options.apiToken == nil, !Self.isLoopback(options.host) {
            logger.warning("the API under /v1 has no token (--api-token-file): anyone who can reach \(options.host):\(options.port) can read builds and their logs")
        }
        if !BuildWorker.timeLimitCoversContinuations {
            logger.warning("this JavaScriptCore lacks the functions that put promise continuations under --script-time-limit: a script looping through them alone would hold its lane")
        }
        logger.info("serving \(registry.projects.count) project(s) from \(registry.directory)")
    }
}

/// Set once the gateway begins to stop (SIGTERM, SIGINT). A request that follows a build
/// ends then: the server waits for its requests before the builds are stopped, so one
/// following a build of an hour would hold the shutdown for that hour.
final class ShutdownSignal: Service, Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func run() async throws {
        try? await gracefulShutdown()
        flag.store(true, ordering: .relaxed)
    }
}

extension GatewayServer {
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The container engine, connected on first use (and again after a failure).
actor EngineConnection {
    private let socket: String?
    private var connected: ContainerRunner?

    init(socket: String?) {
        self.socket = socket
    }

    func runner() async throws -> ContainerRunner {
        if let connected { return connected }
        let runner = try await ContainerRunner.connect(socket: socket)
        connected = runner
        return runner
    }
}

struct GatewaySetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
