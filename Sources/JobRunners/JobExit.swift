import BrigantineCore

/// How a job's process or container ended, and what that means for `job.run()`.
enum JobExit: Equatable {
    case exited(Int32)
    case timedOut

    /// The job's Result, or the failure Brigade reported, with the runner's log lines
    /// (a failed job's last lines too, when they were not streamed already).
    func outcome(of job: JobSpec, output: String, runner: String, log: BuildLog) throws -> JobOutput {
        switch self {
        case .timedOut:
            log.log(.error, runner, "\(job.podName) ran past its timeout and was killed")
            throw JobFailure.timedOut(milliseconds: job.timeout, output: output)
        case .exited(0):
            log.log(.log, runner, "\(job.podName) succeeded")
            return JobOutput(output: output, exitCode: 0)
        case .exited(let code):
            log.log(.error, runner, "\(job.podName) failed with exit code \(code)")
            if !job.streamLogs { Self.logTail(of: output, job: job, runner: runner, log: log) }
            throw JobFailure.failed(podName: job.podName, exitCode: code, output: output)
        }
    }

    private static func logTail(of output: String, job: JobSpec, runner: String, log: BuildLog) {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast(output.hasSuffix("\n") ? 1 : 0)
        guard !lines.isEmpty else { return }
        let tail = lines.suffix(20)
        log.log(.error, runner, "last \(tail.count) line\(tail.count == 1 ? "" : "s") of \(job.podName):")
        for line in tail { log.log(.error, runner, "  \(line)") }
    }
}
