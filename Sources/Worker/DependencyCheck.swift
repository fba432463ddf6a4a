import BrigantineCore
import Foundation
import CJavaScriptCore
import JSHost

/// Brigade's `prestart` phase, without installing anything: Brigantine cannot fetch npm
/// packages at build time, so each `dependencies` entry of brigade.json must already be
/// vendored in a `node_modules` the script can `require` from.
///
/// brigade.json is taken from the build (`brig run --config`), else from beside the script,
/// else from the project's `defaultConfig` (Brigade's order, without its Kubernetes places).
struct DependencyCheck {
    static let failureReason = "brigade.json lists dependencies that are not vendored in node_modules"

    let request: BuildRequest
    let context: ScriptContext
    let log: BuildLog

    /// The most read from brigade.json: a dependency list is a few hundred bytes.
    static let configSizeLimit = 1 << 20

    /// The brigade.json text to use and where it came from, if any.
    func configSource() throws -> (text: String, origin: String)? {
        if let config = request.config, !config.isEmpty { return (config, "the build's config") }
        let besideScript = ((request.script.path as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("brigade.json")
        // Absent is fine; present but unreadable (a link out of the project, a FIFO) fails
        // the build with the reason rather than quietly skipping the dependency check.
        if FileManager.default.fileExists(atPath: besideScript) {
            let data: Data
            do { data = try context.modules.readConfined(besideScript, atMost: Self.configSizeLimit) } catch {
                throw NativeError("brigade.json (\(besideScript)) cannot be read: \(error.reason)")
            }
            if !data.isEmpty { return (String(decoding: data, as: UTF8.self), besideScript) }
        }
        if let config = request.project.defaultConfig, !config.isEmpty {
            return (config, "the project's defaultConfig")
        }
        return nil
    }

    /// The `dependencies` as `name@version`, in the order brigade.json lists them.
    func dependencies(in text: String, origin: String) throws -> [(name: String, version: String)] {
        let config: JSValueRef
        do {
            config = try context.parseJSON(text)
        } catch {
            throw NativeError("brigade.json (\(origin)) is not valid JSON")
        }
        guard context.isObject(config), !context.isNull(config) else {
            throw NativeError("brigade.json (\(origin)) must be a JSON object")
        }
        let dependencies = context.property(config, "dependencies")
        if context.isUndefined(dependencies) || context.isNull(dependencies) { return [] }
        guard context.isObject(dependencies) else {
            throw NativeError("brigade.json (\(origin)): 'dependencies' must map package names to versions")
        }
        return context.ownKeys(dependencies).map { name in
            (name, context.string(from: context.property(dependencies, name)))
        }
    }

    /// Nil when every dependency resolves, else why the build cannot run; logs either way.
    func run() throws -> String? {
        guard let (text, origin) = try configSource() else {
            log.log(.info, nil, "prestart: no dependencies file found")
            return nil
        }
        let wanted = try dependencies(in: text, origin: origin)
        if wanted.isEmpty {
            log.log(.info, nil, "prestart: no dependencies to install")
            return nil
        }
        let missing = wanted.filter { dependency in
            (try? context.modules.resolve(dependency.name, from: request.script.path, parentIsBuiltin: false)) == nil
        }
        let list = { (items: [(name: String, version: String)]) in
            items.map { "\($0.name)@\($0.version)" }.joined(separator: ", ")
        }
        if missing.isEmpty {
            log.log(.info, nil, "prestart: dependencies found in node_modules: \(list(wanted))")
            return nil
        }
        let reason = "\(Self.failureReason): \(list(missing))"
        log.log(.error, nil, "prestart: \(reason). "
            + "Brigantine does not install packages at build time: install them into node_modules "
            + "under \(request.moduleRoot) (npm install / yarn) or remove them from brigade.json")
        return reason
    }
}
