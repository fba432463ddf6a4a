import Foundation
import JSHost
import Testing

@Suite struct EventLoopTests {
    @Test func timersRunInDueOrderAndIntervalsRepeat() throws {
        let host = try TestHost()
        let stop = try host.run("""
            setTimeout(() => console.log('30'), 30);
            setTimeout(() => console.log('10'), 10);
            setTimeout((a, b) => console.log('args', a, b), 20, 'x', 2);
            let n = 0;
            const i = setInterval(() => { console.log('tick', ++n); if (n === 3) clearInterval(i); }, 1);
            const cancelled = setTimeout(() => console.log('never'), 5);
            clearTimeout(cancelled);
            setImmediate(() => console.log('immediate'));
            Promise.resolve().then(() => console.log('microtask'));
            process.nextTick(() => console.log('next tick'));
            console.log('sync');
            """)
        #expect(stop == .idle)
        #expect(Array(host.stdout.prefix(3)) == ["sync", "microtask", "next tick"])
        #expect(host.stdout.contains("immediate"))
        #expect(host.stdout.filter { $0.hasPrefix("tick ") } == ["tick 1", "tick 2", "tick 3"])
        let ordered = host.stdout.filter { ["10", "args x 2", "30"].contains($0) }
        #expect(ordered == ["10", "args x 2", "30"])
        #expect(!host.stdout.contains("never"))
    }

    @Test func unreferencedTimersDoNotKeepTheLoopBusy() throws {
        let host = try TestHost()
        let stop = try host.run("setTimeout(() => console.log('late'), 60000).unref(); console.log('done')")
        #expect(stop == .idle)
        #expect(host.stdout == ["done"])
    }

    @Test func aPromiseNobodySettlesLeavesTheLoopIdle() throws {
        let host = try TestHost()
        let stop = try host.run("new Promise(() => {}).then(() => console.log('never'))")
        #expect(stop == .idle)
        #expect(host.stdout.isEmpty)
    }

    @Test func deadlineEndsAnEndlessInterval() throws {
        let host = try TestHost()
        let stop = try host.run("setInterval(() => {}, 5)", deadline: .milliseconds(100))
        #expect(stop == .deadline)
    }

    @Test(.timeLimit(.minutes(1))) func deadlineEndsEndlessImmediates() throws {
        let host = try TestHost()
        let stop = try host.run("const again = () => setImmediate(again); again();", deadline: .milliseconds(100))
        #expect(stop == .deadline)
    }

    @Test func hostOperationsSettlePromisesOnTheLoop() async throws {
        let host = try TestHost()
        let work = host.context.makeFunction("work") { call in
            let input = call.string(0)
            return call.context.promise {
                try await Task.sleep(for: .milliseconds(20))
                if input == "bad" { throw NativeError("bad input") }
                return .string(input.uppercased())
            }
        }
        host.context.setProperty(host.context.globalObject, "work", work)
        let stop = try await onOwnThread { try host.run("""
            (async () => {
              console.log(await work('hello'));
              try { await work('bad') } catch (e) { console.log('caught', e.message) }
              const all = await Promise.all([work('a'), work('b')]);
              console.log(all.join('+'));
            })();
            """) }
        #expect(stop == .idle)
        #expect(host.stdout == ["HELLO", "caught bad input", "A+B"])
    }

    @Test func exceptionsInTimersReachTheHost() throws {
        let host = try TestHost()
        var caught: [String] = []
        let path = try host.write("main.js", "setTimeout(() => { throw new Error('in timer') }, 1); setTimeout(() => console.log('still runs'), 5)")
        try host.context.loadMainModule(path)
        let stop = try host.context.runLoop(onError: { error in caught.append(String(describing: error)) })
        #expect(stop == .idle)
        #expect(caught.count == 1 && caught[0].hasPrefix("Error: in timer"))
        #expect(host.stdout == ["still runs"])
    }
}
