import BrigantineCore
import Foundation
import JobRunners
import Testing
import Worker

/// Spec 8.5, 8.9 and 3.4–3.9: the worker lifecycle, and how every kind of broken
/// script ends: a recorded outcome and a clear message, never a hang or a crash.
@Suite struct LifecycleTests {
    // 8.5 item 47
    @Test func pingEvent() async throws {
        let run = try await Harness.run("", event: "ping")
        #expect(run.succeeded && run.outcome.exitCode == 0)
        #expect(run.printed == ["ping"])
        #expect(run.contains("[brigade:app] after: default event handler fired"))
    }

    // 8.5 item 48: no handler → nothing runs, no after, exit 0 (brigade-01)
    @Test func noHandlerCompletesSilently() async throws {
        let run = try await Harness.run("console.log('hello world')")
        #expect(run.succeeded)
        let hello = try #require(run.stdout.firstIndex(of: "hello world"))
        let banner = try #require(run.stdout.firstIndex { $0.contains("brigantine worker version") })
        #expect(hello < banner, "top-level code runs before the worker's banner")
        #expect(run.stdout.contains("[brigade:app] no-after: fired"))
    }

    // 8.5 item 49 and 3.7: an unhandled rejection fires `error` once; no `after`
    @Test func unhandledRejectionFiresErrorOnce() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => { Promise.reject(new Error('first')); Promise.reject('second'); });
            events.on('error', (e, p) => console.log('error', e.type, e.provider, e.cause.trigger, e.cause.event.type,
                                                      String(e.cause.reason), e.cause.reason instanceof Error));
            events.on('after', () => console.log('after must not fire'));
            """)
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.printed == ["error error brigade unhandledRejection exec Error: first true"])
        #expect(run.stderr.contains { $0.hasPrefix("[brigade:app] Error: first") })
        #expect(run.stderr.contains("[brigade:app] 'second'"))
        #expect(run.contains("[brigade:app] error handler is cleaning up"))
        #expect(run.outcome.reason?.hasPrefix("unhandled rejection: Error: first") == true)
    }

    // 8.5 item 50: a synchronous throw (of a string) in a main handler
    @Test func synchronousThrowInHandler() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => { throw 'bad handler'; });
            events.on('exec', () => console.log('skipped'));
            events.on('error', (e) => console.log('reason:', e.cause.reason, typeof e.cause.reason));
            """)
        #expect(!run.succeeded)
        #expect(run.printed == ["reason: bad handler string"])
    }

    // 8.9 / 2.2: the after event
    @Test func afterEventFields() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => {});
            events.on('after', (e, p) => console.log(JSON.stringify([e.type, e.provider, e.cause.trigger, e.cause.event.type,
              e.revision, 'payload' in e, e.buildID === e.cause.event.buildID, p.name])));
            """)
        #expect(run.printed == [#"["after","brigade","success","exec",{"commit":"abc123","ref":"master"},false,true,"brigadecore/empty-testbed"]"#])
        #expect(run.succeeded)
    }

    // 3.6/3.8: process.exitCode makes the after trigger `failure` and becomes the exit code
    @Test func exitCodeMakesAFailure() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => { process.exitCode = 3; });
            events.on('after', (e) => console.log('trigger', e.cause.trigger));
            """)
        #expect(run.printed == ["trigger failure"])
        #expect(run.outcome.exitCode == 3 && !run.succeeded)
    }

    // 3.7: after waits for all pending work, not the handler's promise; jobs from after run
    @Test func afterFiresWhenIdleAndCanRunJobs() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', () => { setTimeout(() => console.log('timer'), 20); });
            events.on('after', async () => { await new Job('cleanup', 'alpine', ['true']).run(); console.log('after job done'); });
            """)
        #expect(run.printed == ["timer", "after job done"])
        #expect(run.outcome.jobs.map(\.name) == ["cleanup"])
    }

    // 3.7: a rejection in an after handler fires error, with the main event as cause
    @Test func rejectionInAfterHandler() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => {});
            events.on('after', async () => { throw new Error('after failed'); });
            events.on('error', (e) => console.log('error caused by', e.cause.event.type, e.cause.reason.message));
            """)
        #expect(run.printed == ["error caused by exec after failed"])
        #expect(!run.succeeded)
    }

    // advanced-03: a caught failure does not fail the build
    @Test func caughtFailureIsNotAnError() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              try { await new Job('j2', 'alpine', ['exit 1']).run(); } catch (err) { console.log('Caught Exception ' + err); }
            });
            events.on('after', () => console.log('after'));
            """, runner: LocalRunnerFactory.make())
        let id = run.outcome.buildID
        #expect(run.printed == ["Caught Exception Error: job j2(j2-\(id)): Error: Pod j2-\(id) failed to run to completion", "after"])
        #expect(run.succeeded)
        #expect(run.outcome.jobs.first?.status == .failed && run.outcome.jobs.first?.exitCode == 1)
    }

    // The issue's list of broken scripts, one by one.

    @Test func syntaxError() async throws {
        let run = try await Harness.run("const { events } = require('brigadier');\nevents.on('exec', () => {\n")
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.outcome.reason?.contains("SyntaxError") == true)
        #expect(run.outcome.reason?.contains("brigade.js:3") == true)
        #expect(!run.contains("brigantine worker version"), "nothing after the failed load")
    }

    @Test func topLevelThrow() async throws {
        let run = try await Harness.run("require('brigadier').events.on('error', () => console.log('no error event'));\nthrow new Error('at the top');")
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.outcome.reason?.hasPrefix("the script could not be loaded: Error: at the top (") == true)
        #expect(run.printed.isEmpty)
        #expect(run.stderr.contains { $0.contains("brigade.js:2") })
    }

    @Test func infiniteLoopInHandler() async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', () => { while (true) {} });
            """, scriptTimeLimit: 0.3)
        #expect(!run.succeeded)
        #expect(run.outcome.reason?.contains("was stopped (an infinite loop?)") == true)
    }

    @Test func infiniteLoopInAsyncContinuation() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => { await new Job('first', 'alpine', ['true']).run(); for (;;) {} });
            """, scriptTimeLimit: 0.3)
        #expect(!run.succeeded)
        #expect(run.outcome.reason?.contains("was stopped") == true)
    }

    @Test func allocationBomb() async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', () => { const hoard = []; for (;;) hoard.push(new Array(1e5).fill(1.5)); });
            """, scriptTimeLimit: 30, scriptMemoryLimit: 64 << 20)
        #expect(!run.succeeded)
        #expect(run.outcome.reason == "script's memory grew past 64 MiB and it was stopped")
    }

    @Test func tooManyJobs() async throws {
        let run = try await Harness.run("""
            const { events, Job, Group } = require('brigadier');
            events.on('exec', () => Group.runAll(Array.from({ length: 10000 }, (_, i) => new Job('j' + i, 'alpine', ['true']))));
            """, buildTimeout: 240) // 1,000 jobs took over 60 s once, in a busy suite on a slower machine
        #expect(!run.succeeded)
        #expect(run.outcome.jobs.count == 1000)
        #expect(run.outcome.reason?.hasPrefix("unhandled rejection: Error: job j1000(j1000-") == true, "\(run.outcome.reason ?? "")")
        #expect(run.outcome.reason?.contains("this build already started 1000 jobs, its limit; this one was not started") == true)
    }

    @Test func throwInTimer() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => { setTimeout(() => { throw new Error('timer broke'); }, 5); });
            events.on('error', (e) => console.log('error event:', e.cause.trigger, e.cause.reason.message));
            """)
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.printed == ["error event: uncaughtException timer broke"])
        #expect(run.stderr.contains { $0.hasPrefix("[brigade:app] Uncaught Error: timer broke") })
    }

    @Test func missingSecretInEnv() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', (e, p) => {
              const j = new Job('deploy', 'alpine', ['deploy']);
              j.env = { API_TOKEN: p.secrets.API_TOKEN };
              return j.run();
            });
            """)
        #expect(!run.succeeded)
        #expect(run.outcome.reason?.contains("environment variable API_TOKEN is undefined (is a project secret missing?)") == true)
        #expect(run.outcome.jobs.isEmpty)
    }

    @Test func neverSettlingPromise() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', async () => { await new Promise(() => {}); console.log('never'); });
            events.on('after', (e) => console.log('after', e.cause.trigger));
            """)
        #expect(run.succeeded, "Brigade: the worker goes idle and after fires with success")
        #expect(run.printed == ["after success"])
        #expect(run.stderr.contains("[brigade:app] the 'exec' handler returned a promise that never settled; the build ended because nothing was left that could settle it"))
    }

    @Test func endlessIntervalHitsTheBuildTimeout() async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', () => { setInterval(() => {}, 10); });
            """, buildTimeout: 0.3)
        #expect(!run.succeeded)
        #expect(run.outcome.reason == "the build ran for more than 0.3 s and was stopped")
    }

    @Test func timedOutJobIsKilled() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              const j = new Job('sleepy', 'alpine', ['echo started', 'sleep 30']);
              j.timeout = 300;
              try { await j.run(); } catch (e) { console.log(e.message); console.log('logs:', (await j.logs()).trim()); }
            });
            """, runner: LocalRunnerFactory.make())
        let id = run.outcome.buildID
        #expect(run.printed == ["job sleepy(sleepy-\(id)): Error: time limit (300 ms) exceeded", "logs: started"])
        #expect(run.outcome.jobs.first?.status == .timedOut)
    }

    @Test func processExit() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => { console.log('leaving'); process.exit(4); });
            events.on('after', () => console.log('no after'));
            """)
        #expect(run.printed == ["leaving"])
        #expect(run.outcome.exitCode == 4 && !run.succeeded)
    }

    @Test func lifecycleEventsCannotBeTheMainEvent() async throws {
        let run = try await Harness.run("require('brigadier')", event: "error")
        #expect(!run.succeeded)
        #expect(run.outcome.reason == "'error' is a lifecycle event and cannot start a build")
    }

    @Test func errorHandlerThatThrows() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', () => Promise.reject(new Error('job failed')));
            events.on('error', () => { throw new Error('handler broke too'); });
            """)
        #expect(!run.succeeded && run.outcome.exitCode == 1)
        #expect(run.stderr.contains { $0.hasPrefix("[brigade:app] an error handler threw: Error: handler broke too") })
    }

    // 2.1: the event as scripts see it; the payload arrives byte for byte
    @Test func eventFieldsAndPayloadIntegrity() async throws {
        let payload = "{\"tag\": \"v1 – ünïcødé 🚀\",\r\n\t\"odd\":  \"  spaced\\u0000\" }\n\n  \u{0}tail\u{2028}"
        let run = try await Harness.run("""
            require('brigadier').events.on('image_push', (e, p) => {
              console.log(JSON.stringify(Object.keys(e)));
              console.log(e.type, e.provider, e.revision.commit, e.revision.ref, e.logLevel, e.workerID === 'brigade-worker-' + e.buildID);
              console.log(JSON.stringify(e.payload));
            });
            """, event: "image_push", payload: payload)
        #expect(run.printed.count == 3)
        #expect(run.printed.first == #"["buildID","workerID","type","provider","cloneURL","revision","logLevel","payload"]"#)
        #expect(run.printed.dropFirst().first == "image_push brigade-cli abc123 master 1 true")
        let received = try JSONDecoder().decode(String.self, from: Data(run.printed.last!.utf8))
        #expect(received == payload)
        #expect(run.outcome.buildID.count == 26 && run.outcome.buildID == run.outcome.buildID.lowercased())
    }

    @Test func projectAsScriptsSeeIt() async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', (e, p) => {
              const secrets = Object.fromEntries(Object.entries(p.secrets).sort());
              console.log(JSON.stringify([p.id, p.name, p.repo, p.kubernetes.namespace, p.kubernetes.buildStorageSize,
                                          secrets, p.allowPrivilegedJobs, p.allowHostMounts]));
            });
            """, project: {
                $0.secrets = ["hello": "world", "api": "key-value-that-is-masked"]
                $0.repo = .init(cloneURL: "https://github.com/brigadecore/empty-testbed.git")
            })
        #expect(run.printed == [#"["brigade-4897c99315be5d2a2403ea33bdcb24f8116dc69613d5917d879d5f","brigadecore/empty-testbed",{"name":"brigadecore/empty-testbed","cloneURL":"https://github.com/brigadecore/empty-testbed.git","initGitSubmodules":false},"default","50Mi",{"api":"***","hello":"***"},false,false]"#])
    }

    /// A clone URL's credentials are the project's secrets too: the script gets them, its
    /// output shows them masked.
    @Test func aCloneURLsCredentialsAreMaskedInTheLog() async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', (e, p) => {
              console.log(p.repo.cloneURL, JSON.stringify(p.repo));
              console.log('the script has it:', p.repo.cloneURL.includes('ghp-tok3n'));
            });
            """, project: { $0.repo = .init(cloneURL: "https://bot:ghp-tok3n-5e1f@github.com/acme/private.git") })
        #expect(run.printed == [
            #"https://bot:***@github.com/acme/private.git {"name":"brigadecore/empty-testbed","cloneURL":"https://bot:***@github.com/acme/private.git","initGitSubmodules":false}"#,
            "the script has it: true",
        ])
    }

    @Test func secretsAreMaskedInTheLog() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async (e, p) => {
              console.log('token is', p.secrets.TOKEN);
              const j = new Job('leaky', 'alpine', ['echo job sees $TOKEN']);
              j.env = { TOKEN: p.secrets.TOKEN };
              j.streamLogs = true;
              const result = await j.run();
              console.log('result has it:', result.toString().includes(p.secrets.TOKEN));
              throw new Error('failed with ' + p.secrets.TOKEN);
            });
            """, project: { $0.secrets = ["TOKEN": "hunter2-very-secret"] }, runner: LocalRunnerFactory.make())
        #expect(!run.text.contains("hunter2-very-secret"))
        #expect(run.printed.contains("token is ***"))
        #expect(run.printed.contains("result has it: true"), "the script itself still gets the real value")
        #expect(run.contains("logs job sees ***"))
    }

    // Log levels filter the worker's lines, never the script's.
    @Test(arguments: [LogLevel.all, .log, .info, .warn, .error, .none])
    func logLevels(_ level: LogLevel) async throws {
        let run = try await Harness.run("""
            require('brigadier').events.on('exec', () => { console.log('script'); console.error('script error'); });
            """, level: level)
        #expect(run.printed == ["script"])
        #expect(run.stderr.contains("script error"))
        #expect(run.contains("brigantine worker version") == (level <= .log))
        #expect(run.contains("after: default event handler fired") == (level <= .info))
    }
}

@Suite struct CancellationTests {
    @Test func cancelStopsTheBuildAndItsJobs() async throws {
        let directory = try Harness.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("brigade.js")
        try """
            const { events, Job } = require('brigadier');
            events.on('exec', () => new Job('sleeper', 'alpine',
              ['echo $$ > \(directory.path)/job.pid', 'echo started', 'sleep 30', 'touch \(directory.path)/finished']).run());
            """.write(to: script, atomically: true, encoding: .utf8)
        let request = BuildRequest(
            project: .local(directory: directory.path), eventType: "exec", provider: "test",
            script: .file(path: script.path), moduleRoot: directory.path)
        let log = BuildLog { _ in }
        let worker = BuildWorker(request: request, runner: LocalRunnerFactory.make(), log: log,
                                 settings: WorkerSettings(workRoot: directory.appendingPathComponent("work")))
        async let outcome = worker.run()
        // Once the job runs (its shell has written its pid): a fixed pause was too short when
        // the suite's start kept the machine busy, and the job had not started yet.
        let pidFile = directory.appendingPathComponent("job.pid").path
        for _ in 0..<600 where (try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") != true {
            try await Task.sleep(for: .milliseconds(50))
        }
        worker.cancel(reason: "operator asked")
        let result = await outcome
        #expect(result.status == .failed)
        #expect(result.reason == "the build was stopped: operator asked")
        // Killed, not waited for: the job never got past its sleep, and its shell is gone.
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("finished").path), "the 30 s job was killed")
        let pid = try #require(Int32(try String(contentsOf: directory.appendingPathComponent("job.pid"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the job's shell is no longer running")
    }
}
