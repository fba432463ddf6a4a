import Foundation

/// git as tests use it to make repositories: in `repository`, as a test author, waiting as a
/// task; a failure throws with what git said.
public func git(_ arguments: String..., in repository: URL) async throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-C", repository.path, "-c", "user.name=test", "-c", "user.email=test@example.com"] + arguments
    let output = try await process.runCollectingOutput(mergingErrors: true)
    guard process.terminationStatus == 0 else {
        throw TestFailure("git \(arguments.joined(separator: " ")): \(String(decoding: output.stdout, as: UTF8.self))")
    }
}
