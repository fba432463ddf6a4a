import ArgumentParser
import BrigantineCore
import Foundation
import Gateway

extension ProjectCommand {
    /// `brig project create`: Brigade's command of that name asked questions and stored a
    /// Kubernetes secret; here it writes a project file, with new random secrets kept in
    /// files of their own, and prints the URLs to give the registry. A gateway serving the
    /// directory picks the new file up without a restart.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new project file with generated webhook secrets, and print its webhook URLs.",
            discussion: """
                The secrets go to files of their own under <projects>/secrets/ (readable by \
                the owner only), which the project file names with fromFile, so that the \
                project file can be kept in git and the secrets out of it.
                """)
        @Argument(help: "Project name, such as acme/web (Brigade's project ID is derived from it).") var name: String
        @Option(help: "Directory of project YAML files (made if missing).") var projects = "projects"
        @Option(help: "The project's brigade.js.") var script: String?
        @Option(help: "A git repository whose brigade.js builds use, at the webhook's revision.") var repo: String?
        @Option(name: .customLong("gateway"), help: "A gateway to turn on: container-registry or generic (repeatable; default container-registry).")
        var gateways: [String] = []
        @Option(help: "Job runner: local, container or simulate (default: the gateway's).") var runner: String?
        @Option(help: "The gateway's public base URL, for the printed URLs.") var base = "http://127.0.0.1:7744"

        func validate() throws {
            guard script != nil || repo != nil else {
                throw ValidationError("give the project a script: --script FILE (a brigade.js), or --repo URL (a repository with one)")
            }
            for gateway in gateways where Project.Gateway(rawValue: gateway) == nil {
                throw ValidationError("unknown gateway '\(gateway)' (container-registry or generic)")
            }
        }

        func run() throws {
            let directory = URL(fileURLWithPath: projects)
            let slug = String(name.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "-" })
            let file = directory.appendingPathComponent("\(slug).yaml")
            guard !FileManager.default.fileExists(atPath: file.path) else {
                throw CLIError("\(file.path) exists already; edit it, or pick another name")
            }
            if FileManager.default.fileExists(atPath: directory.path),
               let taken = try ProjectCommand.load(projects).project(named: name) {
                throw CLIError("the project \(taken.name) exists already in \(projects)")
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var lines = ["name: \(Self.quoted(name))"]
            if let script {
                guard FileManager.default.fileExists(atPath: script) else { throw CLIError("no script at \(script)") }
                lines.append("defaultScriptFile: \(Self.quoted(Self.path(of: script, from: directory)))")
            }
            if let repo { lines.append("repo: {cloneURL: \(Self.quoted(repo))}") }
            if let runner { lines.append("runner: \(Self.quoted(runner))") }
            let turnedOn = gateways.isEmpty ? [Project.Gateway.containerRegistry.rawValue] : Array(Set(gateways)).sorted()
            lines.append("gateways: [\(turnedOn.joined(separator: ", "))]")

            // Written first, so that the project file never names a secret file that is not there.
            let secretsDirectory = directory.appendingPathComponent("secrets")
            let secretsExisted = FileManager.default.fileExists(atPath: secretsDirectory.path)
            var written: [URL] = []
            func secret(_ key: String, _ suffix: String) throws {
                if !FileManager.default.fileExists(atPath: secretsDirectory.path) {
                    try FileManager.default.createDirectory(at: secretsDirectory, withIntermediateDirectories: false,
                                                            attributes: [.posixPermissions: 0o700])
                }
                let secretFile = secretsDirectory.appendingPathComponent("\(slug).\(suffix)")
                try Self.writeNew(secretFile, Self.randomSecret())
                written.append(secretFile)
                lines.append("\(key): {fromFile: \(Self.quoted("secrets/\(slug).\(suffix)"))}")
            }
            do {
                if turnedOn.contains(Project.Gateway.containerRegistry.rawValue) { try secret("webhookSecret", "webhook-secret") }
                if turnedOn.contains(Project.Gateway.generic.rawValue) { try secret("genericGatewaySecret", "generic-secret") }
                try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
                written.append(file)
                // Read back as the gateway will, so that what is left behind is a file it serves.
                let project = try Project.load(file: file.path)
                print("created \(file.path)" + (written.count > 1 ? " (its secrets are in \(secretsDirectory.path)/, keep them out of git)" : ""))
                print(WebhookURLs.describe(project, base: base).joined(separator: "\n"))
                print("A gateway serving \(projects) serves it without a restart; `brig project url \(name) --projects \(projects)` prints these again.")
            } catch {
                for made in written { try? FileManager.default.removeItem(at: made) }
                if !secretsExisted { try? FileManager.default.removeItem(at: secretsDirectory) }
                throw CLIError("\(error)")
            }
        }

        /// Creates `file` readable by its owner only from the start (never another's for a
        /// moment), and never over a file that is there: another project may name it.
        static func writeNew(_ file: URL, _ text: String) throws {
            let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard descriptor >= 0 else {
                if errno == EEXIST { throw CLIError("\(file.path) exists already (another project file may name it; remove it to reuse the name)") }
                throw CLIError("cannot create \(file.path): \(String(cString: strerror(errno)))")
            }
            defer { close(descriptor) }
            let bytes = Array(text.utf8)
            guard write(descriptor, bytes, bytes.count) == bytes.count else {
                throw CLIError("cannot write \(file.path): \(String(cString: strerror(errno)))")
            }
        }

        /// 32 random bytes as hex: the system's generator draws from the kernel's (getrandom).
        static func randomSecret() -> String {
            var generator = SystemRandomNumberGenerator()
            return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        }

        /// A JSON string is a YAML double-quoted scalar: any name or path, written safely.
        static func quoted(_ text: String) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes // `\/` is not an escape YAML 1.1 knows
            return String(decoding: try! encoder.encode(text), as: UTF8.self)
        }

        /// `path` as the project file names it: relative to the file's directory when they
        /// share more than the root, else absolute.
        static func path(of path: String, from directory: URL) -> String {
            let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
            let base = directory.standardizedFileURL.pathComponents
            let shared = zip(target, base).prefix { $0 == $1 }.count
            if shared <= 1 { return URL(fileURLWithPath: path).standardizedFileURL.path }
            return (Array(repeating: "..", count: base.count - shared) + target.dropFirst(shared)).joined(separator: "/")
        }
    }
}
