import Foundation
@testable import JSHost
import Synchronization
import Testing

@Suite struct ConcurrentVMTests {
    /// Two VMs busy at once on two threads, allocating while their watchdogs tick: the way
    /// a gateway's two lanes run builds. With JSC's signal-based traps this deadlocked
    /// against the allocator's scavenger (both threads spinning for good); every round
    /// must end.
    @Test func twoBusyVMsWithWatchdogsNeverDeadlock() async throws {
        let rounds = 200
        let completed = RoundCounter()
        for lane in 0..<2 {
            // Each round on a thread of its own, one after another, as the scheduler runs
            // each build of a lane on a new thread with the lane's VM.
            let laneThread = Thread {
                let runtime = JSRuntime(entryTimeLimit: 10, heapLimit: 256 << 20)
                for round in 0..<rounds {
                    let roundDone = DispatchSemaphore(value: 0)
                    let build = Thread {
                        defer { roundDone.signal() }
                        guard let context = try? ScriptContext(runtime: runtime) else { return }
                        // Long enough (tens of ms) for the watchdog to tick inside it, with garbage.
                        _ = try? context.evaluate("""
                            let kept = [];
                            for (let i = 0; i < 20000; i++) { kept.push({ lane: \(lane), round: \(round), i, s: 'x' + i }); }
                            JSON.stringify(kept).length
                            """)
                        context.close()
                        completed.increment()
                    }
                    build.stackSize = 8 << 20
                    build.start()
                    roundDone.wait()
                }
            }
            laneThread.start()
        }
        // A deadlock never ends (without polling traps: after 8 rounds); the rounds take ~5 s.
        // Waiting by sleeping, not by blocking: the test runs on the shared cooperative pool.
        let giveUp = ContinuousClock.now + .seconds(120)
        while completed.value < 2 * rounds, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(completed.value == 2 * rounds,
                "the VMs' threads stopped making progress after \(completed.value) of \(2 * rounds) rounds")
    }
}

/// A counter shared by the test's threads.
final class RoundCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
