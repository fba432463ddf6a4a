import Foundation
import HeapModule

/// Node's event loop, reduced to what Brigade scripts use: timers, immediates and host
/// operations (such as running a job) that finish on other threads.
///
/// The loop is *idle* — Node's `beforeExit` — when no referenced timer, no immediate and
/// no host operation is left. A promise that nothing will ever settle does not keep it busy.
///
/// Threading: `run` and the timer methods belong to the loop's thread; `beginOperation`,
/// `complete` and `stop` may be called from anywhere.
public final class EventLoop: @unchecked Sendable {
    public enum StopReason: Equatable, Sendable {
        /// Nothing left that could run JavaScript again.
        case idle
        /// The deadline passed first.
        case deadline
        /// `stop()` was called.
        case stopped
    }

    /// A host operation in flight; hand it back to `complete`.
    public struct OperationToken: Sendable {
        fileprivate let id: Int
    }

    public typealias Work = @Sendable () throws -> Void

    // Loop-thread state.
    private var timerHeap = Heap<TimerEntry>()
    private var activeTimers: [Int: (sequence: Int, referenced: Bool)] = [:]
    private var referencedTimerCount = 0
    private var immediates: [Int] = []
    private var sequence = 0

    // Shared state, guarded by `condition`.
    private let condition = NSCondition()
    private var inbox: [Work] = []
    private var pendingOperations = 0
    private var nextOperation = 0
    private var stopRequested = false
    private var closed = false
    private var onWake: (@Sendable () -> Void)?

    public init() {}

    // MARK: Timers (loop thread)

    /// Arms timer `id` to fire after `delay` milliseconds (re-arming replaces the old due time).
    public func setTimer(id: Int, delay: Double, referenced: Bool = true) {
        clearTimer(id: id)
        sequence += 1
        let delay = delay.isFinite && delay >= 1 ? min(delay, 2_147_483_647) : 1
        let due = ContinuousClock.now.advanced(by: .milliseconds(Int64(delay.rounded(.down))))
        timerHeap.insert(TimerEntry(due: due, sequence: sequence, id: id))
        activeTimers[id] = (sequence, referenced)
        if referenced { referencedTimerCount += 1 }
    }

    public func clearTimer(id: Int) {
        guard let timer = activeTimers.removeValue(forKey: id) else { return }
        if timer.referenced { referencedTimerCount -= 1 }
    }

    /// `timeout.ref()` / `timeout.unref()`: an unreferenced timer does not keep the loop busy.
    public func setTimerReferenced(id: Int, _ referenced: Bool) {
        guard let timer = activeTimers[id], timer.referenced != referenced else { return }
        activeTimers[id] = (timer.sequence, referenced)
        referencedTimerCount += referenced ? 1 : -1
    }

    /// Queues `setImmediate` callback `id` for the next turn.
    public func queueImmediate(id: Int) {
        immediates.append(id)
    }

    public func cancelImmediate(id: Int) {
        immediates.removeAll { $0 == id }
    }

    /// Calls `wake` (on any thread) whenever work is posted or the loop is stopped: a lane
    /// that runs this loop among others learns this way that it has something to do.
    public func notify(_ wake: @escaping @Sendable () -> Void) {
        condition.lock()
        onWake = wake
        let pending = !inbox.isEmpty || stopRequested
        condition.unlock()
        if pending { wake() }
    }

    // MARK: Host operations (any thread)

    /// Counts an operation as in flight: the loop is not idle until it completes.
    public func beginOperation() -> OperationToken {
        condition.lock()
        defer { condition.unlock() }
        pendingOperations += 1
        nextOperation += 1
        return OperationToken(id: nextOperation)
    }

    /// Ends an operation; `work` runs on the loop thread (it usually settles a promise).
    public func complete(_ token: OperationToken, _ work: @escaping Work) {
        condition.lock()
        if !closed { inbox.append(work) }
        pendingOperations -= 1
        condition.signal()
        let wake = closed ? nil : onWake
        condition.unlock()
        wake?()
    }

    /// Makes `run` return `.stopped` as soon as the current task is done.
    public func stop() {
        condition.lock()
        stopRequested = true
        condition.signal()
        let wake = closed ? nil : onWake
        condition.unlock()
        wake?()
    }

    /// Drops queued work and ignores work posted from now on. Queued closures often hold
    /// their context; a closed loop lets it go.
    public func close() {
        condition.lock()
        closed = true
        inbox = []
        onWake = nil
        condition.unlock()
        immediates = []
        activeTimers = [:]
        referencedTimerCount = 0
    }

    // MARK: Running

    /// What `runReady` left behind.
    public enum Progress: Equatable, Sendable {
        /// Nothing left that could run JavaScript again.
        case idle
        /// `stop()` was called.
        case stopped
        /// Tasks ran and more may be ready: call again (after letting others have a turn).
        case ready
        /// Waiting: for the next timer at `until`, or (nil) for a host operation to complete.
        case waiting(until: ContinuousClock.Instant?)
    }

    /// Runs tasks until the loop is idle, the deadline passes or `stop()` is called,
    /// sleeping on this thread while it waits.
    ///
    /// - Parameters:
    ///   - fire: runs the JavaScript of timer or immediate `id`.
    ///   - afterTask: called after every task (the place to look at unhandled rejections).
    ///   - onError: receives what a task threw; rethrow to end the loop with that error.
    public func run(
        until deadline: ContinuousClock.Instant? = nil,
        fire: (Int) throws -> Void,
        afterTask: () throws -> Void = {},
        onError: (any Error) throws -> Void = { throw $0 }
    ) throws -> StopReason {
        while true {
            switch try runReady(fire: fire, afterTask: afterTask, onError: onError) {
            case .idle: return .idle
            case .stopped: return .stopped
            case .ready:
                if let deadline, ContinuousClock.now >= deadline { return .deadline }
            case .waiting(let wake):
                if let deadline, ContinuousClock.now >= deadline { return .deadline }
                wait(until: [wake, deadline].compactMap { $0 }.min())
            }
        }
    }

    /// Runs one round of what is ready now — work posted by host operations, due timers,
    /// immediates queued before the round — without ever sleeping. Loops that share a
    /// thread (a lane) run this way, taking turns; the caller sleeps for all of them. One
    /// round at a time also lets the caller check its deadline between rounds, so a
    /// script that keeps queueing immediates still times out.
    public func runReady(
        fire: (Int) throws -> Void,
        afterTask: () throws -> Void = {},
        onError: (any Error) throws -> Void = { throw $0 }
    ) throws -> Progress {
        func perform(_ task: () throws -> Void) throws {
            do { try task() } catch { try onError(error) }
            try afterTask()
        }
        if isStopRequested() { return .stopped }
        var didWork = false

        for work in takeInbox() {
            didWork = true
            try perform(work)
            if isStopRequested() { return .stopped }
        }

        let now = ContinuousClock.now
        while let next = timerHeap.min, next.due <= now {
            timerHeap.removeMin()
            guard let timer = activeTimers[next.id], timer.sequence == next.sequence else { continue }
            clearTimer(id: next.id)
            didWork = true
            try perform { try fire(next.id) }
            if isStopRequested() { return .stopped }
        }

        let ready = immediates
        immediates = []
        for id in ready {
            didWork = true
            try perform { try fire(id) }
            if isStopRequested() { return .stopped }
        }

        if didWork { return .ready }
        dropCancelledTimers()
        condition.lock()
        defer { condition.unlock() }
        if !inbox.isEmpty || stopRequested { return .ready }
        if referencedTimerCount == 0, immediates.isEmpty, pendingOperations == 0 { return .idle }
        return .waiting(until: timerHeap.min?.due)
    }

    /// Sleeps until `wake` (nil: indefinitely) or until work is posted or the loop stopped.
    public func wait(until wake: ContinuousClock.Instant?) {
        condition.lock()
        defer { condition.unlock() }
        guard inbox.isEmpty, !stopRequested else { return }
        if let wake {
            let seconds = ContinuousClock.now.duration(to: wake).seconds
            if seconds > 0 { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
        } else {
            condition.wait()
        }
    }

    private func isStopRequested() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopRequested
    }

    private func takeInbox() -> [Work] {
        condition.lock()
        defer { condition.unlock() }
        let work = inbox
        inbox = []
        return work
    }

    private func dropCancelledTimers() {
        while let next = timerHeap.min, activeTimers[next.id]?.sequence != next.sequence {
            timerHeap.removeMin()
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double (for Foundation's time intervals).
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// A timer's place in the queue: due time first, then the order timers were armed in.
struct TimerEntry: Comparable {
    let due: ContinuousClock.Instant
    let sequence: Int
    let id: Int

    static func < (lhs: TimerEntry, rhs: TimerEntry) -> Bool {
        lhs.due == rhs.due ? lhs.sequence < rhs.sequence : lhs.due < rhs.due
    }

    static func == (lhs: TimerEntry, rhs: TimerEntry) -> Bool {
        lhs.sequence == rhs.sequence
    }
}
