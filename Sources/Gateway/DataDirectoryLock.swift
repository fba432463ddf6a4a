import BrigantineCore
import Foundation

/// One gateway per data directory. A second one on the same directory would take the
/// first's running builds for ones a stopped gateway left behind and end them as Failed
/// (the first then ends them again), run the same pending builds' files in the same work
/// directories, and share its caches. So the gateway holds an exclusive `flock` on
/// `gateway.lock` there for as long as it lives; the kernel lets go when the process ends,
/// however it ends (`kill -9` included), so there is never a stale lock to clean up.
/// `brig build …` and `brig project …` take no lock: they may read and change the store
/// beside a running gateway.
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock, or says which process holds it.
    init(directory: URL) throws {
        do { try makeDirectories(directory) } catch {
            throw GatewaySetupError("cannot make the data directory \(directory.path): \(fileErrorReason(error))")
        }
        let path = directory.appendingPathComponent("gateway.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw GatewaySetupError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.holder(descriptor)
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw GatewaySetupError("cannot lock \(path): \(String(cString: strerror(failure)))")
            }
            throw GatewaySetupError(
                "another gateway\(holder.map { " (process \($0))" } ?? "") is using the data directory \(directory.path); "
                    + "give each gateway its own --data (gateways that share builds do it through --store postgres://…)")
        }
        // Who holds it, for the message a second gateway gives; the lock is the flock, not this.
        let pid = Data("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor) // lets go of the lock
    }

    /// The process ID written by the gateway that holds the lock, if it wrote one.
    private static func holder(_ descriptor: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &bytes, bytes.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: bytes[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
