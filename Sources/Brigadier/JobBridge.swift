import BrigantineCore
import Foundation
import JobRunners
import JSHost
import Synchronization

/// What happened to one job of a build.
public struct JobRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case running, succeeded, failed, timedOut = "timed out" }

    public let name: String
    public let podName: String
    public let image: String
    public var status: Status
    public var exitCode: Int32?
    public let startedAt: Date
    public var finishedAt: Date?
    /// Everything the job wrote (its Result, or what it wrote before failing).
    public var output: String
    /// Why it failed, in Brigade's words.
    public var failure: String?
}

/// What a project allows its jobs; decided by the host, never by the script.
public struct JobPolicy: Sendable, Equatable {
    public var allowPrivilegedJobs: Bool
    public var allowHostMounts: Bool
    public var allowSecretKeyRef: Bool

    public init(allowPrivilegedJobs: Bool = false, allowHostMounts: Bool = false, allowSecretKeyRef: Bool = false) {
        self.allowPrivilegedJobs = allowPrivilegedJobs
        self.allowHostMounts = allowHostMounts
        self.allowSecretKeyRef = allowSecretKeyRef
    }

    public init(_ project: Project) {
        self.init(allowPrivilegedJobs: project.allowPrivilegedJobs, allowHostMounts: project.allowHostMounts,
                  allowSecretKeyRef: project.allowSecretKeyRef)
    }
}

/// The native half of `Job.run()` and `Job.logs()`: hands jobs to the runner and keeps
/// a record of each, for `logs()` and for the build's record.
public final class JobBridge: Sendable {
    public let runner: any JobRunner
    public let context: JobContext
    public let policy: JobPolicy
    /// Most jobs the build may start; `run()` of one more rejects.
    public let maxJobs: Int
    /// Most bytes of job output the build's records keep, all jobs together: each job's
    /// Result can be 16 MiB, and 1,000 of them were held until the build ended (16 GiB).
    public let maxKeptOutputBytes: Int
    private let records = Mutex<[JobRecord]>([])
    private let keptOutputBytes = Mutex(0)

    public init(runner: any JobRunner, context: JobContext, policy: JobPolicy, maxJobs: Int = 1000,
                maxKeptOutputBytes: Int = 16 << 20) {
        self.runner = runner
        self.context = context
        self.policy = policy
        self.maxJobs = maxJobs
        self.maxKeptOutputBytes = maxKeptOutputBytes
    }

    /// Jobs in the order they were started.
    public var jobs: [JobRecord] { records.withLock { $0 } }

    /// The native functions job.js and worker.js call through `binding`.
    func binding() -> NativeBinding {
        [
            "runJob": { [self] call in
                var spec: JobSpec
                do {
                    spec = try JSONDecoder().decode(JobSpec.self, from: Data(call.string(0).utf8))
                } catch {
                    throw NativeError("brigadier could not read the job: \(error)")
                }
                // job.js checked the name and applied the policy; these hold even if a script tampered with it.
                guard spec.podName.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }),
                      spec.podName.first?.isLetter == true || spec.podName.first?.isNumber == true
                else { throw NativeError("job name \(spec.name) is not valid") }
                spec.privileged = spec.privileged && policy.allowPrivilegedJobs
                spec.dockerSocket = spec.dockerSocket && policy.allowHostMounts
                if records.withLock({ $0.count }) >= maxJobs {
                    // Rejected at once, so the jobs over the limit fail in the order they were run.
                    return call.context.rejectedPromise(
                        JobFailure.cannotStart("this build already started \(maxJobs) jobs, its limit; this one was not started"))
                }
                let index = start(spec)
                return call.context.promise { [self, spec] in
                    do {
                        let result = try await runner.run(spec, in: context)
                        finish(index, status: .succeeded, exitCode: result.exitCode, output: result.output, failure: nil)
                        return .string(result.output)
                    } catch let failure as JobFailure {
                        let status: JobRecord.Status
                        let exitCode: Int32?
                        switch failure {
                        case .timedOut: (status, exitCode) = (.timedOut, nil)
                        case .failed(_, let code, _): (status, exitCode) = (.failed, code)
                        case .cannotStart: (status, exitCode) = (.failed, nil)
                        }
                        finish(index, status: status, exitCode: exitCode, output: failure.output, failure: failure.description)
                        throw failure
                    } catch {
                        finish(index, status: .failed, exitCode: nil, output: "", failure: "\(error)")
                        throw error
                    }
                }
            },
            "jobLogs": { [self] call in
                let podName = call.string(0)
                let record = records.withLock { $0.last { $0.podName == podName } }
                return call.context.promise {
                    guard let record else { throw NativeError("no job named \(podName) has run in this build") }
                    return .string(record.output)
                }
            },
            "policy": { [self] call in
                let object = call.context.makeObject()
                call.context.setProperty(object, "allowPrivilegedJobs", call.context.makeBool(policy.allowPrivilegedJobs))
                call.context.setProperty(object, "allowHostMounts", call.context.makeBool(policy.allowHostMounts))
                call.context.setProperty(object, "allowSecretKeyRef", call.context.makeBool(policy.allowSecretKeyRef))
                return object
            },
            "log": { [self] call in
                let level = LogLevel(rawValue: Int(call.number(0))) ?? .log
                let component = call.context.isNull(call[1]) || call.context.isUndefined(call[1])
                    ? runner.name : call.string(1)
                // brigadier's messages about what the script does: as many as it likes.
                context.log.log(level, component, call.string(2), countsAsOutput: true)
                return nil
            },
        ]
    }

    private func start(_ spec: JobSpec) -> Int {
        records.withLock { records in
            records.append(JobRecord(
                name: spec.name, podName: spec.podName, image: spec.image, status: .running,
                startedAt: Date(), output: ""))
            return records.count - 1
        }
    }

    private func finish(_ index: Int, status: JobRecord.Status, exitCode: Int32?, output: String, failure: String?) {
        let output = kept(output)
        records.withLock { records in
            records[index].status = status
            records[index].exitCode = exitCode
            records[index].finishedAt = Date()
            records[index].output = output
            records[index].failure = failure
        }
    }

    /// What a job's record keeps of its output (the script got all of it as the Result):
    /// within the build's `maxKeptOutputBytes`, with a note where it stops. A secret cut
    /// there leaves no first part.
    private func kept(_ output: String) -> String {
        let size = output.utf8.count
        let room = keptOutputBytes.withLock { kept in
            defer { kept = min(maxKeptOutputBytes, kept + size) }
            return maxKeptOutputBytes - kept
        }
        guard size > room else { return output }
        var bytes = Array(output.utf8.prefix(room))
        context.log.redactor.maskSecretStart(atEndOf: &bytes)
        return String(decoding: bytes, as: UTF8.self) + "\n[brigantine: \(size - room) more bytes of this job's output were not kept:"
            + " the build's jobs kept \(BuildLog.describe(bytes: maxKeptOutputBytes)) of output]\n"
    }
}
