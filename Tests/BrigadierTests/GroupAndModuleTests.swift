import Foundation
import Testing

/// Spec 8.1, 8.3 and 8.6: the public `brigadier` module and `Group`, run inside a real build.
/// Jobs are mocked the way brigadier's own tests did: a Job subclass whose `run()` resolves
/// with its name after a delay, or rejects with "Failed".
@Suite struct GroupAndModuleTests {
    static let mock = """
        const { Job, Group, events, fire } = require('brigadier');
        class MockJob extends Job {
          constructor(name, delay = 1, fail = false) { super(name); this.delay = delay; this.fail = fail; }
          run() {
            started.push(this.name);
            return new Promise((resolve, reject) => setTimeout(() => {
              if (this.fail) reject('Failed'); else resolve({ toString: () => this.name });
            }, this.delay));
          }
        }
        const started = [];
        const show = (results) => console.log('results', results.map(String).join(','));
        const failed = (reason) => console.log('rejected', reason, 'started', started.join(','));

        """

    func build(_ handler: String) async throws -> BuildRun {
        try await Harness.run(Self.mock + "events.on('exec', () => {\n\(handler)\n});")
    }

    // 8.1/8.6 items 1–5, and the three aliases
    @Test func exportsExactlyBrigadesFive() async throws {
        let run = try await Harness.run("""
            const b = require('brigadier');
            console.log(Object.keys(b).sort().join(','));
            console.log(typeof b.fire, typeof b.Job, typeof b.Group, typeof b.events.on);
            console.log(require('brigade') === b, require('@brigadecore/brigadier') === b);
            try { require('@brigadecore/brigadier/out/logger'); } catch (e) { console.log(e.code); }
            console.log(Object.keys(new b.ErrorReport()).length);
            """)
        #expect(run.printed == [
            "ErrorReport,Group,Job,events,fire", "function function function function", "true true",
            "MODULE_NOT_FOUND", "0",
        ])
    }

    // 8.1 item 6, 8.3 item 19
    @Test func addAndLength() async throws {
        let run = try await build("""
            const g = new Group(); console.log(g.length());
            g.add(new MockJob('a')); g.add(new MockJob('b')); console.log(g.length());
            const mine = []; const aliased = new Group(mine); aliased.add(new MockJob('c')); console.log(mine.length);
            """)
        #expect(run.printed == ["0", "2", "1"])
    }

    // 8.1 item 7, 8.3 item 20: sequential, in order, the last one slowest
    @Test func runEachKeepsOrder() async throws {
        let run = try await build("""
            const g = new Group([new MockJob('j1', 5), new MockJob('j2', 1), new MockJob('j3', 50)]);
            g.runEach().then(show);
            """)
        #expect(run.printed == ["results j1,j2,j3"])
    }

    // 8.1 item 9, 8.3 item 21: the first failure rejects; later jobs never start
    @Test func runEachStopsAtTheFirstFailure() async throws {
        let run = try await build("""
            new Group([new MockJob('j1'), new MockJob('j2', 1, true), new MockJob('j3')]).runEach()
              .then(() => console.log('then called'), failed);
            """)
        #expect(run.printed == ["rejected Failed started j1,j2"])
    }

    // 8.1 items 10–11, 8.3 items 22–23
    @Test func runAllResolvesAllOrRejectsFirst() async throws {
        let run = try await build("""
            new Group([new MockJob('j1', 20), new MockJob('j2', 1), new MockJob('j3', 5)]).runAll().then(show)
              .then(() => new Group([new MockJob('k1'), new MockJob('k2', 1, true), new MockJob('k3')]).runAll())
              .then(() => console.log('then called'), failed);
            """)
        #expect(run.printed == ["results j1,j2,j3", "rejected Failed started j1,j2,j3,k1,k2,k3"])
    }

    // 8.3 items 24–27: the static forms
    @Test func staticForms() async throws {
        let run = try await build("""
            Group.runEach([new MockJob('j1'), new MockJob('j2'), new MockJob('j3', 5)]).then(show)
              .then(() => Group.runEach([new MockJob('a'), new MockJob('b', 1, true), new MockJob('c')]))
              .catch((r) => console.log('each', r))
              .then(() => Group.runAll([new MockJob('x'), new MockJob('y'), new MockJob('z')])).then(show)
              .then(() => Group.runAll([new MockJob('p'), new MockJob('q', 1, true)]))
              .catch((r) => console.log('all', r));
            """)
        #expect(run.printed == ["results j1,j2,j3", "each Failed", "results x,y,z", "all Failed"])
    }

    @Test func emptyGroupsResolveEmpty() async throws {
        let run = try await build("Group.runEach([]).then(show).then(() => new Group().runAll()).then(show);")
        #expect(run.printed == ["results ", "results "])
    }

    // 8.9: runAll throws synchronously (after starting the earlier jobs); runEach rejects instead
    @Test func synchronousThrowsFromRun() async throws {
        let run = try await build("""
            class Broken extends Job { run() { throw new Error('broken run'); } }
            try { Group.runAll([new MockJob('first'), new Broken('b')]); } catch (e) { console.log('sync', e.message, started.join(',')); }
            const p = Group.runEach([new Broken('c')]);
            console.log('runEach returned', p instanceof Promise);
            p.catch((e) => console.log('rejected', e.message));
            """)
        #expect(run.printed == ["sync broken run first", "runEach returned true", "rejected broken run"])
    }

    // 8.9: fail-fast: runAll rejects at the first failure while the others go on
    @Test func runAllFailsFastWhileOthersContinue() async throws {
        let run = try await build("""
            class Slow extends MockJob { run() { return super.run().then((r) => { console.log('slow finished'); return r; }); } }
            Group.runAll([new MockJob('bad', 1, true), new Slow('slow', 40)]).catch((r) => console.log('rejected', r));
            """)
        #expect(run.printed == ["rejected Failed", "slow finished"])
    }

    // 8.1 item 8: a failed job rejects, and its logs are still there afterwards (real local runner)
    @Test func failedJobKeepsItsLogs() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              const job = new Job('fails', 'alpine', ['echo These are the logs showing failure.', 'exit 1']);
              try { await job.run(); } catch (e) { console.log('rejected:', e.message); }
              console.log('logs:', (await job.logs()).trim());
            });
            """, runner: LocalRunnerFactory.make())
        let buildID = run.outcome.buildID
        #expect(run.printed == [
            "rejected: job fails(fails-\(buildID)): Error: Pod fails-\(buildID) failed to run to completion",
            "logs: These are the logs showing failure.",
        ])
        #expect(run.succeeded)
    }
}
