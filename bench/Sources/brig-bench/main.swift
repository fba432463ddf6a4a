// brig-bench: measurements of Brigantine, run on demand. See bench/README.md.
//   brig-bench [--builds N] [--only fresh|shared]            per-build cost of the script host
//   brig-bench --container SOCKET [--image I] [--jobs N]     container runner overhead per job
//   brig-bench --paced URL --body FILE [--rate R] [--seconds S] [--connections N]
//                                                             latency of POSTs arriving at a steady rate
//   brig-bench --disk-sync DIR [--seconds S] [--times OUT]   how long the disk under DIR takes to fdatasync 4 KiB
import Foundation

let arguments = CommandLine.arguments
if let index = arguments.firstIndex(of: "--container"), index + 1 < arguments.count {
    let image = arguments.firstIndex(of: "--image").map { arguments[$0 + 1] } ?? "localhost/busybox:test"
    let jobs = arguments.firstIndex(of: "--jobs").flatMap { Int(arguments[$0 + 1]) } ?? 20
    await ContainerOverhead.main(socket: arguments[index + 1], image: image, jobs: jobs)
} else if arguments.contains("--disk-sync") {
    DiskSync.main(arguments)
} else if arguments.contains("--paced") {
    PacedLoad.main(arguments)
} else {
    PerBuildBenchmark.main(arguments)
}
