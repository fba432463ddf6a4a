import Foundation
import Synchronization
import TestSupport

/// A filesystem of its own, a few MiB, that a test can fill up: a real full disk (ENOSPC
/// from the kernel) under the gateway's data directory, rather than a store that pretends.
/// A tmpfs mounted for the test and unmounted after it; mounting needs root, as CI has.
final class SmallDisk: Sendable {
    let directory: URL
    /// Whether the filler should go on, whether it is still writing, and why it could not start.
    private let filler = Mutex((wanted: false, writing: false, failure: Int32?.none))
    private var fillerFile: URL { directory.appendingPathComponent("filler") }

    /// Whether this process may mount one (root, with the right to mount: a container may lack it).
    static let available: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("small-disk-probe-\(UUID().uuidString)")
        guard (try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(at: probe) }
        guard (try? mountTmpfs(at: probe, mebibytes: 1)) != nil else { return false }
        unmount(probe)
        return true
    }()
    static let unavailableReason = "mounts a small tmpfs to fill up: needs root and the right to mount"

    /// Mounts a filesystem of `mebibytes` at `directory` (made if missing).
    init(at directory: URL, mebibytes: Int) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.mountTmpfs(at: directory, mebibytes: mebibytes)
        self.directory = directory
    }

    private static func mountTmpfs(at directory: URL, mebibytes: Int) throws {
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(mebibytes)m,mode=0755") == 0 else {
            throw TestFailure("cannot mount a tmpfs at \(directory.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Lazily: a process that still has a file open there keeps it until it ends.
    private static func unmount(_ directory: URL) {
        umount2(directory.path, Int32(MNT_DETACH))
    }

    /// Fills what is left and keeps it full: space the store frees (SQLite reusing its
    /// log, a deleted file) is taken again within a few milliseconds, until `makeRoom`.
    /// Returns once the disk is full, not while the filler is still on its way.
    func fill() async throws {
        filler.withLock { $0 = (wanted: true, writing: true, failure: nil) }
        let path = fillerFile.path
        // A thread of its own: it blocks in write(2), which the tests' cooperative pool must not.
        Thread { [self] in
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            guard fd >= 0 else {
                let failure = errno
                filler.withLock { $0.writing = false; $0.failure = failure }
                return
            }
            defer {
                close(fd)
                filler.withLock { $0.writing = false }
            }
            let chunk = [UInt8](repeating: 0, count: 4096)
            while filler.withLock({ $0.wanted }) {
                if chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) < 0 { usleep(2_000) }
            }
        }.start()
        while freeBytes > 4096 {
            if let failure = filler.withLock({ $0.failure }) {
                throw TestFailure("cannot fill \(directory.path): \(path): \(String(cString: strerror(failure)))")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Stops filling and gives the space back.
    func makeRoom() async {
        stopFilling()
        while filler.withLock({ $0.writing }) { try? await Task.sleep(for: .milliseconds(1)) }
        try? FileManager.default.removeItem(at: fillerFile)
    }

    private func stopFilling() {
        filler.withLock { $0.wanted = false }
    }

    var freeBytes: Int {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { return 0 }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    /// Stops the filler and unmounts it; for a `defer`, so it does not wait (the filler's
    /// file goes with the filesystem).
    func remove() {
        stopFilling()
        Self.unmount(directory)
    }
}
