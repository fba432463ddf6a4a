import BrigantineCore
import Foundation
import JobRunners
import JSHost
import Synchronization
import Worker

/// Runs the same build many times in this process and reports the time per build:
/// a fresh context, loading bench/brigade.js, firing `image_push` with the Docker Hub
/// payload, and the whole lifecycle with two simulated jobs and an `after` handler.
enum PerBuildBenchmark {
    static func main(_ arguments: [String]) {
        var builds = 500
        var root = FileManager.default.currentDirectoryPath
        var variants: Set<String> = ["fresh", "shared", "lane"]
        var index = 1
        while index < arguments.count {
            switch arguments[index] {
            case "--builds": index += 1; builds = Int(arguments[index]) ?? builds
            case "--root": index += 1; root = arguments[index]
            case "--only": index += 1; variants = [arguments[index]]
            default: fail("unknown argument \(arguments[index]); use --builds N --root DIR --only fresh|shared|lane")
            }
            index += 1
        }
        let script = (root as NSString).appendingPathComponent("bench/brigade.js")
        guard let payload = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent("samples/dockerhub/payload.json")) else {
            fail("run from the repository root (or pass --root)")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("brig-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }

        let shared = JSRuntime(entryTimeLimit: 10, heapLimit: 512 << 20)
        let lane = BuildLane(runtime: JSRuntime(entryTimeLimit: 10, heapLimit: 512 << 20))
        let all: [(key: String, label: String, runtime: JSRuntime?, lane: BuildLane?)] = [
            ("fresh", "fresh VM per build", nil, nil), ("shared", "fresh context in a shared VM", shared, nil),
            ("lane", "fresh context on a lane (as the gateway runs builds)", lane.runtime, lane),
        ]
        for (key, label, runtime, lane) in all where variants.contains(key) {
            var samples: [Double] = []
            for round in 0..<(builds + builds / 10) {
                let request = BuildRequest(
                    project: .local(name: "bench", directory: root), eventType: "image_push", provider: "dockerhub",
                    revision: .init(ref: "master"), payload: String(decoding: payload, as: UTF8.self),
                    script: .file(path: script), moduleRoot: (root as NSString).appendingPathComponent("bench"))
                let lines = Atomic<Int>(0)
                let log = BuildLog(level: .log) { _ in lines.add(1, ordering: .relaxed) }
                let worker = BuildWorker(
                    request: request, runner: SimulateRunner(), log: log,
                    settings: WorkerSettings(workRoot: work), runtime: runtime)
                let started = ContinuousClock.now
                let outcome = lane.map { lane in wait { await worker.run(on: lane) } } ?? worker.runHere()
                let elapsed = started.duration(to: .now)
                guard outcome.status == .succeeded, outcome.jobs.count == 2 else {
                    fail("build \(round) did not succeed: \(outcome.reason ?? "?")")
                }
                if round >= builds / 10 { samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6) }
            }
            samples.sort()
            let median = samples[samples.count / 2], p90 = samples[samples.count * 9 / 10]
            print("per-build, \(label): median \(format(median)) µs, p90 \(format(p90)) µs (n=\(samples.count))")
        }
    }

    /// Runs `work` and blocks this (main) thread until it is done.
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    static func format(_ microseconds: Double) -> String { String(format: "%.0f", microseconds) }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("brig-bench: \(message)\n".utf8))
        exit(1)
    }
}
