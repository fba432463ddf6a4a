import BrigantineCore
import Foundation
import JobRunners

/// Per-job cost of the container runner against the engine's own CLI running the same
/// trivial command: `docker run --rm --network none IMAGE /bin/sh -c true`.
enum ContainerOverhead {
    static func main(socket: String, image: String, jobs: Int) async {
        let runner: ContainerRunner
        do {
            runner = try await ContainerRunner.connect(socket: socket)
        } catch {
            PerBuildBenchmark.fail("\(error)")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("container-overhead-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let context = JobContext(buildID: "bench", projectName: "bench", projectID: "bench", buildDirectory: work,
                                 log: BuildLog(level: .none) { _ in })
        var ours: [Double] = [], cli: [Double] = []
        for round in 0..<(jobs + 2) {
            let job = JobSpec(name: "noop", podName: "noop-\(round)", image: image, tasks: ["true"], timeout: 60_000)
            let started = ContinuousClock.now
            do { _ = try await runner.run(job, in: context) } catch { PerBuildBenchmark.fail("job failed: \(error)") }
            let ourTime = started.duration(to: .now)

            let cliStarted = ContinuousClock.now
            let docker = Process()
            docker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            docker.arguments = ["docker", "-H", "unix://\(socket)", "run", "--rm", "--network", "none", image, "/bin/sh", "-c", "true"]
            docker.standardOutput = FileHandle.nullDevice
            docker.standardError = FileHandle.nullDevice
            do { try docker.run() } catch { PerBuildBenchmark.fail("the docker CLI is not available: \(error)") }
            docker.waitUntilExit()
            guard docker.terminationStatus == 0 else { PerBuildBenchmark.fail("docker run failed (\(docker.terminationStatus))") }
            let cliTime = cliStarted.duration(to: .now)
            if round >= 2 { // the first rounds warm the engine's caches
                ours.append(milliseconds(ourTime))
                cli.append(milliseconds(cliTime))
            }
        }
        let ourMedian = median(ours), cliMedian = median(cli)
        print(String(format: "per job, container runner: median %.0f ms; docker run --rm: median %.0f ms; ratio %.2f (n=%d)",
                     ourMedian, cliMedian, ourMedian / cliMedian, ours.count))
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double {
        values.sorted()[values.count / 2]
    }
}
