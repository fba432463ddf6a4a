import BrigantineCore
import Foundation
import JobRunners
import Testing

/// Spec 8.4 (brigadier's Job), 1.5 (fields, defaults, run) and the behaviour behind 8.7.
@Suite struct JobTests {
    // items 28–29, and 8.9's single-character and dotted names
    @Test(arguments: ["abcdef", "ab", "a-b", "a-9", "a12345678b", "a.b", "a", "1", "9a", "a..b", "a--b", String(repeating: "a", count: 36)])
    func validNames(_ name: String) throws {
        let context = try Harness.brigadierContext()
        #expect(try context.evaluate("String(job.jobNameIsValid('\(name)'))", with: ["job": "job.js"]) == "true")
    }

    @Test(arguments: ["ab-", "-ab", "a_b", "ab.", "A-B", "", "a/b", "ä", String(repeating: "a", count: 37)])
    func invalidNames(_ name: String) throws {
        let context = try Harness.brigadierContext()
        let text = try context.evaluate("""
            String(job.jobNameIsValid('\(name)')) + ' ' + (() => { try { new job.Job('\(name)'); return 'built'; } catch (e) { return e.message; } })()
            """, with: ["job": "job.js"])
        #expect(text == "false job name must be lowercase letters, numbers, and '-', and must not start or end with '-', having max length 36")
    }

    @Test func constructorArgumentErrors() throws {
        let context = try Harness.brigadierContext()
        let text = try context.evaluate("""
            [undefined, null, 5].map((name) => { try { new job.Job(name); return 'built'; } catch (e) { return e.constructor.name; } }).join(' ')
            """, with: ["job": "job.js"])
        #expect(text == "TypeError TypeError Error")
    }

    // items 30–46 and the defaults of 1.5.2
    @Test func defaults() throws {
        let context = try Harness.brigadierContext()
        let text = try context.evaluate("""
            const c = new job.JobCache(), s = new job.JobStorage(), h = new job.JobHost();
            c.path = '/foo'; s.path = '/bar'; h.nodeSelector.set('k', 'v');
            const j = new job.Job('my-name');
            const k = new job.Job('other', 'alpine:3.18', ['echo hi'], true);
            k.serviceAccount = 'builder';
            j.annotations['example.com/owner'] = 'me';
            j.volumes.push({ name: 'host', hostPath: { path: '/some/path', type: 'Directory' } });
            j.volumeMounts.push({ name: 'host', mountPath: '/mnt/host' });
            JSON.stringify([
              new job.JobCache(), c.path, new job.JobStorage(), s.path, h.nodeSelector.get('k'),
              j.name, j.host.nodeSelector.size, j.image, j.tasks, j.args, j.env, j.shell, j.timeout,
              j.imageForcePull, j.imagePullSecrets, j.mountPath, j.useSource, j.privileged, j.podName,
              j.cache.enabled, j.storage.enabled, j.docker.enabled, j.resourceRequests, j.resourceLimits,
              j.annotations, j.volumes, j.volumeMounts, j.streamLogs, job.Job.MAX_JOB_NAME_LENGTH,
              k.image, k.imageForcePull, k.tasks, k.serviceAccount])
            """, with: ["job": "job.js"])
        #expect(text == #"""
            [{"enabled":false,"size":"5Mi","path":"/mnt/brigade/cache"},"/foo",{"enabled":false,"path":"/mnt/brigade/share"},"/bar","v","my-name",0,"",[],[],{},"/bin/sh",900000,false,[],"/src",true,false,"",false,false,false,{},{},{"example.com/owner":"me"},[{"name":"host","hostPath":{"path":"/some/path","type":"Directory"}}],[{"name":"host","mountPath":"/mnt/host"}],false,36,"alpine:3.18",true,["echo hi"],"builder"]
            """#)
    }

    // item 42 and 1.5.3: podName is <name>-<buildID>; Result.toString() is the whole output
    @Test func runSetsPodNameAndResolvesResult() async throws {
        let runner = RecordingRunner { JobOutput(output: "out of \($0.podName)\n", exitCode: 0) }
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async (e) => {
              const j = new Job('hello', 'alpine');
              j.tasks = ['echo hi'];
              await new Job('a..b', 'alpine', ['true']).run();
              const pending = j.run();
              console.log(j.podName === 'hello-' + e.buildID);
              const result = await pending;
              console.log(JSON.stringify(result.toString()), JSON.stringify(String(result)), result.data === result.toString());
            });
            """, runner: runner)
        let pod = "hello-\(run.outcome.buildID)"
        #expect(run.printed == ["true", #""out of \#(pod)\n" "out of \#(pod)\n" true"#])
        #expect(run.outcome.jobs.map(\.status) == [.succeeded, .succeeded])
    }

    /// The build's records keep at most its log limit of job output, all jobs together, and
    /// say where they stop; the script still gets each job's whole Result. Before, every
    /// record kept all (up to 16 MiB a job, 1,000 jobs) until the build ended.
    @Test func recordsKeepABoundedShareOfJobOutput() async throws {
        let runner = RecordingRunner { _ in JobOutput(output: String(repeating: "o", count: 400), exitCode: 0) }
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              for (let i = 0; i < 4; i++) {
                const job = new Job('j' + i, 'alpine', ['true']);
                console.log((await job.run()).toString().length, (await job.logs()).length);
              }
            });
            """, runner: runner, maxLogBytes: 1000)
        func cut(keeping kept: Int) -> String {
            String(repeating: "o", count: kept) + "\n[brigantine: \(400 - kept) more bytes of this job's output were not kept:"
                + " the build's jobs kept 1000 bytes of output]\n"
        }
        let whole = String(repeating: "o", count: 400)
        #expect(run.outcome.jobs.map(\.output) == [whole, whole, cut(keeping: 200), cut(keeping: 0)])
        #expect(run.printed == ["400 400", "400 400", "400 \(cut(keeping: 200).count)", "400 \(cut(keeping: 0).count)"])
    }

    /// brigadier's messages about what a script does count toward the output limits, as the
    /// script's own output does: a loop of jobs asking to be privileged logged 130,000
    /// warnings in 10 s, without a limit. The worker's own messages are still kept.
    @Test func brigadiersMessagesCountAsOutput() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', () => {
              for (let i = 0; i < 5000; i++) { const j = new Job('a', 'alpine', ['true']); j.privileged = true; j.run().catch(() => {}); }
            });
            """, maxLogBytes: 10_000)
        let warnings = run.stderr.filter { $0.contains("asks to be privileged") }.count
        #expect(warnings > 10 && warnings < 200, "\(warnings) warnings")
        #expect(run.stderr.contains("[brigade] the build's output reached its limit of 10000 bytes; later output is dropped"))
        #expect(run.outcome.jobs.count == 1000)
    }

    // 1.5.3 step 6: Brigade's rejection shape
    @Test func failureShapes() async throws {
        let runner = RecordingRunner { job in
            switch job.name {
            case "times-out": throw JobFailure.timedOut(milliseconds: 1500, output: "")
            default: throw JobFailure.failed(podName: job.podName, exitCode: 3, output: "")
            }
        }
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              for (const name of ['exits', 'times-out']) {
                try { await new Job(name, 'alpine', ['true']).run(); } catch (e) { console.log(e.message); }
              }
            });
            """, runner: runner)
        let id = run.outcome.buildID
        #expect(run.printed == [
            "job exits(exits-\(id)): Error: Pod exits-\(id) failed to run to completion",
            "job times-out(times-out-\(id)): Error: time limit (1500 ms) exceeded",
        ])
        #expect(run.stderr.contains { $0.contains("Error: Pod exits-\(id) failed to run to completion") })
    }

    // items 68–71, 75–77, 88–89, 103–108: what a job hands to the runner
    @Test func specHandedToTheRunner() async throws {
        let runner = RecordingRunner()
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', (e, p) => {
              const j = new Job('MAPPED'.toLowerCase(), 'alpine:3.18', ['echo one', 'echo two']);
              j.env = { PLAIN: 'value', EMPTY: null, TOKEN: p.secrets.TOKEN, REF: { secretKeyRef: { name: 'x', key: 'TOKEN' } },
                        CM: { configMapKeyRef: { name: 'cm', key: 'k' } } };
              j.resourceRequests.cpu = '250m'; j.resourceLimits.memory = '128Mi';
              j.imagePullSecrets = ['first', 'second'];
              j.host.os = 'linux'; j.host.name = 'node-1'; j.host.nodeSelector.set('disk', 'ssd');
              j.cache.enabled = true; j.cache.path = '/cache'; j.storage.enabled = true;
              j.privileged = true; j.docker.enabled = true; j.streamLogs = true; j.timeout = 0;
              j.shell = '/bin/bash';
              const a = new Job('args-only', 'alpine');
              a.args = ['--version', '-v', 'x'];
              return Promise.all([j.run(), a.run()]);
            });
            """, project: { $0.secrets = ["TOKEN": "s3cr3t-token"] }, runner: runner)
        #expect(run.succeeded)
        let jobs = runner.jobs
        try #require(jobs.count == 2)
        let mapped = jobs[0]
        #expect(mapped.env == [
            .init(name: "PLAIN", value: "value"), .init(name: "EMPTY", value: ""), .init(name: "TOKEN", value: "s3cr3t-token"),
        ])
        #expect(run.contains("[brigade:recording] Using secretKeyRef is not allowed in this project, not setting environment variable REF"))
        #expect(run.contains("not setting environment variable CM"))
        #expect(mapped.resourceRequests == .init(cpu: "250m") && mapped.resourceLimits == .init(memory: "128Mi"))
        #expect(mapped.imagePullSecrets == ["first", "second"])
        #expect(mapped.host.os == "linux" && mapped.host.name == "node-1" && mapped.host.nodeSelector == [["disk", "ssd"]])
        #expect(mapped.cache.enabled && mapped.cache.size == "5Mi" && mapped.cache.path == "/cache" && mapped.storage.enabled)
        #expect(mapped.cacheName(project: "brigadecore/empty-testbed") == "brigadecore-empty-testbed-mapped")
        #expect(!mapped.privileged && !mapped.dockerSocket, "the project allows neither")
        #expect(mapped.timeout == 60000, "Brigade: timeout || 60000")
        #expect(mapped.script == "#!/bin/bash\n\nset -eo pipefail\n\necho one\necho two")
        #expect(jobs[1].args == ["--version", "-v", "x"] && jobs[1].tasks.isEmpty && jobs[1].script == nil)
    }

    @Test func projectPolicyAllowsPrivilegedDockerAndSecretKeyRef() async throws {
        let runner = RecordingRunner()
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', (e, p) => {
              p.allowPrivilegedJobs = false; // the script cannot change its policy either way
              const j = new Job('privileged', 'docker:dind', ['true']);
              j.privileged = true; j.docker.enabled = true;
              j.env = { REF: { secretKeyRef: { name: 'x', key: 'TOKEN' } } };
              j.volumes = [{ name: 'host', hostPath: { path: '/var/lib' } }];
              j.volumeMounts = [{ name: 'host', mountPath: '/host' }];
              return j.run();
            });
            """, project: {
                $0.allowPrivilegedJobs = true
                $0.allowHostMounts = true
                $0.allowSecretKeyRef = true
                $0.secrets = ["TOKEN": "from-the-project"]
            }, runner: runner)
        #expect(run.succeeded)
        #expect(runner.jobs.first?.privileged == true && runner.jobs.first?.dockerSocket == true)
        #expect(runner.jobs.first?.env == [.init(name: "REF", value: "from-the-project")])
    }

    // items 92 and 102, 1.5.7: problems Brigade threw synchronously from run()
    @Test func synchronousRunErrors() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', (e, p) => {
              const attempts = {
                hostPath: (j) => { j.volumes = [{ name: 'h', hostPath: { path: '/some/path' } }]; },
                undefinedMount: (j) => { j.volumeMounts = [{ name: 'mock-volume', mountPath: '/x' }]; },
                missingSecret: (j) => { j.env = { TOKEN: p.secrets.NOPE }; },
                renamed: (j) => { j.name = '../escape'; },
              };
              for (const [what, setUp] of Object.entries(attempts)) {
                const j = new Job('sync', 'alpine', ['true']);
                setUp(j);
                try { j.run(); console.log(what, 'did not throw'); } catch (e) { console.log(what, e.message); }
              }
              const j = new Job('numeric', 'alpine', ['true']);
              j.env = { PORT: 8080 };
              j.run().catch((e) => console.log('numeric', e.message));
            });
            """)
        #expect(run.printed == [
            "hostPath allowHostMounts is false in this project, not mounting /some/path",
            "undefinedMount volume mock-volume referenced in volume mount is not defined",
            "missingSecret job sync: environment variable TOKEN is undefined (is a project secret missing?)",
            "renamed job name must be lowercase letters, numbers, and '-', and must not start or end with '-', having max length 36",
            "numeric job numeric(numeric-\(run.outcome.buildID)): Error: environment variable PORT must be a string, not a number",
        ])
    }

    // 1.5.10: logs() before run() is an error; after it, the job's output
    @Test func logsBeforeAndAfterRun() async throws {
        let run = try await Harness.run("""
            const { events, Job } = require('brigadier');
            events.on('exec', async () => {
              const j = new Job('logged', 'alpine', ['echo hi']);
              try { j.logs(); } catch (e) { console.log(e.constructor.name, e.message); }
              await j.run();
              console.log(await j.logs());
            });
            """, runner: RecordingRunner { _ in JobOutput(output: "the whole log", exitCode: 0) })
        #expect(run.printed == ["TypeError job logged has not been run: call run() before logs()", "the whole log"])
    }

    // 1.5.4: jobs belong to the event fired by the module-level fire()
    @Test func runNeedsAnEventWithARevision() async throws {
        let run = try await Harness.run("""
            const { events, fire, Job } = require('brigadier');
            try { new Job('early', 'alpine').run(); } catch (e) { console.log('top level:', e.constructor.name); }
            events.on('exec', (e, p) => {
              fire({ type: 'custom' }, p);
              try { new Job('late', 'alpine').run(); } catch (e) { console.log('after fire:', e.constructor.name); }
            });
            """)
        #expect(run.printed == ["top level: TypeError", "after fire: TypeError"])
    }
}
