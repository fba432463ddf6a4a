import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How many connections the gateway holds open at once, from the open-file limit.
///
/// Every connection is a file descriptor, and so is everything else the gateway opens: the
/// store, project files on reload, job output pipes, the engine's socket. A flood of
/// connections that takes them all leaves the gateway unable to open anything, and
/// libdispatch, which reads `/proc` to manage its threads, then kills the process (seen
/// with 1,000 idle connections under a limit of 200). Past this many, new connections wait
/// in the kernel's listen queue until one closes (an idle one does after `idleTimeout`).
public enum ConnectionLimit {
    /// Raises this process's soft open-file limit to its hard limit, as servers do (the
    /// soft one is often 1,024 for compatibility with `select`, which nothing here uses),
    /// and returns the soft limit now in force.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// Half the open-file limit (the other half for everything else), at most 10,000.
    public static func defaultMaxConnections(openFileLimit: Int) -> Int {
        min(10_000, max(16, openFileLimit / 2))
    }
}
