import BrigantineCore
import Crypto
import Foundation
import Synchronization

/// The gateway's projects: the YAML files of a directory, read again when they change, or
/// when a file they read a secret or their config from does (a rotated secret takes effect
/// without a restart).
///
/// Secrets are kept only as SHA-256 digests here, and compared in constant time; the
/// webhook URL token of each project (Kargo's scheme) maps back to it.
public final class ProjectRegistry: Sendable {
    struct Entry: Sendable {
        let project: Project
        /// SHA-256 of the webhook secret; nil when the project has none.
        let webhookSecretDigest: [UInt8]?
        let genericSecretDigest: [UInt8]?
        let token: String?
        let tokenDigest: [UInt8]?
    }

    private struct Snapshot: Sendable {
        var byID: [String: Entry] = [:]
        var byToken: [String: Entry] = [:]
        var concurrencyLimits: [String: Int] = [:]
        var fingerprint: [String: FileStamp] = [:]
        /// The project each file gave, for the next reload.
        var byFile: [String: Project] = [:]
    }

    public let directory: String
    private let snapshot = Mutex(Snapshot())
    private let onProblem: @Sendable (String) -> Void
    private let onChange: @Sendable (String) -> Void

    /// Loads `directory`; a directory that cannot be read at all is an error. A file that
    /// does not load is told to `onProblem` and skipped: the other projects are served.
    /// Each reload that changes what is served is told to `onChange`, by project name.
    public init(directory: String, onProblem: @escaping @Sendable (String) -> Void = { _ in },
                onChange: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.directory = directory
        self.onProblem = onProblem
        self.onChange = onChange
        let fingerprint = Self.fingerprint(of: directory)
        let loaded = try ProjectDirectory(path: directory)
        report(loaded.problems)
        snapshot.withLock { $0 = Self.snapshot(of: loaded, fingerprint: Self.fingerprint(fingerprint, readBy: loaded)) }
    }

    /// The problems of a load, one message each; webhooks for a skipped file's project are
    /// refused like those of an unknown one until the file loads.
    private func report(_ problems: [ProjectDirectory.Problem]) {
        for problem in problems {
            // One line each (a YAML error spans several).
            onProblem("project file not served as it is: " + "\(problem)".split(separator: "\n").joined(separator: " "))
        }
    }

    public var projects: [Project] {
        snapshot.withLock { $0.byID.values.map(\.project) }.sorted { $0.name < $1.name }
    }

    /// Project ID → `maxConcurrentBuilds`, for the projects that set it.
    public var concurrencyLimits: [String: Int] {
        snapshot.withLock { $0.concurrencyLimits }
    }

    /// The project with this name or Brigade ID.
    public func project(named nameOrID: String) -> Project? {
        entry(named: nameOrID)?.project
    }

    func entry(named nameOrID: String) -> Entry? {
        let id = ProjectID.of(nameOrID)
        return snapshot.withLock { $0.byID[id] }
    }

    func entry(token: String) -> Entry? {
        snapshot.withLock { $0.byToken[token] }
    }

    /// Reads the directory again if any file in it changed (or, with `force`, anyway). A
    /// file that no longer loads keeps its previous version (a new one that does not load is
    /// skipped), and the other files' changes take effect; a directory that cannot be read
    /// keeps everything.
    @discardableResult
    public func reloadIfChanged(force: Bool = false) -> Bool {
        let (fingerprint, previous) = snapshot.withLock { ($0.fingerprint, $0.byFile) }
        // The directory's entries as they are now, and the files the projects read as they are now.
        var current = Self.fingerprint(of: directory)
        for file in fingerprint.keys where file.hasPrefix("/") { current[file] = FileStamp(path: file) }
        guard force || current != fingerprint else { return false }
        do {
            let loaded = try ProjectDirectory(path: directory, previous: previous)
            report(loaded.problems)
            let served = snapshot.withLock { snapshot in
                defer { snapshot = Self.snapshot(of: loaded, fingerprint: Self.fingerprint(current, readBy: loaded)) }
                return snapshot.byID.mapValues(\.project)
            }
            if let change = Self.change(from: served, to: loaded.projects) { onChange(change) }
            return true
        } catch {
            snapshot.withLock { $0.fingerprint = current }
            onProblem("projects not reloaded, keeping the previous ones: \(error)")
            return false
        }
    }

    /// Re-reads the directory every `interval` until the task is cancelled.
    public func watch(every interval: Duration = .seconds(2)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            reloadIfChanged()
        }
    }

    private static func snapshot(of loaded: ProjectDirectory, fingerprint: [String: FileStamp]) -> Snapshot {
        var snapshot = Snapshot(fingerprint: fingerprint, byFile: loaded.byFile)
        for project in loaded.projects {
            let webhookSecret = project.webhookSecret.flatMap { $0.isEmpty ? nil : $0 }
            let genericSecret = project.genericGatewaySecret.flatMap { $0.isEmpty ? nil : $0 }
            let token = webhookSecret.map { WebhookSecrets.token(project: project.name, secret: $0) }
            let entry = Entry(
                project: project, webhookSecretDigest: webhookSecret.map(WebhookSecrets.digest),
                genericSecretDigest: genericSecret.map(WebhookSecrets.digest),
                token: token, tokenDigest: token.map(WebhookSecrets.digest))
            snapshot.byID[project.id] = entry
            if let token = entry.token { snapshot.byToken[token] = entry }
            if let limit = project.maxConcurrentBuilds { snapshot.concurrencyLimits[project.id] = limit }
        }
        return snapshot
    }

    /// What a reload changed, by project name (values never: they may be secrets); nil if nothing.
    private static func change(from served: [String: Project], to loaded: [Project]) -> String? {
        let now = Dictionary(loaded.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let added = now.filter { served[$0.key] == nil }.values.map(\.name).sorted()
        let removed = served.filter { now[$0.key] == nil }.values.map(\.name).sorted()
        let changed = now.filter { id, project in served[id].map { $0 != project } ?? false }.values.map(\.name).sorted()
        let parts = [("changed", changed), ("added", added), ("removed", removed)]
            .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.joined(separator: ", "))" }
        return parts.isEmpty ? nil : "projects read again: " + parts.joined(separator: "; ")
    }

    /// The directory's entries, by name.
    private static func fingerprint(of directory: String) -> [String: FileStamp] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var fingerprint: [String: FileStamp] = [:]
        for name in names {
            fingerprint[name] = FileStamp(path: (directory as NSString).appendingPathComponent(name))
        }
        return fingerprint
    }

    /// `directory`'s entries as seen before a load, and the files the loaded projects read
    /// (by absolute path), as seen before the load where they were watched already. Taken
    /// before the load, a change made while it ran is seen by the next look. The files that
    /// projects which did not load name are watched too: a missing secret file put in place
    /// is served without touching the project file.
    private static func fingerprint(_ before: [String: FileStamp], readBy loaded: ProjectDirectory) -> [String: FileStamp] {
        var fingerprint = before.filter { !$0.key.hasPrefix("/") }
        for file in Set(loaded.byFile.values.flatMap(\.filesRead) + loaded.problems.flatMap(\.error.filesNamed)) {
            fingerprint[file] = before[file] ?? FileStamp(path: file)
        }
        return fingerprint
    }
}

/// What a look at a file tells of a change: its modification time, size and inode, through
/// any symlink (a secret mounted by Kubernetes is a symlink swapped to a new file). A file
/// that is missing has a stamp too, so that its coming back is a change.
struct FileStamp: Equatable, Sendable {
    let seconds: Int
    let nanoseconds: Int
    let size: Int64
    let inode: UInt64

    init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            (seconds, nanoseconds, size, inode) = (0, 0, -1, 0)
            return
        }
        (seconds, nanoseconds) = (Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec))
        (size, inode) = (Int64(info.st_size), UInt64(info.st_ino))
    }
}

/// How webhook secrets are checked without keeping or leaking them.
public enum WebhookSecrets {
    /// The URL token of a project: SHA-256 over the project's name and its webhook secret
    /// (Kargo's idea). Registries that cannot sign or add headers (Docker Hub) carry it in
    /// the URL; it reveals neither the secret nor, without the secret, the project.
    public static func token(project: String, secret: String) -> String {
        Hex.encode(SHA256.hash(data: Array("brigantine-webhook\n\(project)\n\(secret)".utf8)))
    }

    static func digest(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Whether `presented` is the secret whose digest is `expected`, in time that does not
    /// depend on where they differ (both sides are hashed first, so lengths do not matter).
    static func matches(_ presented: String, digest expected: [UInt8]?) -> Bool {
        let actual = digest(presented)
        let reference = expected ?? digest("\u{0}no secret\u{0}")
        var difference: UInt8 = expected == nil ? 1 : 0
        for (a, b) in zip(actual, reference) { difference |= a ^ b }
        return difference == 0
    }

}
