import BrigantineCore
import Foundation
@testable import JobRunners
import Synchronization
import Testing
import TestSupport
import Worker

/// The container runner against a real dockerd, and the tests of what every engine must do
/// against Podman's compatible service too: jobs run inside their image.
@Suite(.serialized, .enabled(if: TestEngine.available, Comment(rawValue: TestEngine.unavailableReason)))
struct ContainerRunnerTests {
    /// Runs `script` as a build with the container runner of `engine`.
    func build(_ script: String, engine: TestEngine, project configure: (inout Project) -> Void = { _ in },
               buildID: String = ULID.make(), source: URL? = nil) async throws -> (outcome: BuildOutcome, lines: [String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("container-build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptFile = directory.appendingPathComponent("brigade.js")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        var project = Project(name: "acme/containers", directory: directory.path)
        // These builds take seconds; one the engine stalls fails in minutes, not the default hour.
        project.buildTimeout = 300
        configure(&project)
        let lines = Mutex<[String]>([])
        let log = BuildLog(level: .all, redactor: project.redactor) { line in lines.withLock { $0.append(line.text) } }
        let runner = try await ContainerRunner.connect(socket: engine.socket).forProject(project)
        let worker = BuildWorker(
            request: BuildRequest(buildID: buildID, project: project, eventType: "exec", provider: "test",
                                  script: .file(path: scriptFile.path), moduleRoot: directory.path, sourceDirectory: source),
            runner: runner, log: log, settings: WorkerSettings(workRoot: directory.appendingPathComponent("work")))
        let outcome = await worker.run()
        return (outcome, lines.withLock { $0 })
    }

    @Test(arguments: TestEngine.kinds) func jobsRunInTheirImageAndTheirOutputIsTheResult(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let run = try await build("""
                const { events, Job } = require('brigadier');
                events.on('exec', async () => {
                  const j = new Job('hello', 'localhost/busybox:test', ['echo "hello from $GREETING"', 'echo to-stderr >&2', 'echo "$0"', 'cat /etc/passwd | wc -l']);
                  j.env = { GREETING: 'the image', EMPTY: null };
                  // stdout and stderr are separate pipes: their relative order is not kept.
                  console.log('LINES', (await j.run()).toString().split('\\n').sort().join('|'));
                  const a = new Job('args', 'localhost/busybox:test');
                  a.args = ['echo', 'from', 'args'];
                  console.log((await a.run()).toString().trim());
                });
                """, engine: engine)
            #expect(run.outcome.status == .succeeded, "\(run.lines)")
            #expect(run.lines.contains("LINES |/bin/sh|1|hello from the image|to-stderr"))
            #expect(run.lines.contains("from args"))
            #expect(try await engine.managedContainers().isEmpty, "containers are removed after their jobs")
        }
    }

    @Test(arguments: TestEngine.kinds) func failuresTimeoutsAndMissingImages(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let run = try await build("""
                const { events, Job } = require('brigadier');
                events.on('exec', async () => {
                  const attempts = [
                    new Job('exits', 'localhost/busybox:test', ['echo before', 'exit 3', 'echo after']),
                    // The timeout counts from the job's start, its container's create and start included.
                    Object.assign(new Job('slow', 'localhost/busybox:test', ['echo started', 'sleep 30']), { timeout: 6000 }),
                    new Job('missing', 'nowhere.invalid/nothing:1', ['true']),
                    new Job('noimage', '', ['true']),
                  ];
                  for (const job of attempts) {
                    try { await job.run(); console.log(job.name, 'succeeded?'); }
                    catch (e) { console.log('REJECTED', e.message, '|', JSON.stringify(await job.logs())); }
                  }
                });
                """, engine: engine)
            let id = run.outcome.buildID
            let rejected = run.lines.filter { $0.hasPrefix("REJECTED") }
            #expect(rejected.count == 4, "\(run.lines)")
            #expect(rejected[0] == #"REJECTED job exits(exits-\#(id)): Error: Pod exits-\#(id) failed to run to completion | "before\n""#)
            #expect(rejected[1] == #"REJECTED job slow(slow-\#(id)): Error: time limit (6000 ms) exceeded | "started\n""#)
            #expect(rejected[2].hasPrefix("REJECTED job missing(missing-\(id)): Error: image nowhere.invalid/nothing:1 is not available: it is not in the engine and could not be pulled ("))
            #expect(rejected[3].hasPrefix("REJECTED job noimage(noimage-\(id)): Error: job noimage has no image"))
            #expect(try await engine.managedContainers().isEmpty)
        }
    }

    @Test(arguments: TestEngine.kinds) func sharedStorageCacheAndParallelJobs(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let script = """
                const { events, Job, Group } = require('brigadier');
                const image = 'alpine:3.18';
                events.on('exec', async (e) => {
                  const write = new Job('write', image, ['echo shared-by-$BUILD > /mnt/brigade/share/note']);
                  const read = new Job('read', image, ['cat /mnt/brigade/share/note']);
                  const cache = new Job('cache', image, ['echo $BUILD >> /mnt/brigade/cache/builds', 'cat /mnt/brigade/cache/builds']);
                  for (const j of [write, read]) { j.storage.enabled = true; j.env = { BUILD: e.buildID }; }
                  cache.cache.enabled = true; cache.env = { BUILD: e.buildID };
                  const [, shared] = await Group.runEach([write, read]);
                  console.log('SHARED', shared.toString().trim());
                  console.log('CACHE', (await cache.run()).toString().trim().split('\\n').join(','));
                  // Two jobs that each note when they ran; run in parallel, their intervals overlap.
                  const timed = ['left', 'right'].map((name) => Object.assign(new Job(name, image,
                    ['date +%s > /mnt/brigade/share/' + name + '.start', 'sleep 2', 'date +%s > /mnt/brigade/share/' + name + '.end']),
                    { storage: Object.assign(new Job('x').storage, { enabled: true }) }));
                  await Group.runAll(timed);
                  const times = new Job('times', image, ['cat /mnt/brigade/share/left.start /mnt/brigade/share/left.end /mnt/brigade/share/right.start /mnt/brigade/share/right.end']);
                  times.storage.enabled = true;
                  console.log('TIMES', (await times.run()).toString().trim().split('\\n').join(','));
                });
                """
            let first = try await build(script, engine: engine)
            let second = try await build(script, engine: engine)
            #expect(first.outcome.status == .succeeded, "\(first.lines)")
            #expect(first.lines.contains("SHARED shared-by-\(first.outcome.buildID)"))
            #expect(second.lines.contains("CACHE \(first.outcome.buildID),\(second.outcome.buildID)"), "the cache outlives a build")
            let times = try #require(second.lines.first { $0.hasPrefix("TIMES ") }).dropFirst(6).split(separator: ",").compactMap { Int($0) }
            try #require(times.count == 4)
            #expect(times[0] < times[3] && times[2] < times[1], "left and right ran at the same time: \(times)")
            #expect(!(try await engine.volumes()).contains { $0.hasPrefix("brigantine-build-") }, "build volumes are removed with their build")
            #expect(try await engine.volumes().contains("brigantine-cache-acme-containers-cache"))
        }
    }

    /// Jobs get a copy of the build's source at their mountPath, each its own, as Brigade's
    /// VCS sidecar cloned the repository for each job.
    @Test(arguments: TestEngine.kinds) func jobsSeeTheSourceAtTheirMountPath(engine kind: TestEngine.Kind) async throws {
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("container-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("hello"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: source) }
        try "hello from the repository\n".write(to: source.appendingPathComponent("hello/README"), atomically: true, encoding: .utf8)
        try await TestEngine.with(kind) { engine in
            let run = try await build("""
                const { events, Job } = require('brigadier');
                const image = 'alpine:3.18';
                events.on('exec', async () => {
                  const change = new Job('change', image, ['cat /src/hello/README', 'echo changed > /src/hello/README']);
                  console.log('FIRST', (await change.run()).toString().trim());
                  console.log('SECOND', (await new Job('again', image, ['cat /src/hello/README']).run()).toString().trim());
                  const moved = new Job('moved', image, ['cat /code/hello/README']);
                  moved.mountPath = '/code';
                  console.log('MOVED', (await moved.run()).toString().trim());
                  const none = new Job('none', image, ['test -e /src/hello && echo has || echo none']);
                  none.useSource = false;
                  console.log('NONE', (await none.run()).toString().trim());
                });
                """, engine: engine, source: source)
            #expect(run.outcome.status == .succeeded, "\(run.lines)")
            for expected in ["FIRST hello from the repository", "SECOND hello from the repository",
                             "MOVED hello from the repository", "NONE none"] {
                #expect(run.lines.contains(expected), "\(expected): \(run.lines)")
            }
            #expect(try String(contentsOf: source.appendingPathComponent("hello/README"), encoding: .utf8) == "hello from the repository\n")
        }
    }

    /// A private image is pulled with the project's credential for its registry (a real
    /// registry asking for a password); without one, or with a wrong one, the job fails
    /// saying why, and the password is in no log line.
    @Test(.enabled(if: TestRegistry.available, Comment(rawValue: TestRegistry.unavailableReason)), arguments: TestEngine.kinds)
    func privateImagesArePulledWithTheProjectsCredential(engine kind: TestEngine.Kind) async throws {
        let password = "registry-pa55word-for-tests"
        try await TestRegistry.with(username: "brig", password: password) { registry in
            try await TestEngine.with(kind, insecureRegistries: [registry.host]) { engine in
                let image = "\(registry.host)/private/busybox:1"
                let auth = ContainerRunner.registryAuth(.init(username: "brig", password: password), host: registry.host)
                let repository = "\(registry.host)/private/busybox".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                try await engine.curl(["-X", "POST", "http://engine/v1.41/images/localhost/busybox:test/tag?repo=\(repository)&tag=1"])
                let pushed = try await engine.curl(["-X", "POST", "-H", "X-Registry-Auth: \(auth)", "http://engine/v1.41/images/\(image.dropLast(2))/push?tag=1"])
                #expect(!pushed.contains("\"error\""), "\(pushed)")
                try await engine.curl(["-X", "DELETE", "http://engine/v1.41/images/\(image)"]) // so that a job must pull it
                let script = """
                    const { events, Job } = require('brigadier');
                    events.on('exec', async () => console.log('RAN', (await new Job('private', '\(image)', ['echo pulled']).run()).toString().trim()));
                    """
                let without = try await build(script, engine: engine)
                #expect(without.outcome.status == .failed)
                #expect(without.lines.contains { $0.contains("image \(image) is not available") && $0.contains("the project has no credential for \(registry.host)") },
                        "\(without.lines)")
                let wrong = try await build(script, engine: engine) { $0.registries = [registry.host: .init(username: "brig", password: "wrong-password")] }
                #expect(wrong.outcome.status == .failed)
                #expect(wrong.lines.contains { $0.contains("image \(image) is not available") && !$0.contains("no credential") }, "\(wrong.lines)")
                let with = try await build(script, engine: engine) { $0.registries = [registry.host: .init(username: "brig", password: password)] }
                #expect(with.outcome.status == .succeeded, "\(with.lines)")
                #expect(with.lines.contains("RAN pulled"))
                #expect(with.lines.contains { $0.contains("Pulling image \(image) as brig (the project's credential for \(registry.host))") })
                #expect(!(without.lines + wrong.lines + with.lines).contains { $0.contains(password) || $0.contains("wrong-password") })
            }
        }
    }

    @Test(arguments: TestEngine.kinds) func privilegeAndNetworkFollowTheProject(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let script = """
                const { events, Job } = require('brigadier');
                events.on('exec', async () => {
                  const j = new Job('probe', 'localhost/busybox:test', ['ls /sys/class/net | wc -l', 'cat /proc/self/status | grep CapEff']);
                  j.privileged = true;
                  console.log('PROBE', (await j.run()).toString().trim().split('\\n').join(' '));
                });
                """
            let unprivileged = try await build(script, engine: engine)
            let privileged = try await build(script, engine: engine) { $0.allowPrivilegedJobs = true }
            let probe = { (lines: [String]) in lines.first { $0.hasPrefix("PROBE ") } ?? "" }
            #expect(probe(unprivileged.lines).hasPrefix("PROBE 1 CapEff:"), "only the loopback device: no network")
            #expect(probe(unprivileged.lines) != probe(privileged.lines), "privileged only where the project allows it")
        }
    }

    @Test(arguments: TestEngine.kinds) func resourceLimitsReachTheEngine(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let run = try await build("""
                const { events, Job } = require('brigadier');
                events.on('exec', async () => {
                  const j = new Job('limited', 'localhost/busybox:test', [
                    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
                    'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max']);
                  j.resourceLimits.memory = '64Mi';
                  j.resourceLimits.cpu = '500m';
                  console.log('LIMITS', (await j.run()).toString().trim().split('\\n').join(' '));
                });
                """, engine: engine)
            #expect(run.lines.contains("LIMITS 67108864 50000"), "\(run.lines)")
        }
    }

    @Test func theDockerHubSampleTestsThePushedImageInsideIt() async throws {
        try await TestEngine.with { engine in
            let result = try await Brig.run(["run", "-f", "samples/dockerhub/brigade.js", "-e", "image_push", "-p", "samples/dockerhub/payload.json",
                                       "--runner", "container", "--engine-socket", engine.socket])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.printed == [
                "pushed svendowideit/testhook:latest by trustedbuilder",
                "test-image: testing svendowideit/testhook:latest",
                "test-image: 2 checks passed",
            ])
            #expect(result.stdout.contains("[brigade:container] Creating container for test-image-"))
        }
    }

    @Test(arguments: TestEngine.kinds) func leftoversOfAKilledBrigAreRemovedByTheNextRunner(engine kind: TestEngine.Kind) async throws {
        try await TestEngine.with(kind) { engine in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("leftover-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let script = directory.appendingPathComponent("brigade.js")
            try "require('brigadier').events.on('exec', () => new (require('brigadier').Job)('stuck', 'localhost/busybox:test', ['sleep 120']).run());"
                .write(to: script, atomically: true, encoding: .utf8)
            let brig = Process()
            brig.executableURL = Brig.executable
            brig.arguments = ["run", "-f", script.path, "--runner", "container", "--engine-socket", engine.socket, "--data", directory.path]
            brig.standardOutput = FileHandle.nullDevice
            brig.standardError = FileHandle.nullDevice
            let exited = try brig.start()
            for _ in 0..<300 {
                guard try await engine.managedContainers().isEmpty else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await engine.managedContainers().count == 1, "the job's container runs")
            kill(brig.processIdentifier, SIGKILL)
            await exited.wait()
            #expect(try await engine.managedContainers().count == 1, "a killed brig leaves its container behind")
            _ = try await ContainerRunner.connect(socket: engine.socket)
            #expect(try await engine.managedContainers().isEmpty, "the next runner removed it")
        }
    }

    @Test func aMissingEngineIsAClearError() async throws {
        let result = try await Brig.run(["run", "-f", "samples/dockerhub/brigade.js", "--runner", "container", "--engine-socket", "/tmp/no-engine-here.sock"])
        #expect(result.status == 1)
        #expect(result.stderr == "Error: no container engine answers at /tmp/no-engine-here.sock (start dockerd, or `podman system service`, or pass its socket)\n")
    }
}
