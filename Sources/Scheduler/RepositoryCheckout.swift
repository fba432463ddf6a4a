import BrigantineCore
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A project's git repository, mirrored once under the data directory and fetched again
/// for each build, so that a build's `brigade.js` and `brigade.json` come from the
/// webhook's commit or ref (Brigade's VCS sidecar did this inside Kubernetes).
///
/// Builds of one project share its mirror; fetches into it are serialised.
final class RepositoryCheckout: Sendable {
    private let mirrors: URL
    /// One fetch into a project's mirror at a time.
    private let locks = AsyncLimiter(limit: 1)
    /// How long one step that reaches the repository's host may take: a host that takes the
    /// connection and never answers held the build, and every later build of its project
    /// (they wait for the mirror), for good.
    private let hostTimeLimit: Duration

    init(mirrors: URL, hostTimeLimit: Duration) {
        self.mirrors = mirrors
        self.hostTimeLimit = hostTimeLimit
    }

    /// What was checked out.
    struct Checkout {
        let directory: URL
        let commit: String
        /// Set when the requested ref did not exist and the default branch was used.
        let note: String?
    }

    /// Fetches `cloneURL` and writes the files of `commit` (else `ref`, else the default
    /// branch) into `directory`. A ref the repository does not have (an image tag such as
    /// `latest`, say) falls back to the default branch; a missing commit is an error.
    func checkout(cloneURL: String, project: String, commit: String, ref: String, into directory: URL) async throws -> Checkout {
        let mirror = mirrors.appendingPathComponent("\(project).git", isDirectory: true)
        return try await locks.withPermit(project) {
            // A mirror's config holds the clone URL, with any credentials in it: for the
            // gateway's user alone (mirrors made when it was not so included).
            try Self.makeDirectories(mirrors)
            chmod(mirrors.path, 0o700)
            if !FileManager.default.fileExists(atPath: mirror.appendingPathComponent("HEAD").path) {
                try Self.makeDirectories(mirror)
                try await git(["init", "--bare", "--quiet", mirror.path])
                try await git(["-C", mirror.path, "remote", "add", "--mirror=fetch", "origin", cloneURL])
            }
            try await git(["-C", mirror.path, "remote", "set-url", "origin", cloneURL])
            // The two steps that reach the repository's host, which may be out of reach for a while.
            try await git(["-C", mirror.path, "fetch", "--quiet", "--prune", "--tags", "origin"],
                          what: "fetch \(Self.display(cloneURL))", reachesHost: true)
            // A bare mirror's HEAD is git's own default; point it at the remote's default branch.
            let remoteHead = try await git(["-C", mirror.path, "ls-remote", "--symref", "origin", "HEAD"],
                                           what: "read the default branch", reachesHost: true)
            if let line = remoteHead.split(separator: "\n").first(where: { $0.hasPrefix("ref: ") }),
               let branch = line.dropFirst(5).split(separator: "\t").first {
                try await git(["-C", mirror.path, "symbolic-ref", "HEAD", String(branch)])
            }

            var note: String?
            let sha: String
            if !commit.isEmpty {
                guard let found = try await resolve(commit, in: mirror) else {
                    throw CheckoutError("commit \(commit) is not in \(Self.display(cloneURL))")
                }
                sha = found
            } else if !ref.isEmpty, let found = try await resolve(ref, in: mirror) {
                sha = found
            } else {
                guard let head = try await resolve("HEAD", in: mirror) else {
                    throw CheckoutError("\(Self.display(cloneURL)) has no default branch to build")
                }
                if !ref.isEmpty { note = "ref \(ref) is not in the repository; using its default branch" }
                sha = head
            }
            try Self.makeDirectories(directory)
            let archive = directory.appendingPathExtension("tar")
            defer { try? FileManager.default.removeItem(at: archive) }
            try await git(["-C", mirror.path, "archive", "--format=tar", "--output", archive.path, sha])
            try await run("tar", ["-xf", archive.path, "-C", directory.path], what: "unpack \(sha)")
            return Checkout(directory: directory, commit: sha, note: note)
        }
    }

    /// The commit `revision` names, or nil when the mirror has no such thing.
    private func resolve(_ revision: String, in mirror: URL) async throws -> String? {
        let candidates = revision.hasPrefix("refs/") || revision == "HEAD"
            ? [revision] : [revision, "refs/heads/\(revision)", "refs/tags/\(revision)"]
        for candidate in candidates {
            let result = try await Subprocess.run(
                .name("git"), arguments: Arguments(["-C", mirror.path, "rev-parse", "--verify", "--quiet", "\(candidate)^{commit}"]),
                environment: Self.environment, output: .string(limit: 4096), error: .discarded)
            if case .exited(0) = result.terminationStatus, case let sha = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), !sha.isEmpty {
                return sha
            }
        }
        return nil
    }

    /// Runs git; its output, or an error naming what failed (credentials removed).
    @discardableResult
    private func git(_ arguments: [String], what: String? = nil, reachesHost: Bool = false) async throws -> String {
        try await run("git", Self.transferLimits + arguments,
                      what: what ?? "git \(arguments.first { !$0.hasPrefix("-") && !$0.hasPrefix("/") } ?? "")",
                      reachesHost: reachesHost)
    }

    /// - Parameter reachesHost: a failure is the repository's host failing (a `TransientError`),
    ///   and the step may take `hostTimeLimit`.
    @discardableResult
    private func run(_ tool: String, _ arguments: [String], what: String, reachesHost: Bool = false) async throws -> String {
        typealias Outcome = ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        var platformOptions = PlatformOptions()
        // A group of its own, and SIGTERM first: git then removes its lock files and stops
        // the transport helper (git-remote-https) it started.
        platformOptions.processGroupID = 0
        platformOptions.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let options = platformOptions, limit = hostTimeLimit
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome?.self) { group in
                group.addTask {
                    try await Subprocess.run(
                        .name(tool), arguments: Arguments(arguments), environment: Self.environment,
                        platformOptions: options, output: .string(limit: 1 << 20), error: .string(limit: 64 << 10))
                }
                if reachesHost {
                    group.addTask {
                        try await Task.sleep(for: limit)
                        return nil
                    }
                }
                defer { group.cancelAll() } // the sleep, or git past its time (it is stopped)
                guard let finished = try await group.next() ?? nil else {
                    throw RepositoryUnreachable(description: "could not \(what): no answer within \(BuildScheduler.seconds(limit))")
                }
                return finished
            }
        } catch where error is RepositoryUnreachable || error is CancellationError {
            throw error
        } catch {
            throw CheckoutError("could not \(what): \(tool) is not available here")
        }
        guard case .exited(0) = outcome.terminationStatus else {
            let detail = outcome.standardError.split(separator: "\n").last.map(String.init) ?? "\(outcome.terminationStatus)"
            let message = "could not \(what): \(Self.scrub(detail))"
            throw reachesHost ? RepositoryUnreachable(description: message) : CheckoutError(message)
        }
        return outcome.standardOutput
    }

    /// An HTTP transfer slower than 1 KB/s for a minute ends (a stalled host fails long
    /// before `hostTimeLimit`); other transports have only that limit.
    private static let transferLimits = ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]

    /// git must never wait for a password on a terminal nobody reads.
    private static let environment = Environment.inherit.updating(["GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"])

    /// The directory, or a CheckoutError with the system's reason (a full disk, say).
    static func makeDirectories(_ directory: URL) throws {
        do { try BrigantineCore.makeDirectories(directory) } catch {
            throw CheckoutError("cannot make \(directory.path): \(fileErrorReason(error))")
        }
    }

    /// A URL without its credentials (`https://user:token@host/…` → `https://host/…`).
    static func display(_ url: String) -> String {
        URLCredentials.removed(from: url)
    }

    /// Credentials taken out of any URL in a message.
    static func scrub(_ text: String) -> String {
        text.split(separator: " ", omittingEmptySubsequences: false).map { display(String($0)) }.joined(separator: " ")
    }
}

struct CheckoutError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The repository's host did not answer a fetch as it should (down, unreachable, refusing
/// for now): worth trying again later.
struct RepositoryUnreachable: TransientError, CustomStringConvertible {
    let description: String
}
