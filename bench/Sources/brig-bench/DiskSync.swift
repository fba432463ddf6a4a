import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How long the disk under a directory takes to make a small write durable.
///
/// Every acknowledged webhook waits for one commit of the store, and every commit waits for
/// the disk (`synchronous = FULL`): the acknowledgement's tail can be no shorter than this
/// disk's `fdatasync` tail. Writes 4 KiB at a time to a file of its own in the directory,
/// 100 times a second, and times each `fdatasync` — the call SQLite makes at a commit.
enum DiskSync {
    static func main(_ arguments: [String]) {
        func value(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        let directory = value("--disk-sync") ?? "."
        let seconds = value("--seconds").flatMap(Double.init) ?? 10
        // Each call's wall-clock start (Unix seconds) and duration (ms), to line up with
        // another measurement's slow moments.
        let timesPath = value("--times")
        let path = (directory as NSString).appendingPathComponent("brig-bench-sync-\(getpid()).probe")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fail("cannot create a file in \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(path) }

        var block = [UInt8](repeating: 0, count: 4096)
        var times: [Double] = []
        var startedAt: [Double] = []
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        var next = clock.now
        while clock.now < end {
            // A new page each time, in a file of 64 of them: like a log that is appended to.
            for index in block.indices { block[index] = UInt8.random(in: 0...255) }
            let offset = off_t((times.count % 64) * block.count)
            guard block.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, offset) }) == block.count else {
                fail("write failed: \(String(cString: strerror(errno)))")
            }
            let started = clock.now
            startedAt.append(Date().timeIntervalSince1970)
            guard fdatasync(fd) == 0 else { fail("fdatasync failed: \(String(cString: strerror(errno)))") }
            times.append(ContainerOverhead.milliseconds(started.duration(to: clock.now)))
            next += .milliseconds(10)
            if next > clock.now { Thread.sleep(forTimeInterval: ContainerOverhead.milliseconds(clock.now.duration(to: next)) / 1000) }
        }
        if let timesPath {
            let lines = zip(startedAt, times).map { String(format: "%.4f %.2f\n", $0, $1) }.joined()
            if !FileManager.default.createFile(atPath: timesPath, contents: Data(lines.utf8)) {
                FileHandle.standardError.write(Data("brig-bench: cannot write \(timesPath)\n".utf8))
            }
        }
        let sorted = times.sorted()
        func at(_ p: Double) -> String { String(format: "%.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) }
        let slow = times.filter { $0 > 10 }.count
        print("disk sync (\(directory)): \(times.count) fdatasync calls of 4 KiB in \(Int(seconds)) s: "
            + "p50 \(at(0.5)) ms p99 \(at(0.99)) ms max \(String(format: "%.1f", sorted.last ?? 0)) ms; \(slow) over 10 ms")
    }

    static func fail(_ message: String) -> Never { PerBuildBenchmark.fail(message) }
}
