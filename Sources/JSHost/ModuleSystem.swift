import BrigantineCore
import Foundation

/// A module compiled into the host rather than read from the project.
public struct BuiltinModule: Sendable {
    /// Virtual file name, such as `brigadier-js/brigadier.js`; relative `require`s inside
    /// a builtin resolve against it, so builtins can be split into several files.
    public let filename: String
    /// The names scripts may `require` it by (empty: internal to other builtins).
    public let publicNames: [String]
    /// The module's code, wrapped once for every context that loads it.
    public let source: ScriptSource
    /// Native functions handed to the module as its `binding` argument.
    public let binding: (@Sendable (ScriptContext) -> NativeBinding)?

    /// The parameters of a builtin module's function: a file module's, plus `binding`.
    public static let parameters = "exports,require,module,__filename,__dirname,binding"

    public init(filename: String, publicNames: [String] = [], source: ScriptSource,
                binding: (@Sendable (ScriptContext) -> NativeBinding)? = nil) {
        self.filename = filename
        self.publicNames = publicNames
        self.source = source
        self.binding = binding
    }

    /// Wraps `code` (do this once, not per context: see `ScriptSource`).
    public static func wrap(_ code: String, filename: String) -> ScriptSource {
        .module(code, url: filename, parameters: parameters)
    }
}

/// Native functions by name, exposed to one builtin module.
public typealias NativeBinding = [String: NativeFunctionBody]

/// Where a `require` request leads.
public enum ModuleResolution: Equatable, Sendable {
    case builtin(filename: String)
    case file(path: String)
}

/// Node's CommonJS resolution (files, directories, package.json `main`, `node_modules`
/// walking up), restricted to a set of root directories.
///
/// Scripts get no other access to the host's files: a request that resolves outside
/// every root fails as if the module did not exist, with a reason. Unlike Node, a file
/// reached through a symbolic link is read only if the link leads to a regular file inside
/// a root: a link such as `env.json -> /proc/self/environ` in a repository must not hand
/// the host's files to its script.
public final class ModuleSystem: @unchecked Sendable {
    public let roots: [String]
    /// The roots with their own symbolic links followed, to compare files' real paths with.
    private let realRoots: [String]
    private var builtinsByFilename: [String: BuiltinModule] = [:]
    private var builtinsByName: [String: String] = [:]

    /// The most read from one module file (a script or JSON file this big is a mistake or an attack).
    static let sourceSizeLimit = 32 << 20
    /// The most read from a package.json when looking for its `main`.
    static let manifestSizeLimit = 1 << 20

    init(roots: [String]) {
        self.roots = roots.map { Self.normalize($0) }
        self.realRoots = self.roots.map { realPath($0) ?? $0 }
    }

    /// An absolute path with `.`, `..` and repeated slashes resolved lexically (no file
    /// system access: symlinks are not followed, which is also what the root check needs).
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    private static func join(_ directory: String, _ path: String) -> String {
        normalize(path.hasPrefix("/") ? path : directory + "/" + path)
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    func register(_ builtin: BuiltinModule) {
        builtinsByFilename[builtin.filename] = builtin
        for name in builtin.publicNames { builtinsByName[name] = builtin.filename }
    }

    public func builtin(_ filename: String) -> BuiltinModule? { builtinsByFilename[filename] }

    /// The builtin filename for a public name (`events`, `node:events`, `brigadier`, …).
    public func builtinFilename(named name: String) -> String? {
        builtinsByName[name] ?? (name.hasPrefix("node:") ? builtinsByName[String(name.dropFirst(5))] : nil)
    }

    /// Resolves `request` made by the module at `parent` (a file path or builtin filename).
    public func resolve(_ request: String, from parent: String, parentIsBuiltin: Bool) throws -> ModuleResolution {
        if let filename = builtinFilename(named: request) {
            return .builtin(filename: filename)
        }
        if parentIsBuiltin {
            if isRelative(request) {
                // Builtin names are relative (`brigadier-js/job.js`); resolve them as if rooted.
                let path = String(Self.join("/" + Self.directory(of: parent), request).dropFirst())
                for candidate in [path, path + ".js"] where builtinsByFilename[candidate] != nil {
                    return .builtin(filename: candidate)
                }
            }
            throw notFound(request, from: parent, reason: nil)
        }
        let directory = Self.directory(of: parent)
        if request.hasPrefix("/") || isRelative(request) {
            let path = Self.join(directory, request)
            guard isInsideRoots(path) else {
                throw notFound(request, from: parent, reason: "it is outside the project directory")
            }
            if let found = loadAsFile(path) ?? loadAsDirectory(path) { return .file(path: found) }
            throw notFound(request, from: parent, reason: nil)
        }
        if let found = loadFromNodeModules(request, startingAt: directory) { return .file(path: found) }
        throw notFound(request, from: parent, reason: nodeCoreModules.contains(request)
            ? "Node's '\(request)' module is not available to Brigade scripts here" : nil)
    }

    /// Reads a resolved module file (only regular files really under the roots are readable).
    public func readSource(_ path: String) throws -> String {
        do {
            return String(decoding: try readConfined(path, atMost: Self.sourceSizeLimit), as: UTF8.self)
        } catch {
            throw NativeError("cannot read \(path): \(error.reason)")
        }
    }

    /// The bytes of `path` if it is a regular file and both its path and the file it leads
    /// to are under a root: how the host reads any file a project's repository may hold.
    public func readConfined(_ path: String, atMost limit: Int) throws(FileReadError) -> Data {
        guard isInsideRoots(path) else { throw FileReadError(path: path, reason: "it is outside the project directory") }
        let file = try readRegularFile(path, atMost: limit)
        guard isInside(file.realPath, realRoots) else {
            throw FileReadError(path: path, reason: "it leads to \(file.realPath), outside the project directory")
        }
        return file.data
    }

    // MARK: Node's algorithm

    private func isRelative(_ request: String) -> Bool {
        request == "." || request == ".." || request.hasPrefix("./") || request.hasPrefix("../")
    }

    private func isInsideRoots(_ path: String) -> Bool { isInside(path, roots) }

    private func isInside(_ path: String, _ directories: [String]) -> Bool {
        directories.contains { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    private func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    private func loadAsFile(_ path: String) -> String? {
        for candidate in [path, path + ".js", path + ".json"] where isFile(candidate) && isInsideRoots(candidate) {
            return candidate
        }
        return nil
    }

    private func loadIndex(_ path: String) -> String? {
        loadAsFile(path + "/index")
    }

    private func loadAsDirectory(_ path: String) -> String? {
        let manifest = path + "/package.json"
        // A manifest that cannot be read (or leads outside) is ignored, as a broken one is.
        if isFile(manifest), let data = try? readConfined(manifest, atMost: Self.manifestSizeLimit),
           let package = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let main = package["main"] as? String, !main.isEmpty {
            let target = Self.join(path, main)
            if let found = loadAsFile(target) ?? loadIndex(target) { return found }
        }
        return loadIndex(path)
    }

    private func loadFromNodeModules(_ request: String, startingAt directory: String) -> String? {
        var current = Self.normalize(directory)
        while isInsideRoots(current) {
            if !current.hasSuffix("/node_modules") {
                let path = Self.join(current, "node_modules/" + request)
                if isInsideRoots(path), let found = loadAsFile(path) ?? loadAsDirectory(path) { return found }
            }
            let parent = Self.directory(of: current)
            if parent == current { break }
            current = parent
        }
        return nil
    }

    private func notFound(_ request: String, from parent: String, reason: String?) -> NativeError {
        var message = "Cannot find module '\(request)' from '\(parent)'"
        if let reason { message += ": \(reason)" }
        return NativeError(message, code: "MODULE_NOT_FOUND")
    }

    /// Node modules scripts sometimes ask for that we deliberately do not provide.
    private let nodeCoreModules: Set<String> = [
        "fs", "child_process", "net", "http", "https", "os", "cluster", "dgram", "dns", "tls",
        "vm", "worker_threads", "process", "stream", "crypto", "zlib", "readline", "module",
    ]
}
