import ArgumentParser
import BrigantineCore
import Foundation
import Gateway
import Logging
import Store

/// `brig gateway`: serve webhooks and run the builds they create.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve registry and generic webhooks, store each as a build, and run the builds.")

    @OptionGroup var places: Places

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 7744

    @Option(help: "Threads running builds' scripts, each with its own JavaScript VM; each runs many builds.")
    var lanes = 2

    @Option(name: .customLong("max-builds"), help: "Builds running at the same time (most of them waiting for their jobs).")
    var maxBuilds = 100

    @Option(name: .customLong("per-project"), help: "Builds of one project running at the same time, unless its file sets maxConcurrentBuilds.")
    var perProject = 4

    @Option(name: .customLong("max-body"), help: "Largest webhook body accepted, in bytes.")
    var maxBody = 2 << 20

    @Option(name: .customLong("max-queued-builds"),
            help: "Builds waiting to run before webhooks get 503 with Retry-After and nothing is stored (0: no limit).")
    var maxQueuedBuilds = 100_000

    @Option(name: .customLong("max-connections"),
            help: "Connections held open at once; more wait to be accepted (default: half the open-file limit, at most 10000).")
    var maxConnections: Int?

    @Option(name: .customLong("max-connections-per-client"),
            help: "Connections one client address may hold open at once; more are closed as they come (default: no limit, as behind a proxy every client has the proxy's address).")
    var maxConnectionsPerClient: Int?

    @Option(name: .customLong("request-timeout"),
            help: "Seconds a connection has to deliver a whole request once it is ready for one (opened, or its last answer sent); one that trickles slower is closed.")
    var requestTimeout: Double = 10

    @Option(name: .customLong("send-timeout"),
            help: "Seconds a client may take none of an answer (a long log, say) before its connection is closed.")
    var sendTimeout: Double = 30

    @OptionGroup var limits: ScriptLimits

    @Option(name: .customLong("engine-socket"), help: "Container engine socket for `runner: container` projects (default: Docker's, then Podman's).")
    var engineSocket: String?

    @Option(name: .customLong("store-lease"),
            help: "Seconds a build claimed from a shared store stays this gateway's without renewal; if the gateway dies, others take its builds over after this.")
    var storeLease: Double = 30

    @Option(name: .customLong("api-token-file"),
            help: ArgumentHelp("A file holding the token the API under /v1 asks for (Authorization: Bearer …), or set BRIGANTINE_API_TOKEN. Without one, reads are open and cancelling through the API is off.",
                               valueName: "file"))
    var apiTokenFile: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("start-retry-delays"),
            help: ArgumentHelp("Seconds a build that could not start (its repository or the container engine out of reach) waits before each new try, comma-separated; none: it fails at once.",
                               valueName: "seconds,…"))
    var startRetryDelays = "10,60,300"

    @Option(name: .customLong("fetch-time-limit"),
            help: "Seconds one fetch of a project's repository may take; past it the host counts as out of reach (see --start-retry-delays).")
    var fetchTimeLimit: Double = 600

    @Option(name: .customLong("keep-days"),
            help: "Delete ended builds (with their jobs and logs) this many days after they came, checked hourly; without it, builds are kept.")
    var keepDays: Double?

    @Option(name: .customLong("log-level"),
            help: "Least severe lines the gateway logs: trace, debug, info (a line per request), notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("log-format"), help: "text (one line each, for people) or json (one object a line, for log collectors).")
    var logFormat = "text"

    @Flag(name: .customLong("print-urls"),
          help: "Once listening, print each project's webhook URL and a curl command to try it (the URLs carry secrets).")
    var printURLs = false

    func run() async throws {
        guard (0...65535).contains(port), lanes > 0, maxBuilds > 0, perProject > 0, maxBody > 0 else {
            throw CLIError("--port, --lanes, --max-builds, --per-project and --max-body must be positive (port at most 65535)")
        }
        let lease = try Self.storeLeases.checked(storeLease, for: "--store-lease")
        let keepDays = try keepDays.map { try BuildCommand.keptDays.checked($0, for: "--keep-days") }
        let fetchTimeLimit = try Self.fetchTimeLimits.checked(fetchTimeLimit, for: "--fetch-time-limit")
        let requestTimeout = try Self.connectionTimeouts.checked(requestTimeout, for: "--request-timeout")
        let sendTimeout = try Self.connectionTimeouts.checked(sendTimeout, for: "--send-timeout")
        guard (tlsCert == nil) == (tlsKey == nil) else { throw CLIError("--tls-cert and --tls-key go together") }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CLIError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(logLevel)'")
        }
        guard ["text", "json"].contains(logFormat) else { throw CLIError("--log-format must be text or json, not '\(logFormat)'") }
        var logger = Logger(label: "brig.gateway") { [logFormat] label -> any LogHandler in
            logFormat == "json" ? JSONLogHandler(label: label) : TextLogHandler(label: label)
        }
        logger.logLevel = level
        var options = GatewayServer.Options(
            host: host, port: port, maxBodySize: maxBody, lanes: lanes, maxBuilds: maxBuilds, perProjectLimit: perProject,
            scriptTimeLimit: limits.scriptTimeLimit, buildTimeout: limits.buildTimeout, scriptMemoryLimit: limits.scriptMemoryLimitBytes,
            engineSocket: engineSocket, apiToken: try apiToken(),
            keepEndedBuilds: keepDays.map { .seconds($0 * 86_400) })
        options.startRetryDelays = try Self.delays(startRetryDelays)
        options.fetchTimeLimit = .milliseconds(Int((fetchTimeLimit * 1000).rounded()))
        options.requestTimeout = .milliseconds(Int((requestTimeout * 1000).rounded()))
        options.sendTimeout = .milliseconds(Int((sendTimeout * 1000).rounded()))
        guard maxQueuedBuilds >= 0 else { throw CLIError("--max-queued-builds must be 0 (no limit) or more") }
        options.maxQueuedBuilds = maxQueuedBuilds == 0 ? nil : maxQueuedBuilds
        if let maxConnections, maxConnections < 1 { throw CLIError("--max-connections must be positive") }
        options.maxConnections = maxConnections
        if let maxConnectionsPerClient, maxConnectionsPerClient < 1 { throw CLIError("--max-connections-per-client must be positive") }
        options.maxConnectionsPerClient = maxConnectionsPerClient
        if let tlsCert, let tlsKey { options.tls = GatewayServer.TLSFiles(certificateChain: tlsCert, privateKey: tlsKey) }
        let store = try await places.openStore(logger: logger, lease: .milliseconds(Int(lease * 1000)))
        let server: GatewayServer
        do {
            server = try GatewayServer(projectsDirectory: places.projects, dataDirectory: places.dataDirectory,
                                       options: options, logger: logger, store: store)
        } catch {
            throw CLIError("\(error)")
        }
        let scheme = options.tls == nil ? "http" : "https"
        try await server.run { [printURLs, places] host, port in
            let shown = Self.urlHost(host)
            var text = "brig gateway listening on \(scheme)://\(shown):\(port) (projects: \(places.projects), data: \(places.dataDirectory.path))\n"
            if printURLs {
                for project in server.registry.projects {
                    guard let url = WebhookURLs.registryURL(project, base: "\(scheme)://\(shown):\(port)") else { continue }
                    text += "\(project.name): curl -X POST --data-binary @samples/dockerhub/payload.json \(url)\n"
                }
            }
            StandardStreams.writeOutput(text)
        }
    }
}

extension GatewayCommand {
    /// The listening address as a URL names it: a wildcard one as loopback, an IPv6 one in
    /// brackets (`http://::1:7744` is no URL).
    static func urlHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0": return "127.0.0.1"
        case "::": return "[::1]"
        default: return host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        }
    }

    /// A lease longer than a day would leave a dead gateway's builds unclaimed for as long.
    static let storeLeases = NumberBounds("seconds", from: 1, to: 86_400)
    static let fetchTimeLimits = NumberBounds("seconds", above: 0, atMost: 86_400)
    /// For --request-timeout and --send-timeout: webhooks arrive at once, and an hour is
    /// already more than any client needs.
    static let connectionTimeouts = NumberBounds("seconds", above: 0, atMost: 3600)
    static let startRetryDelayBounds = NumberBounds("seconds", from: 0, to: 86_400)

    /// `10,60,300` → those waits; `none` (or nothing) → none.
    static func delays(_ text: String) throws -> [Duration] {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "none" { return [] }
        return try trimmed.split(separator: ",").map { part in
            guard let seconds = Double(part.trimmingCharacters(in: .whitespaces)), startRetryDelayBounds.contains(seconds) else {
                throw CLIError("--start-retry-delays is seconds (0 to 86400) separated by commas, or none; not '\(text)'")
            }
            return .milliseconds(Int((seconds * 1000).rounded()))
        }
    }

    /// The token from --api-token-file (its first line), else BRIGANTINE_API_TOKEN; nil when neither is set.
    func apiToken() throws -> String? {
        guard let apiTokenFile else {
            return ProcessInfo.processInfo.environment["BRIGANTINE_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        }
        let text: String
        do { text = String(decoding: try readRegularFile(apiTokenFile, atMost: 64 << 10).data, as: UTF8.self) } catch {
            throw CLIError("cannot read --api-token-file \(apiTokenFile): \(error.reason)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        // A short token can be guessed over the network; 16 characters is the least we take.
        guard token.count >= 16 else { throw CLIError("the token in \(apiTokenFile) is shorter than 16 characters") }
        return token
    }
}

/// Where projects and data live, shared by the commands that read them.
struct Places: ParsableArguments {
    @Option(help: "Directory of project YAML files.")
    var projects = "projects"

    @Option(help: "Directory for the build store (SQLite), caches and build files.")
    var data: String?

    @Option(help: ArgumentHelp(
        "A shared build store instead of SQLite in --data: postgres://user[:password]@host[:port]/database (or set BRIGANTINE_STORE, which keeps a password out of the process list).",
        valueName: "url"))
    var store: String?

    /// The store named by --store or BRIGANTINE_STORE, else the embedded SQLite store in the data directory.
    func openStore(logger: Logger, lease: Duration = .seconds(30)) async throws -> any BuildStore {
        let url = store ?? ProcessInfo.processInfo.environment["BRIGANTINE_STORE"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            guard let url else { return try SQLiteBuildStore(directory: dataDirectory) }
            // Stable across restarts, so a gateway started again recovers what it left running.
            let instance = "\(ProcessInfo.processInfo.hostName):\(dataDirectory.path)"
            return try await PostgresBuildStore(url: url, instance: instance, leaseDuration: lease, logger: logger)
        } catch {
            throw CLIError("cannot open the build store: \(error)")
        }
    }

    var dataDirectory: URL {
        URL(fileURLWithPath: data ?? Self.defaultData())
    }

    static func defaultData() -> String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSTemporaryDirectory()) as NSString).appendingPathComponent(".local/share")
        return (base as NSString).appendingPathComponent("brigantine")
    }
}
