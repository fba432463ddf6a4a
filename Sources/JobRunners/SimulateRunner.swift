import BrigantineCore

/// Runs nothing: logs what would run and succeeds with a Result that says so.
/// For dry runs of a script and for measuring the script host alone.
public struct SimulateRunner: JobRunner {
    public let name = "simulate"

    public init() {}

    public func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        let what = job.tasks.isEmpty
            ? (job.args.isEmpty ? "the image's default command" : "the image's command with args \(job.args)")
            : "\(job.tasks.count) task\(job.tasks.count == 1 ? "" : "s")"
        let image = job.image.isEmpty ? "no image" : "image \(job.image)"
        context.log.log(.log, name, "would run job \(job.podName) (\(image)): \(what)")
        for task in job.tasks {
            context.log.log(.info, name, "\(job.podName) task: \(task)")
        }
        return JobOutput(output: "simulated: job \(job.name) was not run (\(image), \(what))\n", exitCode: 0)
    }
}
