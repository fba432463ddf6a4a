import ArgumentParser
import BrigantineCore
import Foundation
import Gateway

/// `--output text|json` of the commands that show projects and builds: text for people,
/// or the read API's JSON objects for scripts (`brig build get ID -o json | jq .status`).
struct OutputFormat: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: [.short, .long], help: "text, or json (the objects the gateway's read API answers with).")
    var output: Format = .text

    var json: Bool { output == .json }

    /// Prints `object` as one JSON text.
    func print(json object: Any) {
        StandardStreams.write(APIObjects.data(object), to: STDOUT_FILENO)
    }
}
