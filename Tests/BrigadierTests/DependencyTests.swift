import Foundation
import Testing

/// Spec 3.2 and 8.8: brigade.json `dependencies`. Brigantine installs nothing; what is
/// listed must be vendored in node_modules, and what is missing is named, in order.
@Suite struct DependencyTests {
    let script = "const thirteen = require('is-thirteen'); require('brigadier').events.on('exec', () => console.log(thirteen(13)));"
    let vendored = [
        "node_modules/is-thirteen/package.json": #"{"name": "is-thirteen", "main": "lib/index.js"}"#,
        "node_modules/is-thirteen/lib/index.js": "module.exports = (n) => n === 13 ? 'thirteen!' : 'not thirteen';",
    ]

    @Test func noConfigFileIsFine() async throws {
        let run = try await Harness.run("console.log('ran')")
        #expect(run.succeeded && run.printed == ["ran"])
        #expect(run.contains("prestart: no dependencies file found"))
    }

    @Test(arguments: [#"{}"#, #"{"dependencies": {}}"#, #"{"other": 1}"#])
    func nothingToInstall(_ config: String) async throws {
        let run = try await Harness.run("console.log('ran')", files: ["brigade.json": config])
        #expect(run.succeeded && run.printed == ["ran"])
        #expect(run.contains("prestart: no dependencies to install"))
    }

    @Test func vendoredDependenciesLoad() async throws {
        var files = vendored
        files["brigade.json"] = #"{"dependencies": {"is-thirteen": "2.0.0"}}"#
        let run = try await Harness.run(script, files: files)
        #expect(run.succeeded && run.printed == ["thirteen!"])
        #expect(run.contains("prestart: dependencies found in node_modules: is-thirteen@2.0.0"))
    }

    @Test func missingDependenciesAreNamedInOrder() async throws {
        let run = try await Harness.run(script, files: [
            "brigade.json": #"{"dependencies": {"zeta": "1.0.0", "is-thirteen": "2.0.0", "lodash": "4.0.0"}}"#,
        ])
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.outcome.reason == "brigade.json lists dependencies that are not vendored in node_modules: zeta@1.0.0, is-thirteen@2.0.0, lodash@4.0.0")
        #expect(run.printed.isEmpty, "the script is not run")
    }

    @Test func invalidConfigFailsTheBuild() async throws {
        let run = try await Harness.run("console.log('ran')", files: ["brigade.json": "{ not json"])
        #expect(!run.succeeded)
        #expect(run.outcome.reason?.contains("brigade.json") == true && run.outcome.reason?.contains("not valid JSON") == true)
    }

    /// brigade.json is read like a module: a link out of the project is not followed (it
    /// would tell the script which of the host's JSON files exist and what they hold).
    @Test func aConfigLinkedFromOutsideTheProjectFailsTheBuild() async throws {
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID().uuidString).json")
        try #"{"dependencies": {"from-outside": "1"}}"#.write(to: outside, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: outside) }
        let run = try await Harness.run("console.log('ran')", links: ["brigade.json": outside.path])
        #expect(!run.succeeded && run.printed.isEmpty, "\(run.outcome)")
        let reason = run.outcome.reason ?? ""
        #expect(reason.hasPrefix("Error: brigade.json (/") && reason.hasSuffix(
            "/brigade.json) cannot be read: it leads to \(outside.path), outside the project directory"), "\(reason)")
    }

    // precedence: the build's config, then brigade.json beside the script, then the project's default
    @Test func configPrecedence() async throws {
        let missing = #"{"dependencies": {"from-beside": "1"}}"#
        let fromBuild = try await Harness.run("console.log('ran')", files: ["brigade.json": missing], config: "{}")
        #expect(fromBuild.succeeded)
        let fromFile = try await Harness.run("console.log('ran')", project: { $0.defaultConfig = "{}" }, files: ["brigade.json": missing])
        #expect(fromFile.outcome.reason?.hasSuffix("from-beside@1") == true)
        let fromProject = try await Harness.run("console.log('ran')", project: { $0.defaultConfig = #"{"dependencies": {"from-project": "2"}}"# })
        #expect(fromProject.outcome.reason?.hasSuffix("from-project@2") == true)
    }
}
