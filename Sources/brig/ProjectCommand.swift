import ArgumentParser
import BrigantineCore
import Foundation
import Gateway

/// `brig project`: what the gateway serves, and the URLs to give registries.
struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "List projects, show one, print its webhook URLs, create one, or delete one.",
        subcommands: [List.self, Get.self, URLs.self, Create.self, Delete.self])

    static func load(_ directory: String) throws -> ProjectDirectory {
        do { return try ProjectDirectory(path: directory) } catch { throw CLIError("\(error)") }
    }

    /// The project, whatever other files of the directory do not load; when it is not
    /// found, the error names the files that did not load (one may be meant to be it).
    static func find(_ name: String, in directory: String) throws -> Project {
        try find(name, in: load(directory), of: directory)
    }

    /// The same, in a directory already loaded.
    static func find(_ name: String, in loaded: ProjectDirectory, of directory: String) throws -> Project {
        guard let project = loaded.project(named: name) else {
            let unread = loaded.problems.map { ($0.error.file as NSString).lastPathComponent }
            throw CLIError("could not find the project \"\(name)\" in \(directory)"
                + (unread.isEmpty ? "" : " (files that do not load: \(unread.joined(separator: ", ")))"))
        }
        return project
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the projects of the projects directory.")
        @Option(help: "Directory of project YAML files.") var projects = "projects"
        @OptionGroup var format: OutputFormat

        /// Exits 1 when a file does not load, after listing the others: a check to run
        /// before giving a gateway the directory.
        func run() throws {
            let loaded = try ProjectCommand.load(projects)
            if format.json { format.print(json: loaded.projects.map(APIObjects.project)) }
            for project in loaded.projects where !format.json {
                let gateways = project.gateways.map(\.rawValue).joined(separator: ",")
                print("\(project.name)\t\(project.id)\t\(gateways.isEmpty ? "-" : gateways)\(project.insecure ? "\tinsecure" : "")")
            }
            guard loaded.problems.isEmpty else {
                for problem in loaded.problems { StandardStreams.writeError("Error: \(problem.error)\n") }
                throw QuietExit(exitCode: 1)
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a project; secret values are redacted.")
        @Argument(help: "Project name or Brigade ID.") var name: String
        @Option(help: "Directory of project YAML files.") var projects = "projects"
        @OptionGroup var format: OutputFormat

        func run() throws {
            let project = try ProjectCommand.find(name, in: projects)
            if format.json { return format.print(json: APIObjects.project(project)) }
            var lines = [
                "name: \(project.name)", "id: \(project.id)", "directory: \(project.directory)",
                "gateways: [\(project.gateways.map(\.rawValue).joined(separator: ", "))]",
                "insecure: \(project.insecure)", "runner: \(project.runner ?? "local (default)")",
                "script: \(project.defaultScriptFile ?? (project.defaultScript != nil ? "inline defaultScript" : "none"))",
                "webhookSecret: \(project.webhookSecret == nil ? "none" : "REDACTED")",
                "genericGatewaySecret: \(project.genericGatewaySecret == nil ? "none" : "REDACTED")",
                "repo: \(project.repo?.cloneURL.map(URLCredentials.masked) ?? "none")",
                "allowPrivilegedJobs: \(project.allowPrivilegedJobs)", "allowHostMounts: \(project.allowHostMounts)",
                "allowSecretKeyRef: \(project.allowSecretKeyRef)", "allowJobNetwork: \(project.allowJobNetwork)",
                "deduplicate: \(project.deduplicate)", "rerunInterrupted: \(project.rerunInterrupted)",
                "buildTimeout: \(project.buildTimeout.map { "\($0) s" } ?? "the gateway's --build-timeout")",
                "scriptTimeLimit: \(project.scriptTimeLimit.map { "\($0) s" } ?? "the gateway's --script-time-limit")",
                "maxConcurrentBuilds: \(project.maxConcurrentBuilds.map(String.init) ?? "the gateway's --per-project")",
                "rateLimit: \(project.rateLimit.map { "\($0) per gateway" } ?? "none")",
                "coalesceWindow: \(project.coalesceWindow.map { "\($0) s" } ?? "none")",
            ]
            lines.append("secrets:" + (project.secrets.isEmpty ? " {}" : ""))
            lines += project.secrets.keys.sorted().map { "  \($0): REDACTED" }
            lines.append("registries:" + (project.registries.isEmpty ? " {}" : ""))
            lines += project.registries.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value.username), password REDACTED" }
            print(lines.joined(separator: "\n"))
        }
    }

    struct URLs: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url", abstract: "Print the webhook URLs to paste into Docker Hub, ACR or another sender.")
        @Argument(help: "Project name or Brigade ID.") var name: String
        @Option(help: "Directory of project YAML files.") var projects = "projects"
        @Option(help: "The gateway's public base URL.") var base = "http://127.0.0.1:7744"

        func run() throws {
            let project = try ProjectCommand.find(name, in: projects)
            let lines = WebhookURLs.describe(project, base: base)
            if lines.isEmpty { throw CLIError("project \(project.name) has no gateway turned on (set gateways: in its file)") }
            print(lines.joined(separator: "\n"))
        }
    }
}
