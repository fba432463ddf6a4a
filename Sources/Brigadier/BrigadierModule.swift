import BrigadierJS
import JSHost

/// The `brigadier` module as builtin modules of a script context.
///
/// Scripts reach it as `brigadier`, `brigade` or `@brigadecore/brigadier`; its other files
/// (events, job, group, worker, state) are internal, so sub-paths such as
/// `@brigadecore/brigadier/out/logger` do not resolve, as in Brigade.
public enum BrigadierModule {
    public static let publicNames = ["brigadier", "brigade", "@brigadecore/brigadier"]
    /// The internal module the worker lifecycle drives.
    public static let workerModule = "brigadier-js/worker.js"

    /// The files of brigadier-js/lib, wrapped once per process.
    private static let sources: [(filename: String, source: ScriptSource)] =
        BrigadierJS.sources.sorted { $0.key < $1.key }.map { name, code in
            let filename = "brigadier-js/\(name)"
            return (filename, BuiltinModule.wrap(code, filename: filename))
        }

    /// The files that call the host. A binding costs a few native functions in every
    /// context, so the other files get none.
    private static let filesCallingTheHost: Set = ["brigadier-js/job.js", "brigadier-js/worker.js"]

    public static func builtins(jobs: JobBridge) -> [BuiltinModule] {
        let binding: @Sendable (ScriptContext) -> NativeBinding = { _ in jobs.binding() }
        return sources.map { filename, source in
            BuiltinModule(
                filename: filename,
                publicNames: filename == "brigadier-js/brigadier.js" ? publicNames : [],
                source: source,
                binding: filesCallingTheHost.contains(filename) ? binding : nil)
        }
    }
}
