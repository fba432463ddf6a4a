import ArgumentParser
import BrigantineCore
import Foundation
import Worker

/// `brig`: Brigantine's one executable.
@main
struct Brig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brig",
        abstract: "Run Brigade v1 scripts (brigade.js) on registry webhooks and from the command line.",
        version: "brig (Brigantine) \(BuildWorker.version)",
        subcommands: [RunCommand.self, GatewayCommand.self, ProjectCommand.self, BuildCommand.self])

    /// Brigade's exit codes: 0 success, 2 a build that failed, 1 anything else, with a
    /// one-line `Error: …` on stderr (ArgumentParser's own codes and usage dumps are not used).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failed as QuietExit {
            Foundation.exit(failed.exitCode)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = (error as? CLIError)?.message ?? message(for: error)
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            StandardStreams.writeError("Error: \(firstLine)\n")
            Foundation.exit(1)
        }
    }
}

/// A problem with what the user asked for (exit 1).
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Exit with this code and print nothing more: the command has said why (a build that
/// failed, exit 2, in its log; project files that do not load, exit 1).
struct QuietExit: Error {
    let exitCode: Int32
}
