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

    /// Set from any thread by `cancel(reason:)`; the loop it stops and the script it
    /// interrupts, while they run.
    private let cancellation = Mutex<(reason: String?, loop: EventLoop?, script: ScriptInterruption?)>((nil, nil, nil))

    // Lifecycle state (Brigade's App).
    private var errorFired = false
    private var afterFired = false
    private var failure: String?
    /// The reason it was stopped with, when that stop is what ended it.
    private var stoppedWith: String?
    /// The script limit that stopped the script, if one did.
    private var stoppedAtLimit: ScriptLimit?
    private var exitRequest: Int32?
    /// Nothing more of the script will run: the build only has to end.
    private var scriptOver = false

    // Between steps.
    private var startedAt = Date()
    private var deadline = ContinuousClock.now
    private var jobs: JobBridge?
    private var context: ScriptContext?
    private var workerModule: ProtectedValue?
    /// Jobs still running when the build failed, cancelled; waited for before cleaning up.
    private var abandonedOperations: [Task<Void, Never>] = []

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
                continuation.resume(returning: runWithoutWaiting())
            }
            thread.stackSize = 8 << 20
            thread.name = "build \(request.buildID)"
            thread.start()
        }
        await windDown()
        return outcome
    }

    /// Runs the build on `lane`, among the other builds it runs, then lets the runner clean
    /// up what the build's jobs shared. The worker must have been made with the lane's runtime.
    public func run(on lane: BuildLane) async -> BuildOutcome {
        let outcome = await lane.run(self)
        await windDown()
        return outcome
    }

    func usesRuntime(_ runtime: JSRuntime) -> Bool { self.runtime === runtime }

    /// Whether the script time limit covers loops of promise continuations too: it does
    /// with the JavaScriptCore functions `JSRuntime.enter` needs (README, Limits).
    public static var timeLimitCoversContinuations: Bool { JSRuntime.drainsInsideEntries }

    /// Lowers the calling thread's priority: on Linux, `setpriority(PRIO_PROCESS, 0, …)`
    /// changes only the calling thread (threads have nice values of their own).
    static func setThreadNiceness(_ niceness: Int32) {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }

    /// What the runner knows about this build.
    private var jobContext: JobContext {
        JobContext(buildID: request.buildID, projectName: request.project.name, projectID: request.project.id,
                   buildDirectory: settings.workRoot.appendingPathComponent(request.buildID, isDirectory: true), log: log,
                   source: request.sourceDirectory)
    }

    /// Stops the build from any thread: the script is not entered again, running jobs are
    /// killed, and the build fails with `reason`.
    public func cancel(reason: String) {
        cancellation.withLock { state in
            if state.reason == nil { state.reason = reason }
            state.loop?.stop()
            state.script?.interrupt(reason)
        }
    }

    /// Runs the build on the calling thread, which it blocks until the build ends and its
    /// cancelled jobs (if it failed with jobs running) have wound down.
    public func runHere() -> BuildOutcome {
        let outcome = runWithoutWaiting()
        ScriptContext.wait(for: abandonedOperations, grace: Self.windDownGrace)
        abandonedOperations = []
        removeBuildDirectory()
        return outcome
    }

    private func runWithoutWaiting() -> BuildOutcome {
        var step = begin()
        while true {
            switch step {
            case .finished(let outcome): return outcome
            case .ready: break
            case .waiting(let wake): context?.loop.wait(until: wake)
            }
            step = advance()
        }
    }

    // MARK: Steps

    /// Where a build stands after a step.
    public enum Step: Sendable {
        /// More is ready to run now (take another step after others had a turn).
        case ready
        /// Nothing to do until `until` (nil: until the loop's wake-up is called).
        case waiting(until: ContinuousClock.Instant?)
        case finished(BuildOutcome)
    }

    /// Called from any thread when the build has something to do; set before `begin()`.
    var onWake: (@Sendable () -> Void)?

    /// Starts the build on the calling thread: makes its context, loads the script and
    /// fires the event. Every later step (`advance()`) must run on the same thread.
    func begin() -> Step {
        startedAt = Date()
        let jobs = JobBridge(runner: runner, context: jobContext, policy: JobPolicy(request.project), maxJobs: settings.maxJobs,
                             maxKeptOutputBytes: settings.maxLogBytes)
        self.jobs = jobs
        guard let context = makeContext(jobs: jobs) else { return .finished(end()) }
        self.context = context
        deadline = ContinuousClock.now + .seconds(timeLimit)
        context.interruption.interrupt(at: deadline, reason: timeoutMessage)
        guarded { try start(context) }
        return scriptOver ? .finished(end()) : advance()
    }

    /// Runs one round of what is ready in the build's loop; when the loop goes idle, `after`
    /// fires once (unless an error was handled) and the loop runs on for what it started.
    func advance() -> Step {
        guard let context, let worker = workerModule?.ref, !scriptOver else { return .finished(end()) }
        if ContinuousClock.now >= deadline {
            log.log(.error, "app", timeoutMessage)
            fail(timeoutMessage)
            return .finished(end())
        }
        var step = Step.ready
        guarded {
            let progress = try context.runReady(
                afterTask: { try handleRejections(context, worker: worker) },
                onError: { error in
                    guard let thrown = error as? JSException else { throw error }
                    try handleUncaughtException(thrown, context: context, worker: worker)
                })
            switch progress {
            case .ready:
                step = .ready
            case .waiting(let wake):
                step = .waiting(until: min(wake ?? deadline, deadline))
            case .stopped:
                if let reason = cancellation.withLock({ $0.reason }) { failCancelled(reason) }
                scriptOver = true
            case .idle:
                if errorFired || afterFired {
                    warnAboutUnsettledHandlers(context, worker: worker)
                    scriptOver = true
                    return
                }
                afterFired = true
                guard context.isTruthy(try context.call(method: "hasHandler", of: worker, [context.makeString(request.eventType)])) else {
                    log.log(.log, "app", "no-after: fired")
                    scriptOver = true
                    return
                }
                let trigger = (context.scriptExitCode() ?? 0) == 0 ? "success" : "failure"
                do {
                    try context.call(method: "fireAfter", of: worker, [context.makeString(trigger)])
                } catch let thrown as JSException {
                    try handleUncaughtException(thrown, context: context, worker: worker)
                }
                try handleRejections(context, worker: worker)
                step = .ready
            }
        }
        return scriptOver ? .finished(end()) : step
    }

    /// How long the whole build may take, in seconds.
    private var timeLimit: Double { request.project.buildTimeout ?? settings.buildTimeout }

    private var timeoutMessage: String {
        "the build ran for more than \(timeLimit.formatted(.number.grouping(.never))) s and was stopped"
    }

    private func failCancelled(_ reason: String) {
        log.log(.error, "app", "the build was stopped: \(reason)")
        if failure == nil { stoppedWith = reason }
        fail("the build was stopped: \(reason)")
    }

    /// Runs a piece of the lifecycle; what ends the script ends the build, with its reason.
    private func guarded(_ body: () throws -> Void) {
        do {
            try body()
        } catch let terminated as ScriptTerminated {
            // Interrupted in the middle of an entry: by a cancel, or at the build timeout.
            stoppedAtLimit = ScriptLimit(terminated.termination)
            if case .interrupted = terminated.termination, let reason = cancellation.withLock({ $0.reason }) {
                failCancelled(reason)
            } else {
                log.log(.error, "app", "\(terminated)")
                fail("\(terminated)")
            }
            scriptOver = true
        } catch let exited as ScriptExited {
            exitRequest = exited.code
            scriptOver = true
        } catch {
            log.log(.error, "app", "\(error)")
            fail("\(error)")
            scriptOver = true
        }
    }

    /// The build is over: its jobs still running are cancelled (`abandonedOperations`, for
    /// the caller to wait on), its context is let go, and its outcome made.
    private func end() -> BuildOutcome {
        var scriptExitCode: Int32?
        if let context {
            if failure != nil { abandonedOperations = context.abandonHostOperations() }
            cancellation.withLock { state in
                state.loop = nil
                state.script = nil
            }
            context.flushOutput()
            scriptExitCode = context.scriptExitCode()
            context.close()
            // A VM shared with later builds must not carry this build's termination over.
            runtime?.clearTermination()
        }
        context = nil
        workerModule = nil
        // Brigade's exit codes: process.exit(n) wins; a handled error is 1; else process.exitCode.
        var exitCode = exitRequest ?? (failure != nil ? 1 : scriptExitCode ?? 0)
        var reason = failure
        if reason == nil, exitCode != 0 {
            reason = "the script set exit code \(exitCode)"
        }
        if reason != nil, exitCode == 0 { exitCode = 1 }
        return BuildOutcome(
            buildID: request.buildID, status: reason == nil ? .succeeded : .failed, exitCode: exitCode,
            reason: reason, jobs: jobs?.jobs ?? [], startedAt: startedAt, finishedAt: Date(), stoppedWith: stoppedWith,
            stoppedAtLimit: stoppedAtLimit)
    }

    /// How long a failed build's cancelled jobs get to stop (kill their processes).
    static let windDownGrace = 5.0

    /// Waits for the jobs a failed build cancelled (up to the grace time), then removes the
    /// build's directory and lets the runner clean up what the build's jobs shared.
    private func windDown() async {
        let abandoned = abandonedOperations
        abandonedOperations = []
        if !abandoned.isEmpty {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for task in abandoned { await task.value } }
                group.addTask { try? await Task.sleep(for: .seconds(Self.windDownGrace)) }
                await group.next()
                group.cancelAll()
            }
        }
        removeBuildDirectory()
        await runner.buildFinished(jobContext)
    }

    private func removeBuildDirectory() {
        try? FileManager.default.removeItem(at: jobContext.buildDirectory)
    }

    // MARK: Phases

    private func makeContext(jobs: JobBridge) -> ScriptContext? {
        do {
            let runtime = self.runtime ?? settings.makeRuntime(for: request.project)
            let context = try ScriptContext(
                runtime: runtime, moduleRoots: [request.moduleRoot],
                builtins: BrigadierModule.builtins(jobs: jobs))
            context.entryTimeLimit = request.project.scriptTimeLimit
            context.onOutput = { [log] stream, text in log.write(stream == .stdout ? .stdout : .stderr, text) }
            if let onWake { context.loop.notify(onWake) }
            let cancelled = cancellation.withLock { state in
                state.loop = context.loop
                state.script = context.interruption
                return state.reason
            }
            if let cancelled {
                context.loop.stop()
                context.interruption.interrupt(cancelled)
            }
            return context
        } catch {
            fail("the script host could not start: \(error)")
            return nil
        }
    }

    /// Checks brigade.json, loads the script and fires the event; the loop runs the rest.
    private func start(_ context: ScriptContext) throws {
        if BuildRequest.lifecycleEventTypes.contains(request.eventType) {
            fail("'\(request.eventType)' is a lifecycle event and cannot start a build")
            scriptOver = true
            return
        }
        if let missing = try DependencyCheck(request: request, context: context, log: log).run() {
            fail(missing)
            scriptOver = true
            return
        }
        let worker = try context.requireBuiltin(BrigadierModule.workerModule)
        workerModule = ProtectedValue(worker, in: context)
        guard loadScript(context) else {
            scriptOver = true
            return
        }
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
        ].map { text in { context.makeString(text) } }
        let request = request
        let rest: [() -> JSValueRef] = [
            { request.cloneURL.map(context.makeString) ?? context.undefined },
            { context.makeNumber(Double(request.logLevel.rawValue)) },
            { request.payload.map(context.makeString) ?? context.undefined },
        ]
        return try context.withValues(strings + rest) { try context.call(method: "makeEvent", of: worker, $0) }
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
