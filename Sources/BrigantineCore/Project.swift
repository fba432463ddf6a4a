import Foundation
import Yams

/// A Brigantine project: what Brigade kept in a project Secret, declared in a YAML file.
///
/// Field names follow Brigade's where one exists (`name`, `repo.cloneURL`, `defaultScript`,
/// `defaultConfig`, `secrets`, `genericGatewaySecret`, `allowPrivilegedJobs`, `allowHostMounts`,
/// `kubernetes`). Unknown keys are errors, so that a typo such as `secret:` is not silently
/// a project without secrets.
public struct Project: Sendable, Equatable {
    public enum Gateway: String, Sendable, Codable, CaseIterable {
        case containerRegistry = "container-registry"
        case generic
    }

    public struct Repository: Sendable, Equatable, Codable {
        public var cloneURL: String?
        public var initGitSubmodules: Bool?

        public init(cloneURL: String? = nil, initGitSubmodules: Bool? = nil) {
            self.cloneURL = cloneURL
            self.initGitSubmodules = initGitSubmodules
        }
    }

    /// Brigade's `project.kubernetes` block; scripts read it, nothing here acts on it.
    public struct Kubernetes: Sendable, Equatable, Codable {
        public var namespace: String?
        public var buildStorageSize: String?
        public var vcsSidecar: String?
        public var cacheStorageClass: String?
        public var buildStorageClass: String?

        public init() {}
    }

    /// How many webhooks a gateway turns into builds of this project in a period
    /// (`rateLimit: {builds: 30, per: minute, burst: 10}`): a token bucket holding `burst`
    /// builds, refilled at `builds` per `per`. The webhooks over it get 429, not a build.
    public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
        public enum Period: String, Sendable, CaseIterable {
            case second, minute, hour

            public var seconds: Double {
                switch self {
                case .second: 1
                case .minute: 60
                case .hour: 3600
                }
            }
        }

        public var builds: Int
        public var per: Period
        /// Builds that may come at once after a quiet spell; `builds` unless set.
        public var burst: Int

        public init(builds: Int, per: Period, burst: Int? = nil) {
            self.builds = builds
            self.per = per
            self.burst = burst ?? builds
        }

        /// Builds the bucket gains per second.
        public var refillPerSecond: Double { Double(builds) / per.seconds }

        /// `30 builds a minute (bursts of 10)`, for messages.
        public var description: String {
            "\(builds) build\(builds == 1 ? "" : "s") \(per == .hour ? "an" : "a") \(per.rawValue)"
                + (burst == builds ? "" : " (bursts of \(burst))")
        }
    }

    /// What the container runner pulls a private image with (`registries:` in the file).
    public struct RegistryCredential: Sendable, Equatable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var name: String
    public var repo: Repository?
    /// Inline fallback script (Brigade's `defaultScript`).
    public var defaultScript: String?
    /// Fallback script read from a file; absolute once loaded.
    public var defaultScriptFile: String?
    /// Inline brigade.json (Brigade's `defaultConfig`).
    public var defaultConfig: String?
    public var secrets: [String: String]
    public var genericGatewaySecret: String?
    public var webhookSecret: String?
    /// Accept webhooks without a secret, as Brigade did.
    public var insecure: Bool
    public var gateways: [Gateway]
    /// Job runner for this project's builds (`local`, `simulate`, …); nil: the host's default.
    public var runner: String?
    public var allowPrivilegedJobs: Bool
    public var allowHostMounts: Bool
    /// Let `env` values of the form `{secretKeyRef: {key}}` read project secrets.
    public var allowSecretKeyRef: Bool
    public var kubernetes: Kubernetes
    /// Longest a build may take, in seconds (nil: the host's default).
    public var buildTimeout: Double?
    /// Longest one entry into the script may run without yielding, in seconds.
    public var scriptTimeLimit: Double?
    /// Run a build again when the gateway stopped while it ran (instead of failing it).
    public var rerunInterrupted: Bool
    /// Give job containers the engine's network (off: they run with none).
    public var allowJobNetwork: Bool
    /// A webhook delivered again (same registry event ID, or Docker Hub's same push) gets the
    /// first delivery's build instead of a new one.
    public var deduplicate: Bool
    /// Builds of this project running at the same time, over every gateway of a shared store
    /// (nil: the gateway's `--per-project`, per gateway); 1 runs them one after another, in
    /// the order they came.
    public var maxConcurrentBuilds: Int?
    /// Webhooks turned into builds per period, by each gateway (nil: no limit).
    public var rateLimit: RateLimit?
    /// Seconds a build of a registry webhook waits before it may start, during which later
    /// webhooks for the same image repository (and action) join it instead of making builds
    /// of their own: a push of several tags runs one build, with the last webhook's event
    /// (nil: every webhook is a build of its own, as in Brigade).
    public var coalesceWindow: Double?
    /// Registry host (`myacr.azurecr.io`, `ghcr.io`, `docker.io`) → the credential the
    /// container runner pulls that registry's images with.
    public var registries: [String: RegistryCredential]
    /// The directory of the project file: relative paths and `require` resolve from here.
    public var directory: String
    /// The files besides the project file that its values were read from at loading
    /// (`fromFile` secrets, `defaultConfigFile`), absolute: a change to one is a change to
    /// the project. (`defaultScriptFile` is not among them: it is read for each build.)
    public var filesRead: [String]

    public var id: String { ProjectID.of(name) }

    public init(name: String, directory: String) {
        self.name = name
        self.directory = directory
        secrets = [:]
        insecure = false
        gateways = []
        allowPrivilegedJobs = false
        allowHostMounts = false
        allowSecretKeyRef = false
        kubernetes = Kubernetes()
        rerunInterrupted = false
        allowJobNetwork = false
        deduplicate = false
        registries = [:]
        filesRead = []
    }

    /// A project for `brig run` without a project file: no secrets, nothing allowed.
    public static func local(name: String = "local", directory: String) -> Project {
        Project(name: name, directory: directory)
    }
}

/// A project file that cannot be used, with the reason.
public struct ProjectFileError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let reason: String
    /// Files it names (secrets, script, config), as `Project.filesRead` has them: one of them
    /// appearing or changing (the missing secret file put in place) may make it load.
    public var filesNamed: [String] = []
    public var description: String { "\(file): \(reason)" }

    public init(file: String, reason: String, filesNamed: [String] = []) {
        self.file = file
        self.reason = reason
        self.filesNamed = filesNamed
    }
}

extension Project {
    /// The keys of a project file; anything else in one is an error.
    enum FileKey: String, CodingKey, CaseIterable {
        case name, repo, defaultScript, defaultScriptFile, defaultConfig, defaultConfigFile, secrets
        case genericGatewaySecret, webhookSecret, insecure, gateways, runner
        case allowPrivilegedJobs, allowHostMounts, allowSecretKeyRef, kubernetes, buildTimeout, scriptTimeLimit
        case rerunInterrupted, allowJobNetwork, deduplicate, maxConcurrentBuilds, rateLimit, registries
        case coalesceWindow
    }

    static let knownKeys = Set(FileKey.allCases.map(\.rawValue))

    /// A secret as a project file gives it: the value itself, or where to read it, so that
    /// the file can be kept (in git, say) without its secrets.
    enum WrittenSecret: Decodable, Equatable {
        case value(String)
        /// `{fromEnv: NAME}`: the gateway's (or `brig`'s) environment variable.
        case environment(String)
        /// `{fromFile: PATH}`: a file's contents, without a final newline; relative to the project file.
        case file(String)

        private enum Source: String, CodingKey, CaseIterable { case fromEnv, fromFile }

        init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                self = .value(text)
                return
            }
            let message = "a secret is a text, {fromEnv: NAME} or {fromFile: PATH}"
            guard let source = try? decoder.container(keyedBy: Source.self), source.allKeys.count == 1,
                  let key = source.allKeys.first, let from = try? source.decode(String.self, forKey: key), !from.isEmpty else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
            }
            self = key == .fromEnv ? .environment(from) : .file(from)
        }

        /// The file it is read from, if it is, as written (see `Project.watchable`).
        func file(in directory: String) -> String? {
            if case .file(let path) = self { return Project.watchable(path, in: directory) }
            return nil
        }

        /// The value; `what` names the secret in errors (which never hold a value).
        func resolve(_ what: String, in directory: String) throws(SecretSourceError) -> String {
            switch self {
            case .value(let text):
                return text
            case .environment(let name):
                guard let value = ProcessInfo.processInfo.environment[name] else {
                    throw SecretSourceError("\(what): the environment variable \(name) is not set")
                }
                return value
            case .file(let path):
                let file = Project.absolute(path, in: directory)
                let data: Data
                do { data = try readRegularFile(file, atMost: Project.projectFileSizeLimit).data } catch {
                    throw SecretSourceError("\(what): \(file) cannot be read: \(error.reason)")
                }
                var text = String(decoding: data, as: UTF8.self)
                if text.hasSuffix("\n") { text.removeLast() } // "\r\n" is one Character
                return text
            }
        }
    }

    /// `rateLimit:` as written: `builds` and `per`, and `burst` if wanted; nothing else.
    struct WrittenRateLimit: Decodable {
        var limit: RateLimit

        private enum Key: String, CodingKey, CaseIterable { case builds, per, burst }

        init(from decoder: any Decoder) throws {
            let message = "a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N"
            func corrupted(_ detail: String) -> DecodingError {
                .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(message); \(detail)"))
            }
            guard let written = try? decoder.container(keyedBy: AnyKey.self) else { throw corrupted("this is not a mapping") }
            let unknown = Set(written.allKeys.map(\.stringValue)).subtracting(Key.allCases.map(\.rawValue))
            if !unknown.isEmpty { throw corrupted("unknown \(unknown.sorted().map { "'\($0)'" }.joined(separator: ", "))") }
            let fields = try decoder.container(keyedBy: Key.self)
            guard let builds = try? fields.decode(Int.self, forKey: .builds) else { throw corrupted("'builds' is a whole number") }
            guard let per = (try? fields.decode(String.self, forKey: .per)).flatMap(RateLimit.Period.init(rawValue:)) else {
                throw corrupted("'per' is second, minute or hour")
            }
            let burst: Int?
            do { burst = try fields.decodeIfPresent(Int.self, forKey: .burst) } catch { throw corrupted("'burst' is a whole number") }
            guard builds >= 1 else { throw corrupted("'builds' must be at least 1, not \(builds)") }
            if let burst, burst < 1 { throw corrupted("'burst' must be at least 1, not \(burst)") }
            limit = RateLimit(builds: builds, per: per, burst: burst)
        }
    }

    /// Whatever keys a mapping has, to compare them with the ones it may have.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A `registries:` entry as written: the password is a secret like any other.
    struct WrittenCredential: Decodable, Equatable {
        var username: String
        var password: WrittenSecret

        private enum Key: String, CodingKey { case username, password }

        /// Exactly its two keys: a third is a typo (`pasword:`), and would leave no password.
        init(from decoder: any Decoder) throws {
            let message = "a registry credential is {username: NAME, password: SECRET}"
            guard let written = try? decoder.container(keyedBy: AnyKey.self),
                  Set(written.allKeys.map(\.stringValue)) == ["username", "password"],
                  let fields = try? decoder.container(keyedBy: Key.self),
                  let username = try? fields.decode(String.self, forKey: .username), !username.isEmpty
            else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
            }
            self.username = username
            password = try fields.decode(WrittenSecret.self, forKey: .password)
        }
    }

    struct SecretSourceError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// A project file as written, before paths are resolved and files read.
    private struct Written: Decodable {
        var project: Project
        var defaultConfigFile: String?
        var secrets: [String: WrittenSecret]
        var webhookSecret: WrittenSecret?
        var genericGatewaySecret: WrittenSecret?
        var registries: [String: WrittenCredential]

        init(from decoder: any Decoder) throws {
            let file = try decoder.container(keyedBy: FileKey.self)
            let name = try file.decodeIfPresent(String.self, forKey: .name)?.trimmingCharacters(in: .whitespaces) ?? ""
            var project = Project(name: name, directory: "")
            project.repo = try file.decodeIfPresent(Repository.self, forKey: .repo)
            project.defaultScript = try file.decodeIfPresent(String.self, forKey: .defaultScript)
            project.defaultScriptFile = try file.decodeIfPresent(String.self, forKey: .defaultScriptFile)
            project.defaultConfig = try file.decodeIfPresent(String.self, forKey: .defaultConfig)
            secrets = try file.decodeIfPresent([String: WrittenSecret].self, forKey: .secrets) ?? [:]
            genericGatewaySecret = try file.decodeIfPresent(WrittenSecret.self, forKey: .genericGatewaySecret)
            webhookSecret = try file.decodeIfPresent(WrittenSecret.self, forKey: .webhookSecret)
            registries = try file.decodeIfPresent([String: WrittenCredential].self, forKey: .registries) ?? [:]
            project.insecure = try file.decodeIfPresent(Bool.self, forKey: .insecure) ?? false
            project.gateways = try file.decodeIfPresent([Gateway].self, forKey: .gateways) ?? []
            project.runner = try file.decodeIfPresent(String.self, forKey: .runner)
            project.allowPrivilegedJobs = try file.decodeIfPresent(Bool.self, forKey: .allowPrivilegedJobs) ?? false
            project.allowHostMounts = try file.decodeIfPresent(Bool.self, forKey: .allowHostMounts) ?? false
            project.allowSecretKeyRef = try file.decodeIfPresent(Bool.self, forKey: .allowSecretKeyRef) ?? false
            project.kubernetes = try file.decodeIfPresent(Kubernetes.self, forKey: .kubernetes) ?? Kubernetes()
            project.buildTimeout = try file.decodeIfPresent(Double.self, forKey: .buildTimeout)
            project.scriptTimeLimit = try file.decodeIfPresent(Double.self, forKey: .scriptTimeLimit)
            project.rerunInterrupted = try file.decodeIfPresent(Bool.self, forKey: .rerunInterrupted) ?? false
            project.allowJobNetwork = try file.decodeIfPresent(Bool.self, forKey: .allowJobNetwork) ?? false
            project.deduplicate = try file.decodeIfPresent(Bool.self, forKey: .deduplicate) ?? false
            project.maxConcurrentBuilds = try file.decodeIfPresent(Int.self, forKey: .maxConcurrentBuilds)
            project.rateLimit = try file.decodeIfPresent(WrittenRateLimit.self, forKey: .rateLimit)?.limit
            project.coalesceWindow = try file.decodeIfPresent(Double.self, forKey: .coalesceWindow)
            self.project = project
            defaultConfigFile = try file.decodeIfPresent(String.self, forKey: .defaultConfigFile)
        }
    }

    public static let knownRunners: Set<String> = ["local", "simulate", "container"]
    /// At most an hour: a longer window would hold a build back longer than anyone waits for one.
    public static let coalesceWindows = NumberBounds("seconds", above: 0, atMost: 3600)
    /// `buildTimeout` and `scriptTimeLimit` (and the flags they override): at most a year.
    /// A number past that (`.inf`, `1e300`) is a mistake, and no clock takes it.
    public static let timeLimits = NumberBounds("seconds", above: 0, atMost: 365 * 86_400, meaning: "a year")

    /// The most read from a project file, a secret's file or a `defaultConfigFile`: each is
    /// a few kilobytes, and a FIFO or device in their place must not hang the reader.
    public static let projectFileSizeLimit = 1 << 20

    /// Reads a project file; relative paths in it are taken from the file's directory.
    public static func load(file path: String) throws -> Project {
        let data: Data
        do { data = try readRegularFile(path, atMost: projectFileSizeLimit).data } catch {
            throw ProjectFileError(file: path, reason: "cannot be read: \(error.reason)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        return try parse(String(decoding: data, as: UTF8.self), file: path, directory: directory)
    }

    /// Why a file is not YAML, by line and column, without the line Yams quotes with its
    /// problem: that line may be a secret's (`webhookSecret: s3cr3t: more`).
    static func yamlProblem(_ error: any Error) -> String {
        guard let error = error as? YamlError else { return "\(error)" }
        func at(_ mark: Mark) -> String { "line \(mark.line), column \(mark.column)" }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return "\(problem) at \(at(mark))" + (context.map { " (\($0.text) at \(at($0.mark)))" } ?? "")
        case .reader(let problem, let offset, _, _):
            return problem + (offset.map { " at byte \($0)" } ?? "")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return "key\(duplicates.count > 1 ? "s" : "") \(keys) more than once in the mapping at \(at(context.mark))"
        default:
            return "\(error)"
        }
    }

    /// Parses project YAML.
    public static func parse(_ yaml: String, file: String, directory: String) throws -> Project {
        var filesNamed: [String] = []
        func fail(_ reason: String) -> ProjectFileError { ProjectFileError(file: file, reason: reason, filesNamed: filesNamed) }
        let top: Any?
        do {
            // Aliases repeat what they name without copying it, until the YAML is turned
            // into values: nine of nine of nine… (a "billion laughs" file) would take the
            // gateway's memory and its project watcher for good. So they are counted first.
            if let node = try Yams.compose(yaml: yaml), valueCount(node, upTo: maxValues) > maxValues {
                throw fail("has more than \(maxValues) values, counting each use of an alias")
            }
            top = try Yams.load(yaml: yaml)
        } catch let error as ProjectFileError {
            throw error
        } catch {
            throw fail("is not valid YAML: \(yamlProblem(error))")
        }
        guard let mapping = top as? [String: Any] else { throw fail("must be a YAML mapping of project settings") }
        let unknown = Set(mapping.keys).subtracting(knownKeys).sorted()
        if !unknown.isEmpty {
            throw fail("unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", "))"
                + "; known keys are \(knownKeys.sorted().joined(separator: ", "))")
        }
        let written: Written
        do {
            written = try YAMLDecoder().decode(Written.self, from: yaml)
        } catch let DecodingError.typeMismatch(type, context) {
            // The value itself is never quoted: it may be a secret.
            throw fail("'\(keyPath(context.codingPath))' must be \(kind(of: type))")
        } catch let DecodingError.valueNotFound(_, context), let DecodingError.dataCorrupted(context) {
            throw fail("'\(keyPath(context.codingPath))': \(context.debugDescription)")
        } catch {
            throw fail("\(error)")
        }
        var project = written.project
        project.directory = directory
        let secretFiles = (Array(written.secrets.values) + [written.webhookSecret, written.genericGatewaySecret].compactMap { $0 }
            + written.registries.values.map(\.password)).compactMap { $0.file(in: directory) }
        filesNamed = (secretFiles
            + [project.defaultScriptFile, written.defaultConfigFile].compactMap { $0.map { watchable($0, in: directory) } }).sorted()
        guard !project.name.isEmpty else { throw fail("'name' is required") }
        do {
            for (name, secret) in written.secrets {
                project.secrets[name] = try secret.resolve("secret '\(name)'", in: directory)
            }
            project.webhookSecret = try written.webhookSecret?.resolve("'webhookSecret'", in: directory)
            project.genericGatewaySecret = try written.genericGatewaySecret?.resolve("'genericGatewaySecret'", in: directory)
            for (host, credential) in written.registries {
                project.registries[RegistryHost.normalized(host)] = RegistryCredential(
                    username: credential.username,
                    password: try credential.password.resolve("the password for registry \(host)", in: directory))
            }
        } catch {
            throw fail(error.message)
        }
        project.filesRead = secretFiles
        if project.defaultScript != nil, project.defaultScriptFile != nil {
            throw fail("set 'defaultScript' or 'defaultScriptFile', not both")
        }
        project.defaultScriptFile = project.defaultScriptFile.map { absolute($0, in: directory) }
        if let scriptFile = project.defaultScriptFile {
            guard FileManager.default.fileExists(atPath: scriptFile) else {
                throw fail("'defaultScriptFile' \(scriptFile) does not exist")
            }
            // The operator's own file, wherever a link to it leads: it runs from where it
            // really is, so its modules resolve from there (as Node's do).
            project.defaultScriptFile = realPath(scriptFile) ?? scriptFile
        }
        if project.defaultConfig != nil, written.defaultConfigFile != nil {
            throw fail("set 'defaultConfig' or 'defaultConfigFile', not both")
        }
        if let configFile = written.defaultConfigFile.map({ absolute($0, in: directory) }) {
            let data: Data
            do { data = try readRegularFile(configFile, atMost: projectFileSizeLimit).data } catch {
                throw fail("'defaultConfigFile' \(configFile) cannot be read: \(error.reason)")
            }
            project.defaultConfig = String(decoding: data, as: UTF8.self)
            project.filesRead.append(watchable(written.defaultConfigFile!, in: directory))
        }
        project.filesRead = Array(Set(project.filesRead)).sorted()
        if let runner = project.runner, !knownRunners.contains(runner) {
            throw fail("'runner' must be one of \(knownRunners.sorted().joined(separator: ", ")), not '\(runner)'")
        }
        for (key, value, bounds) in [("buildTimeout", project.buildTimeout, timeLimits),
                                     ("scriptTimeLimit", project.scriptTimeLimit, timeLimits),
                                     ("coalesceWindow", project.coalesceWindow, coalesceWindows)] {
            if let value, !bounds.contains(value) {
                throw fail("'\(key)' must be \(bounds), not \(NumberBounds.format(value))")
            }
        }
        if let limit = project.maxConcurrentBuilds, limit < 1 {
            throw fail("'maxConcurrentBuilds' must be at least 1, not \(limit)")
        }
        return project
    }

    /// What a setting of this type is, in the words of a YAML file (Yams names its node
    /// kinds where a list or a mapping was wanted).
    private static func kind(of type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Int.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "text"
        default:
            let name = String(describing: type)
            if name.hasSuffix("Sequence") { return "a list" }
            if name.hasSuffix("Mapping") { return "a mapping" }
            if name.hasSuffix("Scalar") { return "a single value, not a list or a mapping" }
            return "a \(name)"
        }
    }

    /// `gateways[0]`, `repo.cloneURL`: where in the file a value is.
    private static func keyPath(_ path: [any CodingKey]) -> String {
        path.reduce("") { text, key in
            if let index = key.intValue { return "\(text)[\(index)]" }
            return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
        }
    }

    /// `path` from `directory` with its symlinks left as they are (`absolute` resolves them):
    /// the path to watch is the one a rotation swaps to a new file.
    /// Far more than any project file holds (a few dozen values), far less than hurts.
    static let maxValues = 10_000

    /// The values (scalars, mappings, sequences) in `node`, each alias counted as often as
    /// it is used; counting stops past `limit`.
    static func valueCount(_ node: Node, upTo limit: Int) -> Int {
        var count = 0
        var unvisited = [node]
        while let next = unvisited.popLast(), count <= limit {
            count += 1
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping { unvisited += [key, value] }
            case .sequence(let sequence):
                unvisited += Array(sequence)
            case .scalar, .alias:
                break
            }
        }
        return count
    }

    static func watchable(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }

    static func absolute(_ path: String, in directory: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: directory).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }

    /// Names of secrets whose values are too short to be masked in logs.
    public var unmaskableSecretNames: [String] {
        secrets.filter { !$0.value.isEmpty && $0.value.count < SecretRedactor.minimumLength }.keys.sorted()
    }

    /// Masks this project's secret values (and gateway secrets, registry passwords and the
    /// clone URL's credentials) in log text.
    public var redactor: SecretRedactor {
        SecretRedactor(secrets: Array(secrets.values) + [genericGatewaySecret, webhookSecret].compactMap { $0 }
            + registries.values.map(\.password) + URLCredentials.secrets(in: repo?.cloneURL ?? ""))
    }
}

/// The registry an image reference names, as the engine reads it: the first path part when
/// it looks like a host (a dot, a port, or `localhost`), else Docker Hub.
public enum RegistryHost {
    public static let dockerHub = "docker.io"

    public static func of(image: String) -> String {
        let parts = image.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" else {
            return dockerHub
        }
        return normalized(String(parts[0]))
    }

    /// Docker Hub's other names are Docker Hub; hosts are case-insensitive; a URL (as in a
    /// Docker config.json, `https://index.docker.io/v1/`) stands for its host.
    public static func normalized(_ host: String) -> String {
        var lower = host.lowercased()
        if let scheme = lower.range(of: "://") { lower = String(lower[scheme.upperBound...]) }
        if let slash = lower.firstIndex(of: "/") { lower = String(lower[..<slash]) }
        return ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(lower) ? dockerHub : lower
    }
}

/// The projects declared in a directory of YAML files, found by name or by Brigade ID.
public struct ProjectDirectory: Sendable {
    public let path: String
    public let projects: [Project]
    /// The files that are not served as they are, each with why: one that does not load
    /// (it keeps its previous version, if `previous` had one) or that declares a name
    /// another file has. One bad file never takes the others down with it.
    public let problems: [Problem]
    /// File path → the project served from it, for the next load's `previous`.
    public let byFile: [String: Project]

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let error: ProjectFileError
        /// True when the file's previous version is served instead.
        public let keptPrevious: Bool
        public var description: String {
            "\(error) (\(keptPrevious ? "its previous version is kept" : "the file is skipped"))"
        }
    }

    /// Loads every `*.yaml`/`*.yml` file of `path`; only a directory that cannot be read is
    /// an error. `previous` (the last load's `byFile`) stands in for files that no longer
    /// load, and settles a name declared twice in favour of the file that already had it
    /// (else the first file in name order has it).
    public init(path: String, previous: [String: Project] = [:]) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ProjectFileError(file: path, reason: "is not a directory of project files")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
            .map { (path as NSString).appendingPathComponent($0) }
        var problems: [Problem] = []
        var candidates: [(file: String, project: Project)] = []
        for file in files {
            do {
                candidates.append((file, try Project.load(file: file)))
            } catch {
                let failure = error as? ProjectFileError ?? ProjectFileError(file: file, reason: "\(error)")
                problems.append(Problem(error: failure, keptPrevious: previous[file] != nil))
                if let kept = previous[file] { candidates.append((file, kept)) }
            }
        }
        // A name declared twice goes to the file that had it before, else to the first.
        var owner: [String: String] = [:]
        for (file, project) in candidates {
            guard let current = owner[project.name] else {
                owner[project.name] = file
                continue
            }
            let hadIt = { (file: String) in previous[file]?.name == project.name }
            if hadIt(file), !hadIt(current) { owner[project.name] = file }
        }
        var byFile: [String: Project] = [:]
        for (file, project) in candidates {
            guard owner[project.name] == file else {
                problems.append(Problem(error: ProjectFileError(
                    file: file, reason: "declares project '\(project.name)', which \(owner[project.name]!) declares"), keptPrevious: false))
                continue
            }
            byFile[file] = project
        }
        self.projects = candidates.filter { owner[$0.project.name] == $0.file }.map(\.project)
        self.problems = problems.sorted { $0.error.file < $1.error.file }
        self.byFile = byFile
    }

    /// The project with this name or Brigade ID.
    public func project(named nameOrID: String) -> Project? {
        let id = ProjectID.of(nameOrID)
        return projects.first { $0.name == nameOrID || $0.id == id }
    }
}
