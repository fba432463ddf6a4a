import ArgumentParser
import BrigantineCore
import Foundation

extension ProjectCommand {
    /// `brig project delete`: the reverse of `create`. The gateway stops serving the project
    /// at its next look at the directory (webhooks for it then get 401); its builds stay.
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a project's file and the secret files of its own under <projects>/secrets/.",
            discussion: """
                Secret files elsewhere, or named by another project too, are left. The \
                project's builds are kept: `brig build delete` removes them.
                """)
        @Argument(help: "Project name or Brigade ID.") var name: String
        @Option(help: "Directory of project YAML files.") var projects = "projects"

        func run() throws {
            let loaded = try ProjectCommand.load(projects)
            let project = try ProjectCommand.find(name, in: loaded, of: projects)
            guard let file = loaded.byFile.first(where: { $0.value.name == project.name })?.key else {
                throw CLIError("could not find the file of \(project.name) in \(projects)")
            }
            let secrets = URL(fileURLWithPath: projects).appendingPathComponent("secrets").standardizedFileURL.path + "/"
            let others = loaded.byFile.filter { $0.key != file }.values.flatMap(\.filesRead)
            let ownSecrets = project.filesRead.filter { path in
                URL(fileURLWithPath: path).standardizedFileURL.path.hasPrefix(secrets) && !others.contains(path)
            }
            for path in [file] + ownSecrets {
                do { try FileManager.default.removeItem(atPath: path) } catch {
                    throw CLIError("cannot remove \(path): \(error.localizedDescription)")
                }
                print("removed \(path)")
            }
            print("A gateway serving \(projects) stops serving \(project.name) within seconds; its builds are kept.")
        }
    }
}
