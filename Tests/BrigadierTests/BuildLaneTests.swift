import BrigantineCore
import Foundation
import JobRunners
import JSHost
import Synchronization
import Testing
import Worker

/// A runner whose jobs all wait until `count` of them are running at once, then finish
/// together: builds that get through it must have been live at the same time.
final class BarrierRunner: JobRunner {
    let name = "barrier"
    private let count: Int
    private let waiting = Mutex<(arrived: Int, released: [CheckedContinuation<Void, Never>])>((0, []))

    init(count: Int) { self.count = count }

    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        await withCheckedContinuation { continuation in
            let release: [CheckedContinuation<Void, Never>] = waiting.withLock { state in
                state.arrived += 1
                state.released.append(continuation)
                guard state.arrived >= count else { return [] }
                defer { state.released = [] }
                return state.released
            }
            for waiter in release { waiter.resume() }
        }
        return JobOutput(output: "through", exitCode: 0)
    }
}

/// Lines a build logged, as they come.
final class SeenLines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    func contains(_ line: String) -> Bool { lines.withLock { $0.contains(line) } }
}

/// A runner whose job named `after-N` ends N milliseconds after it starts.
struct DelayRunner: JobRunner {
    let name = "delay"
    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        try await Task.sleep(for: .milliseconds(Int(job.name.split(separator: "-").last ?? "") ?? 0))
        return JobOutput(output: "", exitCode: 0)
    }
}

/// A runner whose jobs never end on their own; cancelling the build ends them.
struct EndlessRunner: JobRunner {
    let name = "endless"
    func run(_ job: JobSpec, in context: JobContext) async throws -> JobOutput {
        while true { try await Task.sleep(for: .seconds(60)) }
    }
}

/// Builds on one lane: a thread and a VM that run many live builds, stepping each when
/// it has something to do.
@Suite(.timeLimit(.minutes(1))) struct BuildLaneTests {
    let directory: URL
    let lane = BuildLane(runtime: JSRuntime(entryTimeLimit: 0.5, heapLimit: 256 << 20))

    init() throws {
        directory = try Harness.scratchDirectory()
    }

    func worker(_ script: String, id: String = ULID.make(), runner: any JobRunner = SimulateRunner(),
                buildTimeout: Double = 60, project configure: (inout Project) -> Void = { _ in },
                lines: SeenLines? = nil) throws -> BuildWorker {
        let file = directory.appendingPathComponent("\(id).js")
        try script.write(to: file, atomically: true, encoding: .utf8)
        var project = Project.local(directory: directory.path)
        configure(&project)
        let request = BuildRequest(
            buildID: id, project: project, eventType: "exec", provider: "test",
            script: .file(path: file.path), moduleRoot: directory.path)
        let log = BuildLog { line in lines?.add(line.text) }
        return BuildWorker(request: request, runner: runner, log: log,
                           settings: WorkerSettings(buildTimeout: buildTimeout, workRoot: directory.appendingPathComponent("work")),
                           runtime: lane.runtime)
    }

    /// 100 builds each await a job that finishes only once all 100 jobs are running:
    /// run one after another they could never end.
    @Test func runsManyLiveBuildsAtOnce() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let runner = BarrierRunner(count: 100)
        let script = """
            const { events, Job } = require('brigadier');
            events.on('exec', async (e) => {
              await new Promise((resolve) => setTimeout(resolve, 5));
              const result = await new Job('meet', 'alpine', ['true']).run();
              console.log(`${e.buildID} ${result}`);
            });
            """
        let workers = try (0..<100).map { _ in try worker(script, runner: runner) }
        let outcomes = try await withThrowingTaskGroup(of: BuildOutcome.self) { group in
            for worker in workers { group.addTask { try await worker.ends(on: lane) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 100)
        #expect(outcomes.allSatisfy { $0.status == .succeeded && $0.jobs.first?.output == "through" })
        #expect(lane.liveBuilds == 0)
    }

    /// A build stepped shortly before its timer is due, in a round whose later builds run
    /// past that time, must still be stepped for the timer. The lane lost such builds once
    /// (now and then a run of the suite hung). Here, while `busy` spins (50–250 ms), `timed`'s
    /// job ends (100 ms) and then `spinner`'s (110 ms). The round after that steps both
    /// (their jobs' results), and the next steps `timed` again (nothing to do: its 300 ms
    /// timer is not due) and then `spinner`, whose second immediate spins past 300 ms.
    /// A lost build never ends: `ends(on:within:)` gives up on it after 10 s.
    @Test func aBuildWokenJustBeforeItsTimerIsSteppedForTheTimer() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let runner = DelayRunner()
        let spin = "const end = Date.now() + %d; while (Date.now() < end) {}"
        let timed = try worker("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              const timer = new Promise((resolve) => setTimeout(resolve, 300));
              await new Job('after-100', 'alpine').run();
              await timer;
              console.log('timer fired');
            });
            """, runner: runner)
        let spinner = try worker("""
            require('brigadier').events.on('exec', async () => {
              await new (require('brigadier').Job)('after-110', 'alpine').run();
              setImmediate(() => setImmediate(() => { \(String(format: spin, 100)); }));
            });
            """, runner: runner)
        let busy = try worker("""
            require('brigadier').events.on('exec', async () => {
              await new Promise((resolve) => setTimeout(resolve, 50));
              \(String(format: spin, 200));
            });
            """, runner: runner)
        let outcomes = try await withThrowingTaskGroup(of: BuildOutcome.self) { group in
            for worker in [timed, spinner, busy] { group.addTask { try await worker.ends(on: lane, within: 30) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0.status == .succeeded }, "\(outcomes.compactMap(\.reason))")
    }

    /// A runaway script holds up the others of its lane only until the watchdog stops it,
    /// and a lane's VM goes on running builds after it.
    @Test func aRunawayBuildIsStoppedAndTheOthersFinish() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let steady = """
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
              await new Job('after-wait', 'alpine', ['true']).run();
            });
            """
        let runaway = try worker("require('brigadier').events.on('exec', async () => { await null; for (;;) {} });")
        let others = try (0..<10).map { _ in try worker(steady) }
        async let stopped = runaway.ends(on: lane)
        let outcomes = try await withThrowingTaskGroup(of: BuildOutcome.self) { group in
            for worker in others { group.addTask { try await worker.ends(on: lane) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0.status == .succeeded }, "\(outcomes.compactMap(\.reason))")
        let ended = try await stopped
        #expect(ended.status == .failed)
        #expect(ended.reason == "script ran for more than 0.5 s without yielding and was stopped (an infinite loop?)")
        let later = try await (try worker(steady)).ends(on: lane)
        #expect(later.status == .succeeded)
    }

    /// A build that loops through promise continuations alone is stopped like one that
    /// loops in a single entry, and the lane's other builds finish.
    @Test func aLoopOfContinuationsIsStoppedAndTheOthersFinish() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let steady = try (0..<4).map { _ in
            try worker("""
                require('brigadier').events.on('exec', async () => {
                  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
                });
                """)
        }
        let awaiting = try worker("require('brigadier').events.on('exec', async () => { for (;;) await null; });")
        let chaining = try worker("""
            require('brigadier').events.on('exec', () => { const f = () => { Promise.resolve().then(f); }; f(); });
            """)
        let outcomes = try await withThrowingTaskGroup(of: BuildOutcome.self) { group in
            for worker in steady + [awaiting, chaining] { group.addTask { try await worker.ends(on: lane) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let stopped = "script ran for more than 0.5 s without yielding and was stopped (an infinite loop?)"
        #expect(outcomes.filter { $0.status == .succeeded }.count == 4, "\(outcomes.compactMap(\.reason))")
        #expect(outcomes.filter { $0.reason == stopped }.count == 2, "\(outcomes.compactMap(\.reason))")
    }

    /// A project's own time limit holds in a lane whose VM has another one.
    @Test func aProjectsTimeLimitIsItsOwn() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let loop = try worker("require('brigadier').events.on('exec', () => { for (;;) {} });") { $0.scriptTimeLimit = 0.2 }
        let outcome = try await loop.ends(on: lane)
        #expect(outcome.reason == "script ran for more than 0.2 s without yielding and was stopped (an infinite loop?)")
    }

    /// Cancelling a build that waits on a job ends it (and the job), while a build beside
    /// it on the lane goes on.
    @Test func cancellingOneBuildLeavesTheOthers() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let lines = SeenLines()
        let waiting = try worker("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => { console.log('waiting'); await new Job('endless', 'alpine', ['true']).run(); });
            """, runner: EndlessRunner(), lines: lines)
        let beside = try worker("""
            require('brigadier').events.on('exec', () => new Promise((resolve) => setTimeout(resolve, 300)));
            """)
        async let cancelled = waiting.ends(on: lane)
        async let other = beside.ends(on: lane)
        while !lines.contains("waiting") { try await Task.sleep(for: .milliseconds(10)) }
        waiting.cancel(reason: "operator asked")
        let ended = try await cancelled
        #expect(ended.status == .failed && ended.reason == "the build was stopped: operator asked")
        #expect(try await other.status == .succeeded)
    }

    /// A cancel and the build timeout stop a script in the middle of a long entry, without
    /// waiting for its time limit (here 60 s): in a loop, and in a loop of continuations.
    @Test(arguments: ["for (;;) {}", "(async () => { for (;;) await null })()"])
    func aStopComesInTheMiddleOfAnEntry(loop: String) async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let lines = SeenLines()
        let script = "require('brigadier').events.on('exec', () => { console.log('spinning'); \(loop); });"
        let cancelled = try worker(script, project: { $0.scriptTimeLimit = 60 }, lines: lines)
        let timed = try worker(script, buildTimeout: 0.5) { $0.scriptTimeLimit = 60 }
        async let stopped = cancelled.ends(on: lane, within: 20)
        while !lines.contains("spinning") { try await Task.sleep(for: .milliseconds(10)) }
        cancelled.cancel(reason: "operator asked")
        #expect(try await stopped.reason == "the build was stopped: operator asked")
        #expect(try await stopped.stoppedWith == "operator asked")
        #expect(try await timed.ends(on: lane, within: 20).reason == "the build ran for more than 0.5 s and was stopped")
    }

    /// The build timeout wakes a build that waits for a timer far off, and a script that
    /// keeps queueing immediates cannot keep the lane to itself or outrun its timeout.
    @Test func timeoutsHoldOnALane() async throws {
        defer { lane.close(); try? FileManager.default.removeItem(at: directory) }
        let sleeper = try worker("""
            require('brigadier').events.on('exec', () => new Promise((resolve) => setTimeout(resolve, 60000)));
            """, buildTimeout: 0.5)
        let spinner = try worker("""
            require('brigadier').events.on('exec', () => { const again = () => setImmediate(again); again(); });
            """, buildTimeout: 1)
        let quick = try worker("""
            require('brigadier').events.on('exec', () => new Promise((resolve) => setTimeout(resolve, 50)));
            """)
        async let slept = sleeper.ends(on: lane)
        async let spun = spinner.ends(on: lane)
        async let done = quick.ends(on: lane)
        #expect(try await done.status == .succeeded, "a build beside the spinning one still ran")
        #expect(try await slept.reason == "the build ran for more than 0.5 s and was stopped")
        #expect(try await spun.reason == "the build ran for more than 1 s and was stopped")
    }
}
