import Foundation

/// The JavaScript half of the `brigadier` module, shipped as resources of this target.
/// The native half that these files call into is in Sources/Brigadier.
public enum BrigadierJS {
    /// The files of lib/, by name (`brigadier.js`, `job.js`, …), read once.
    public static let sources: [String: String] = {
        guard let directory = Bundle.module.url(forResource: "lib", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        else { return [:] }
        var sources: [String: String] = [:]
        for name in names where name.hasSuffix(".js") {
            sources[name] = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        return sources
    }()
}
