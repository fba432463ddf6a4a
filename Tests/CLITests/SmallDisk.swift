import Foundation
import Synchronization
import TestSupport

/// A filesystem of its own, a few MiB, that a test can fill up: a real full disk (ENOSPC
/// from the kernel) under the gateway's data directory, rather than a store that pretends.
/// A tmpfs mounted for the test and unmounted after it; mounting needs root, as CI has.
final class SmallDisk: Sendable {
    let directory: URL
    /// Whether the filler should go on, and whether it is still writing.
    private let filler = Mutex((wanted: false, writing: false))
    private var fillerFile: URL { directory.appendingPathComponent("filler") }

    /// Whether this process may mount one (root, with the right to mount: a container may lack it).
    static let available: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("small-disk-probe-\(UUID().uuidString)")
        guard (try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(at: probe) }
        guard mount("tmpfs", probe.path, "tmpfs", 0, "size=1m") == 0 else { return false }
        umount2(probe.path, Int32(MNT_DETACH))
        return true
    }()
    static let unavailableReason = "mounts a small tmpfs to fill up: needs root and the right to mount"

    /// Mounts a filesystem of `mebibytes` at `directory` (made if missing).
    init(at directory: URL, mebibytes: Int) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(mebibytes)m,mode=0755") == 0 else {
            throw TestFailure("cannot mount a tmpfs at \(directory.path): \(String(cString: strerror(errno)))")
        }
        self.directory = directory
    }

    /// Fills what is left and keeps it full: space the store frees (SQLite reusing its
    /// log, a deleted file) is taken again within a few milliseconds, until `makeRoom`.
    func fill() {
        filler.withLock { $0 = (wanted: true, writing: true) }
        let path = fillerFile.path
        Thread { [self] in
            defer { filler.withLock { $0.writing = false } }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            guard fd >= 0 else { return }
            defer { close(fd) }
            let chunk = [UInt8](repeating: 0, count: 4096)
            while filler.withLock({ $0.wanted }) {
                if chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) < 0 { usleep(2_000) }
            }
        }.start()
        // Returns once the disk is full, not while the filler is still on its way.
        while freeBytes > 4096 { usleep(1_000) }
    }

    /// Stops filling and gives the space back.
    func makeRoom() {
        filler.withLock { $0.wanted = false }
        while filler.withLock({ $0.writing }) { usleep(1_000) }
        try? FileManager.default.removeItem(at: fillerFile)
    }

    var freeBytes: Int {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { return 0 }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    /// Unmounts it (lazily: a process that still has a file open there keeps it until it ends).
    func remove() {
        makeRoom()
        umount2(directory.path, Int32(MNT_DETACH))
    }
}
