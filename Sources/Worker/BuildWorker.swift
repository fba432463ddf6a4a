import BrigantineCore
import Brigadier
import Foundation
import JobRunners
import CJavaScriptCore
import JSHost
import Synchronization

/// Runs one build the way Brigade's worker did (spec sections 3.4–3.9):
/// check brigade.json, load the script, fire the event, wait until nothing is left to do,
/// then fire `after` (success) or the single `error` event (failure), and finish.
///
/// Each build gets a fresh, isolated script context. A build never throws: every
/// problem — a broken script, a runaway loop, a failed job, a timeout — ends in a
/// `BuildOutcome` with a reason, and in the log.
///
/// `@unchecked Sendable`: its state is only touched by the one thread that runs the build.
public final class BuildWorker: @unchecked Sendable {
    public static let version = "0.1.0"

    private let request: BuildRequest
    private let runner: any JobRunner
    private let log: BuildLog
    private let settings: WorkerSettings
    private let runtime: JSRuntime?

    /// Set from any thread by `cancel(reason:)`; the loop it stops, while one runs.
    private let cancellation = Mutex<(reason: String?, loop: EventLoop?)>((nil, nil))

    // Lifecycle state (Brigade's App).
    private var errorFired = false
    private var failure: String?
    private var exitRequest: Int32?

    /// - Parameter runtime: a VM to create the build's context in; nil makes one for this build.
    public init(request: BuildRequest, runner: any JobRunner, log: BuildLog, settings: WorkerSettings,
                runtime: JSRuntime? = nil) {
        self.request = request
        self.runner = runner
        self.log = log
        self.settings = settings
        self.runtime = runtime
    }

    /// Runs the build on a thread of its own (scripts run synchronously until they yield),
    /// then lets the runner clean up what the build's jobs shared.
    public func run() async -> BuildOutcome {
        let outcome = await withCheckedContinuation { continuation in
            let thread = Thread { [self] in
                if settings.threadNiceness != 0 { Self.setThreadNiceness(settings.threadNiceness) }
                continuation.resume(returning: runHere())
            }
            thread.stackSize = 8 << 20
            thread.name = "build \(request.buildID)"
            thread.start()
        }
        await runner.buildFinished(jobContext)
        return outcome
    }

    /// Lowers the calling thread's priority: on Linux, `setpriority(PRIO_PROCESS, 0, …)`
    /// changes only the calling thread (threads have nice values of their own).
    private static func setThreadNiceness(_ niceness: Int32) {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }

    /// What the runner knows about this build.
    private var jobContext: JobContext {
        JobContext(buildID: request.buildID, projectName: request.project.name, projectID: request.project.id,
                   buildDirectory: settings.workRoot.appendingPathComponent(request.buildID, isDirectory: true), log: log)
    }

    /// Stops the build from any thread: the script is not entered again, running jobs are
    /// killed, and the build fails with `reason`.
    public func cancel(reason: String) {
        cancellation.withLock { state in
            if state.reason == nil { state.reason = reason }
            state.loop?.stop()
        }
    }

    /// Runs the build on the calling thread, which it blocks until the build ends.
    public func runHere() -> BuildOutcome {
        let startedAt = Date()
        let jobs = JobBridge(runner: runner, context: jobContext, policy: JobPolicy(request.project), maxJobs: settings.maxJobs)
        defer { try? FileManager.default.removeItem(at: jobs.context.buildDirectory) }

        var scriptExitCode: Int32?
        if let context = makeContext(jobs: jobs) {
            drive(context)
            context.flushOutput()
            scriptExitCode = context.scriptExitCode()
            context.close()
            // A VM shared with later builds must not carry this build's termination over.
            runtime?.clearTermination()
        }
        // Brigade's exit codes: process.exit(n) wins; a handled error is 1; else process.exitCode.
        var exitCode = exitRequest ?? (failure != nil ? 1 : scriptExitCode ?? 0)
        var reason = failure
        if reason == nil, exitCode != 0 {
            reason = "the script set exit code \(exitCode)"
        }
        if reason != nil, exitCode == 0 { exitCode = 1 }
        return BuildOutcome(
            buildID: request.buildID, status: reason == nil ? .succeeded : .failed, exitCode: exitCode,
            reason: reason, jobs: jobs.jobs, startedAt: startedAt, finishedAt: Date())
    }

    // MARK: Phases

    private func makeContext(jobs: JobBridge) -> ScriptContext? {
        do {
            try FileManager.default.createDirectory(
                at: jobs.context.buildDirectory, withIntermediateDirectories: true)
            let runtime = self.runtime ?? settings.makeRuntime(for: request.project)
            let context = try ScriptContext(
                runtime: runtime, moduleRoots: [request.moduleRoot],
                builtins: BrigadierModule.builtins(jobs: jobs))
            context.onOutput = { [log] stream, text in log.write(stream == .stdout ? .stdout : .stderr, text) }
            let cancelled = cancellation.withLock { state in
                state.loop = context.loop
                return state.reason != nil
            }
            if cancelled { context.loop.stop() }
            return context
        } catch {
            fail("the script host could not start: \(error)")
            return nil
        }
    }

    private func drive(_ context: ScriptContext) {
        if BuildRequest.lifecycleEventTypes.contains(request.eventType) {
            fail("'\(request.eventType)' is a lifecycle event and cannot start a build")
            return
        }
        do {
            if let missing = try DependencyCheck(request: request, context: context, log: log).run() {
                fail(missing)
                return
            }
            let worker = try context.requireBuiltin(BrigadierModule.workerModule)
            guard loadScript(context) else { return }
            log.log(.log, nil, "brigantine worker version: \(Self.version)")
            let event = try makeEvent(context, worker: worker)
            let project = try context.call(
                method: "makeProject", of: worker, [context.parseJSON(ScriptProject(request.project).json())])
            do {
                try context.call(method: "start", of: worker, [event, project])
            } catch let thrown as JSException {
                // Brigade: a handler that throws while the main event fires becomes an unhandled rejection.
                try handleRejection(thrown.thrown.ref, context: context, worker: worker, trigger: "unhandledRejection")
            }
            try handleRejections(context, worker: worker)
            try runToEnd(context, worker: worker)
        } catch let terminated as ScriptTerminated {
            log.log(.error, "app", "\(terminated)")
            fail("\(terminated)")
        } catch let exited as ScriptExited {
            exitRequest = exited.code
        } catch {
            log.log(.error, "app", "\(error)")
            fail("\(error)")
        }
        if failure != nil { context.cancelHostOperations() }
        cancellation.withLock { $0.loop = nil }
    }

    /// Loads the script; false (with the reason recorded) when it cannot be loaded.
    private func loadScript(_ context: ScriptContext) -> Bool {
        do {
            switch request.script {
            case .file(let path): try context.loadMainModule(path)
            case .inline(let source, let path): try context.loadMainModule(path, source: source)
            }
            return true
        } catch let thrown as JSException {
            // Brigade crashed here (exit 1, no error event): the script never got to register handlers.
            log.log(.error, nil, "the script could not be loaded: \(context.inspect(thrown.thrown.ref))")
            fail("the script could not be loaded: \(thrown)")
            return false
        } catch let exited as ScriptExited {
            exitRequest = exited.code
            return false
        } catch {
            log.log(.error, nil, "the script could not be loaded: \(error)")
            fail("the script could not be loaded: \(error)")
            return false
        }
    }

    private func makeEvent(_ context: ScriptContext, worker: JSValueRef) throws -> JSValueRef {
        if request.payload == nil { log.log(.log, nil, "no payload loaded") }
        let strings = [
            request.buildID, request.workerID, request.eventType, request.provider,
            request.revision.commit, request.revision.ref,
        ].map(context.makeString)
        let cloneURL = request.cloneURL.map(context.makeString) ?? context.undefined
        let payload = request.payload.map(context.makeString) ?? context.undefined
        return try context.call(
            method: "makeEvent", of: worker,
            strings + [cloneURL, context.makeNumber(Double(request.logLevel.rawValue)), payload])
    }

    /// Runs the loop until the build is over: when it goes idle, `after` fires once (unless an
    /// error was handled), and the loop runs again for what `after` handlers started.
    private func runToEnd(_ context: ScriptContext, worker: JSValueRef) throws {
        let deadline = ContinuousClock.now + .seconds(request.project.buildTimeout ?? settings.buildTimeout)
        var afterFired = false
        while true {
            let stop = try context.runLoop(
                until: deadline,
                afterTask: { try handleRejections(context, worker: worker) },
                onError: { error in
                    guard let thrown = error as? JSException else { throw error }
                    try handleUncaughtException(thrown, context: context, worker: worker)
                })
            switch stop {
            case .deadline:
                let limit = request.project.buildTimeout ?? settings.buildTimeout
                let message = "the build ran for more than \(limit.formatted(.number.grouping(.never))) s and was stopped"
                log.log(.error, "app", message)
                fail(message)
                return
            case .stopped:
                if let reason = cancellation.withLock({ $0.reason }) {
                    log.log(.error, "app", "the build was stopped: \(reason)")
                    fail("the build was stopped: \(reason)")
                }
                return
            case .idle:
                if errorFired || afterFired {
                    warnAboutUnsettledHandlers(context, worker: worker)
                    return
                }
                afterFired = true
                guard context.isTruthy(try context.call(method: "hasHandler", of: worker, [context.makeString(request.eventType)])) else {
                    log.log(.log, "app", "no-after: fired")
                    return
                }
                let trigger = (context.scriptExitCode() ?? 0) == 0 ? "success" : "failure"
                do {
                    try context.call(method: "fireAfter", of: worker, [context.makeString(trigger)])
                } catch let thrown as JSException {
                    try handleUncaughtException(thrown, context: context, worker: worker)
                }
                try handleRejections(context, worker: worker)
            }
        }
    }

    // MARK: Failures

    private func handleRejections(_ context: ScriptContext, worker: JSValueRef) throws {
        while true {
            let reasons = context.takeUnhandledRejections()
            if reasons.isEmpty { return }
            for reason in reasons {
                try handleRejection(reason.ref, context: context, worker: worker, trigger: "unhandledRejection")
            }
        }
    }

    /// Brigade: every unhandled rejection is logged; the first one fires the `error` event.
    private func handleRejection(_ reason: JSValueRef, context: ScriptContext, worker: JSValueRef, trigger: String) throws {
        try context.call(method: "logFailure", of: worker, [context.makeString(""), reason])
        try fireErrorOnce(reason, context: context, worker: worker, trigger: trigger,
                          description: "unhandled rejection: \(context.describe(reason))")
    }

    /// A throw in a timer callback or an `after` handler. Brigade's worker crashed here
    /// without an `error` event; Brigantine treats it like an unhandled rejection.
    private func handleUncaughtException(_ thrown: JSException, context: ScriptContext, worker: JSValueRef) throws {
        try context.call(method: "logFailure", of: worker, [context.makeString("Uncaught "), thrown.thrown.ref])
        try fireErrorOnce(thrown.thrown.ref, context: context, worker: worker, trigger: "uncaughtException",
                          description: "uncaught exception: \(thrown)")
    }

    private func fireErrorOnce(_ reason: JSValueRef, context: ScriptContext, worker: JSValueRef,
                               trigger: String, description: String) throws {
        guard !errorFired else { return }
        errorFired = true
        fail(description)
        do {
            try context.call(method: "fireError", of: worker, [reason, context.makeString(trigger)])
        } catch let thrown as JSException {
            try context.call(method: "logFailure", of: worker, [context.makeString("an error handler threw: "), thrown.thrown.ref])
        }
    }

    private func warnAboutUnsettledHandlers(_ context: ScriptContext, worker: JSValueRef) {
        guard let types = try? context.call(method: "unsettledHandlerTypes", of: worker) else { return }
        for type in context.arrayStrings(types) {
            log.log(.warn, "app", "the '\(type)' handler returned a promise that never settled; "
                + "the build ended because nothing was left that could settle it")
        }
    }

    private func fail(_ reason: String) {
        if failure == nil { failure = reason }
    }
}
