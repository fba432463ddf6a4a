import Foundation
import JSHost
import Synchronization

/// A thread with a VM of its own that runs the JavaScript of many live builds, one task at
/// a time.
///
/// A build spends most of its life waiting — for a job, a timer — and while it waits it
/// needs only its context, not a thread or a VM. A lane keeps every build it was given and
/// steps whichever has something to do: a job that completed, a timer that is due, a
/// cancellation. So a few lanes (about one per core) run hundreds of live builds, and a
/// runaway script holds up the others of its lane only until the watchdog stops it.
public final class BuildLane: @unchecked Sendable {
    /// The lane's VM, made when the first build needs it (an idle gateway stays small).
    public var runtime: JSRuntime {
        madeRuntime.withLock { made in
            if let made { return made }
            let runtime = makeRuntime()
            made = runtime
            return runtime
        }
    }
    private let makeRuntime: @Sendable () -> JSRuntime
    private let madeRuntime = Mutex<JSRuntime?>(nil)
    private let niceness: Int32
    private let name: String

    /// Shared with other threads, guarded by `condition`.
    private let condition = NSCondition()
    private var arrivals: [Arrival] = []
    private var woken: [ObjectIdentifier] = []
    private var closing = false
    private var threadStarted = false

    /// Builds given to the lane and not yet finished (read from anywhere, for placement).
    private let liveCount = Atomic<Int>(0)

    // The lane thread's own state.
    private var live: [ObjectIdentifier: Live] = [:]
    private var schedule = WakeSchedule()

    private struct Arrival {
        let worker: BuildWorker
        let continuation: CheckedContinuation<BuildOutcome, Never>
    }

    private struct Live {
        let worker: BuildWorker
        let continuation: CheckedContinuation<BuildOutcome, Never>
    }

    /// - Parameter niceness: the thread's nice value (Linux); builds run below request handling.
    public init(runtime: @autoclosure @escaping @Sendable () -> JSRuntime, niceness: Int32 = 0, name: String = "lane") {
        makeRuntime = runtime
        self.niceness = niceness
        self.name = name
    }

    /// Builds on this lane that have not finished.
    public var liveBuilds: Int { liveCount.load(ordering: .relaxed) }

    /// Runs `worker`'s build on this lane and returns how it ended. The worker must have
    /// been made with this lane's runtime.
    func run(_ worker: BuildWorker) async -> BuildOutcome {
        precondition(worker.usesRuntime(runtime), "a build on a lane runs in the lane's VM")
        liveCount.add(1, ordering: .relaxed)
        return await withCheckedContinuation { continuation in
            condition.lock()
            arrivals.append(Arrival(worker: worker, continuation: continuation))
            if !threadStarted {
                threadStarted = true
                startThread()
            }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the thread end once the builds it has are done; a closed lane takes no more.
    public func close() {
        condition.lock()
        closing = true
        condition.signal()
        condition.unlock()
    }

    private func wake(_ id: ObjectIdentifier) {
        condition.lock()
        woken.append(id)
        condition.signal()
        condition.unlock()
    }

    private func startThread() {
        let thread = Thread { [self] in
            if niceness != 0 { BuildWorker.setThreadNiceness(niceness) }
            serve()
        }
        thread.stackSize = 8 << 20
        thread.name = name
        thread.start()
    }

    // MARK: The lane thread

    private func serve() {
        var ready: [ObjectIdentifier] = []
        while true {
            condition.lock()
            while arrivals.isEmpty, woken.isEmpty, ready.isEmpty {
                if closing, live.isEmpty {
                    threadStarted = false
                    condition.unlock()
                    return
                }
                if let next = schedule.nextTime() {
                    if next <= .now { break }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: ContinuousClock.now.duration(to: next).seconds))
                } else {
                    condition.wait()
                }
            }
            let arrived = arrivals
            arrivals = []
            let turn = ready + woken
            woken = []
            condition.unlock()
            ready = []

            for arrival in arrived {
                let id = ObjectIdentifier(arrival.worker)
                live[id] = Live(worker: arrival.worker, continuation: arrival.continuation)
                arrival.worker.onWake = { [weak self] in self?.wake(id) }
                record(arrival.worker.begin(), of: id, ready: &ready)
            }
            var stepped = Set<ObjectIdentifier>()
            for id in turn where stepped.insert(id).inserted {
                guard let build = live[id] else { continue }
                record(build.worker.advance(), of: id, ready: &ready)
            }
            // A build stepped above may be due as well: its timer was not due yet when it
            // was stepped, and it kept the wake time it had.
            for id in schedule.takeDue(at: .now) {
                guard let build = live[id] else { continue }
                record(build.worker.advance(), of: id, ready: &ready)
            }
        }
    }

    /// Files a build under what it does next: another turn, a wake time, or done.
    private func record(_ step: BuildWorker.Step, of id: ObjectIdentifier, ready: inout [ObjectIdentifier]) {
        switch step {
        case .ready:
            schedule.file(id, at: nil) // its next step is the next round; it files a time then
            ready.append(id)
        case .waiting(let time):
            schedule.file(id, at: time)
        case .finished(let outcome):
            schedule.remove(id)
            guard let build = live.removeValue(forKey: id) else { return }
            build.worker.onWake = nil
            liveCount.subtract(1, ordering: .relaxed)
            build.continuation.resume(returning: outcome)
        }
    }
}
