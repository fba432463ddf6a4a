import BrigantineCore
import Foundation
import Glibc
@testable import JobRunners
import Synchronization
import Testing
import TestSupport

/// A job spec as job.js would hand it over, with Brigade's defaults.
func makeJob(_ name: String, tasks: [String], shell: String = "/bin/sh", buildID: String = "b1",
             configure: (inout JobSpec) -> Void = { _ in }) -> JobSpec {
    var job = JobSpec(name: name, podName: "\(name)-\(buildID)", image: "alpine:3.18", tasks: tasks, shell: shell)
    configure(&job)
    return job
}

/// A scratch build: its directory, a log that keeps its lines, and a runner.
final class Scratch: Sendable {
    let root: URL
    let lines = Mutex<[LogLine]>([])
    let runner: LocalRunner

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        runner = LocalRunner(cacheRoot: root.appendingPathComponent("cache"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func context(build: String = "b1", project: String = "acme/web.site", source: URL? = nil) -> JobContext {
        JobContext(buildID: build, projectName: project, projectID: ProjectID.of(project),
                   buildDirectory: root.appendingPathComponent("builds/\(build)"),
                   log: BuildLog(level: .all) { [weak self] line in self?.lines.withLock { $0.append(line) } },
                   source: source)
    }

    var logText: String { lines.withLock { $0.map(\.text).joined(separator: "\n") } }
}

@Suite struct TaskScriptTests {
    // spec 8.7 items 77–80 and 1.5.6
    @Test func brigadesScriptShapes() {
        #expect(makeJob("j", tasks: ["echo 'foo'"]).script == "#!/bin/sh\n\nset -e\n\necho 'foo'")
        #expect(makeJob("j", tasks: ["echo 'foo'"], shell: "/bin/bash").script == "#!/bin/bash\n\nset -eo pipefail\n\necho 'foo'")
        #expect(makeJob("j", tasks: ["echo 'foo'", "echo bar"], shell: "/bin/dash").script == "#!/bin/dash\n\necho 'foo'\necho bar")
        #expect(makeJob("j", tasks: ["true"], shell: "").script == "#!\n\ntrue")
        #expect(makeJob("j", tasks: ["true"], shell: "").interpreter == "/bin/sh")
        #expect(makeJob("j", tasks: []).script == nil)
    }

    @Test func cacheNames() {
        #expect(makeJob("build", tasks: []).cacheName(project: "github.com/Acme/web") == "github-com-acme-web-build")
    }
}

@Suite struct LocalRunnerTests {
    @Test func runsTasksWithSetE() async throws {
        let scratch = try Scratch()
        let job = makeJob("hello", tasks: ["echo hello", "false", "echo never"])
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            guard case JobFailure.failed(let pod, let code, let output) = error else { return false }
            return pod == "hello-b1" && code == 1 && output == "hello\n"
                && "\(error)" == "Pod hello-b1 failed to run to completion"
        }
        #expect(scratch.logText.contains("hello-b1 failed with exit code 1"))
        #expect(scratch.logText.contains("  hello"), "the failed job's last lines are logged")
    }

    @Test func bashPipefail() async throws {
        let scratch = try Scratch()
        let job = makeJob("pipes", tasks: ["false | cat", "echo never"], shell: "/bin/bash")
        await #expect(throws: JobFailure.self) { try await scratch.runner.run(job, in: scratch.context()) }
        let sh = makeJob("pipes-sh", tasks: ["false | cat", "echo reached"])
        #expect(try await scratch.runner.run(sh, in: scratch.context()).output == "reached\n")
    }

    @Test func environmentIsTheJobsOwn() async throws {
        let scratch = try Scratch()
        setenv("BRIGANTINE_HOST_ONLY", "should-not-leak", 1)
        let job = makeJob("env", tasks: ["env | sort"]) {
            $0.env = [.init(name: "GREETING", value: "hi there"), .init(name: "EMPTY", value: "")]
        }
        let output = try await scratch.runner.run(job, in: scratch.context()).output
        let names = output.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) }
        #expect(Set(names).isSuperset(of: ["GREETING", "EMPTY", "PATH", "HOME", "TMPDIR", "LANG"]))
        #expect(output.contains("GREETING=hi there\n") && output.contains("EMPTY=\n"))
        #expect(!output.contains("BRIGANTINE_HOST_ONLY"))
        #expect(output.contains("HOME=\(scratch.root.path)/builds/b1/jobs/env-b1\n"))
    }

    @Test func sharedStorageBetweenJobsOfABuild() async throws {
        let scratch = try Scratch()
        let context = scratch.context()
        let write = makeJob("write", tasks: ["echo from-first > /mnt/brigade/share/note"]) { $0.storage.enabled = true }
        let read = makeJob("read", tasks: ["cat /mnt/brigade/share/note", "echo $BRIGADE_STORAGE"]) { $0.storage.enabled = true }
        _ = try await scratch.runner.run(write, in: context)
        let output = try await scratch.runner.run(read, in: context).output
        #expect(output == "from-first\n\(context.sharedStorage.path)\n")
        let custom = makeJob("custom", tasks: ["cat /data/note"]) { $0.storage.enabled = true; $0.storage.path = "/data" }
        #expect(try await scratch.runner.run(custom, in: context).output == "from-first\n")
    }

    /// Each job with `useSource` gets its own copy of the build's source at its mountPath,
    /// as each Brigade job got a fresh clone; the path is rewritten only where it stands alone.
    @Test func eachJobGetsItsOwnCopyOfTheSource() async throws {
        let scratch = try Scratch()
        let source = scratch.root.appendingPathComponent("checkout")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("app"), withIntermediateDirectories: true)
        try "original\n".write(to: source.appendingPathComponent("app/VERSION"), atomically: true, encoding: .utf8)
        let context = scratch.context(source: source)
        let change = makeJob("change", tasks: ["cat /src/app/VERSION", "echo changed > /src/app/VERSION", "echo \"$WHERE\""]) {
            $0.env = [.init(name: "WHERE", value: "/src/app")]
        }
        let output = try await scratch.runner.run(change, in: context).output
        let copy = scratch.root.appendingPathComponent("builds/b1/sources/change-b1")
        #expect(output == "original\n\(copy.path)/app\n")
        let read = makeJob("read", tasks: ["cat /src/app/VERSION", "echo \"$BRIGADE_SOURCE\""])
        #expect(try await scratch.runner.run(read, in: context).output == "original\n\(scratch.root.path)/builds/b1/sources/read-b1\n")
        #expect(try String(contentsOf: source.appendingPathComponent("app/VERSION"), encoding: .utf8) == "original\n", "the checkout itself is untouched")
        let elsewhere = makeJob("elsewhere", tasks: ["cat /code/app/VERSION"]) { $0.mountPath = "/code" }
        #expect(try await scratch.runner.run(elsewhere, in: context).output == "original\n")
        let without = makeJob("without", tasks: ["test -e /src/app/VERSION && echo has || echo none", "echo ${BRIGADE_SOURCE:-unset}"]) {
            $0.useSource = false
        }
        #expect(try await scratch.runner.run(without, in: context).output == "none\nunset\n")
        let noSource = makeJob("nosource", tasks: ["echo ${BRIGADE_SOURCE:-unset}"])
        #expect(try await scratch.runner.run(noSource, in: scratch.context(build: "b2")).output == "unset\n")
    }

    /// A working tree with a FIFO or a socket in it (a dev server's, git's fsmonitor's) is
    /// still copied whole for the job, links as links and executable bits kept; those two
    /// are left out and named in the log. Before, the copy waited on the FIFO for good: the
    /// job never started, and its timeout, which counts from the start, never came.
    @Test func aSourceWithSpecialFilesIsCopiedWithoutThem() async throws {
        let scratch = try Scratch()
        let source = scratch.root.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try "#!/bin/sh\necho tool ran\n".write(to: source.appendingPathComponent("bin/tool"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: source.appendingPathComponent("bin/tool").path)
        try FileManager.default.createSymbolicLink(atPath: source.appendingPathComponent("tool").path, withDestinationPath: "bin/tool")
        #expect(mkfifo(source.appendingPathComponent("pipe").path, 0o600) == 0)
        let socketPath = source.appendingPathComponent("dev.sock").path
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in socketPath.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let job = makeJob("look", tasks: ["/src/tool", "ls -A /src | tr '\\n' ' '"])
        #expect(try await scratch.runner.run(job, in: scratch.context(source: source)).output == "tool ran\nbin tool ")
        #expect(scratch.logText.contains("job look: left out of its copy of the source, as FIFOs, sockets and devices cannot be copied: "))
        #expect(scratch.logText.contains("dev.sock") && scratch.logText.contains("pipe"))
    }

    @Test func pathsAreRewrittenOnlyWhereTheyStandAlone() {
        let mounts = [(from: "/src", to: "/work/s"), (from: "/mnt/brigade/share", to: "/work/share")]
        let cases = [
            ("cd /src && make", "cd /work/s && make"), ("cat /src/a/b", "cat /work/s/a/b"), ("DIR=/src", "DIR=/work/s"),
            ("'/src'", "'/work/s'"), ("\"/src/x\"", "\"/work/s/x\""), ("ls /usr/src /srcdir ~/src /src.bak", "ls /usr/src /srcdir ~/src /src.bak"),
            ("x:/src;/src|/src", "x:/work/s;/work/s|/work/s"), ("cp a /mnt/brigade/share/", "cp a /work/share/"),
            ("/mnt/brigade/shared", "/mnt/brigade/shared"), ("", ""),
        ]
        for (text, expected) in cases {
            #expect(LocalRunner.rewrite(text, mounts: mounts) == expected, "\(text)")
        }
        #expect(LocalRunner.rewrite("cd /src", mounts: [(from: "/src", to: "/a $1 \\0 b")]) == "cd /a $1 \\0 b", "the replacement is taken literally")
        // A directory put in for one mount is not rewritten for another.
        #expect(LocalRunner.rewrite("cp /mnt/brigade/share/a /src/b", mounts: [(from: "/mnt/brigade/share", to: "/src/data/shared"),
                                                                           (from: "/src", to: "/work/s")])
                == "cp /src/data/shared/a /work/s/b")
    }

    @Test func cachePersistsAcrossBuilds() async throws {
        let scratch = try Scratch()
        let job = { (build: String) in
            makeJob("cached", tasks: ["echo \(build) >> /mnt/brigade/cache/builds", "cat /mnt/brigade/cache/builds"], buildID: build) {
                $0.cache.enabled = true
                $0.env = [.init(name: "CACHE_FILE", value: "/mnt/brigade/cache/builds")]
            }
        }
        _ = try await scratch.runner.run(job("b1"), in: scratch.context(build: "b1"))
        let second = try await scratch.runner.run(job("b2"), in: scratch.context(build: "b2")).output
        #expect(second == "b1\nb2\n")
        let other = try await scratch.runner.run(job("b3"), in: scratch.context(build: "b3", project: "other")).output
        #expect(other == "b3\n", "caches are per project")
        #expect(FileManager.default.fileExists(atPath: scratch.root.appendingPathComponent("cache/acme-web-site-cached/builds").path))
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let scratch = try Scratch()
        let pidFile = scratch.root.appendingPathComponent("child.pid").path
        let job = makeJob("slow", tasks: ["sleep 30 & echo $! > \(pidFile)", "echo started", "wait"]) { $0.timeout = 300 }
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            guard case JobFailure.timedOut(let ms, let output) = error else { return false }
            return ms == 300 && output == "started\n" && "\(error)" == "time limit (300 ms) exceeded"
        }
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<50 {
            guard !gone else { break }
            gone = kill(pid, 0) != 0 || processHasEnded(pid)
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "the background child was killed with its group")
    }

    /// A job that ends leaves nothing running in its group: a server it started in the
    /// background (`server &`) is killed with it, as a pod's processes were. It ran on before.
    @Test func whatAJobLeftInTheBackgroundEndsWithIt() async throws {
        let scratch = try Scratch()
        let pidFile = scratch.root.appendingPathComponent("server.pid").path
        let job = makeJob("serve", tasks: ["sleep 30 > /dev/null 2>&1 & echo $! > \(pidFile)", "echo tested"])
        #expect(try await scratch.runner.run(job, in: scratch.context()).output == "tested\n")
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(pid, 0) != 0 || processHasEnded(pid)
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        if !gone { kill(pid, SIGKILL) }
        #expect(gone, "the job's background process was killed when the job ended")
    }

    /// A job killed at its limit is reported as timed out, never as a job that failed with
    /// exit code 137: once killed, its output can end before the timer's task returns, and
    /// one job in a few hundred said "failed" (a hundred at once: half the runs caught it).
    @Test func jobsKilledAtTheirLimitAreReportedAsTimedOut() async throws {
        let scratch = try Scratch()
        let reports = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let job = makeJob("limited-\(index)", tasks: ["sleep 30"]) { $0.timeout = 100 }
                    do {
                        _ = try await scratch.runner.run(job, in: scratch.context(build: "b\(index)"))
                        return "succeeded"
                    } catch { return "\(error)" }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(reports.filter { $0 != "time limit (100 ms) exceeded" } == [])
    }

    /// Shown by what the job never did and by its processes being gone, not by a time bound:
    /// the suite's start has stalled every test for longer than such a bound allowed.
    /// `timeout` is whatever number a script set; the runner takes it without overflowing a clock.
    @Test func anyTimeoutAScriptSetsIsAValidLimit() async throws {
        let limits = [1e300, -5, 0, 0.4, 2500.7].map { timeout in makeJob("t", tasks: []) { $0.timeout = timeout }.timeLimit }
        #expect(limits == [.milliseconds(10_000_000_000), .milliseconds(1), .milliseconds(1), .milliseconds(1), .milliseconds(2500)])
        let scratch = try Scratch()
        let job = makeJob("patient", tasks: ["echo done"]) { $0.timeout = 1e300 }
        #expect(try await scratch.runner.run(job, in: scratch.context()).output == "done\n")
    }

    @Test func cancellationKillsTheJob() async throws {
        let scratch = try Scratch()
        let pids = scratch.root.appendingPathComponent("pids").path
        let finished = scratch.root.appendingPathComponent("finished").path
        let job = makeJob("cancelled", tasks: ["sleep 30 & echo $$ $! > \(pids)", "wait", "touch \(finished)"])
        let task = Task { try await scratch.runner.run(job, in: scratch.context()) }
        var written: [Int32] = []
        for _ in 0..<500 where written.count < 2 {
            written = ((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
            if written.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        }
        try #require(written.count == 2, "the job's shell wrote its pid and its sleep's")
        task.cancel()
        await #expect(throws: (any Error).self, "a cancelled job has no outcome") { try await task.value }
        for pid in written {
            var gone = false
            for _ in 0..<100 where !gone {
                gone = kill(pid, 0) != 0 || processHasEnded(pid)
                if !gone { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(gone, "process \(pid) of the job was killed")
        }
        #expect(!FileManager.default.fileExists(atPath: finished), "the job never got past its sleep")
    }

    @Test func streamLogsEchoesLines() async throws {
        let scratch = try Scratch()
        let job = makeJob("chatty", tasks: ["echo one", "printf 'two'"]) { $0.streamLogs = true }
        let output = try await scratch.runner.run(job, in: scratch.context()).output
        #expect(output == "one\ntwo")
        #expect(scratch.logText.contains("[brigade:local] chatty-b1 logs one"))
        #expect(scratch.logText.contains("[brigade:local] chatty-b1 logs two"))
    }

    @Test func jobWithoutTasksSucceedsWithAWarning() async throws {
        let scratch = try Scratch()
        let output = try await scratch.runner.run(makeJob("image-only", tasks: []), in: scratch.context())
        #expect(output == JobOutput(output: "", exitCode: 0))
        #expect(scratch.logText.contains("has no tasks"))
    }

    @Test func missingShellCannotStart() async throws {
        let scratch = try Scratch()
        let job = makeJob("noshell", tasks: ["true"], shell: "/no/such/shell")
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            "\(error)".hasPrefix("cannot run the job's shell /no/such/shell")
        }
    }

    /// A full disk or a file in the way: the job cannot start, and says so as the system does.
    @Test func filesThatCannotBeMadeAreSaidPlainly() async throws {
        let scratch = try Scratch()
        try Data("in the way".utf8).write(to: scratch.root.appendingPathComponent("builds"))
        let job = makeJob("blocked", tasks: ["true"])
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            print("a job whose directory cannot be made: \(error)")
            let said = "\(error)"
            return said.hasPrefix("cannot prepare job blocked-b1: cannot make \(scratch.root.path)/builds/b1/jobs/blocked-b1/.tmp: ")
                && (said.hasSuffix(": Not a directory") || said.hasSuffix(": File exists"))
        }
    }

    @Test func environmentErrorsNeverShowValues() async throws {
        let scratch = try Scratch()
        let job = makeJob("nul", tasks: ["true"]) { $0.env = [.init(name: "TOKEN", value: "secret\u{0}value")] }
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            "\(error)" == "environment variable TOKEN contains a NUL byte"
        }
    }

    /// A NUL in the shell or an argument is refused by name; before, the C string it became
    /// ended there and the job ran something shorter than what the script said.
    @Test(arguments: ["shell", "args[1]"])
    func nulBytesAreRefusedByName(field: String) async throws {
        let scratch = try Scratch()
        let job = makeJob("nul", tasks: ["true"]) { job in
            if field == "shell" { job.shell = "/bin/sh\u{0}-x" } else { job.args = ["a", "secret\u{0}value"] }
        }
        await #expect {
            try await scratch.runner.run(job, in: scratch.context())
        } throws: { error in
            "\(error)" == "\(field) contains a NUL byte"
        }
    }

    @Test func outputBeyondTheLimitIsDropped() async throws {
        let scratch = try Scratch()
        let runner = LocalRunner(cacheRoot: scratch.root, maxOutputBytes: 10)
        let output = try await runner.run(makeJob("big", tasks: ["echo 0123456789abcdef"]), in: scratch.context()).output
        #expect(output == "0123456789\n[brigantine: 7 more bytes of output were dropped]\n")
    }

    /// Streamed job output counts toward the build's output limit, as the script's does: a
    /// job that streamed 25 MB put it all in the log (and the store), past the 16 MiB limit.
    @Test func streamedOutputCountsTowardTheBuildsLimit() async throws {
        let scratch = try Scratch()
        let context = JobContext(buildID: "b1", projectName: "p", projectID: "p", buildDirectory: scratch.root,
                                 log: BuildLog(level: .log, maxOutputBytes: 1000) { line in
                                     scratch.lines.withLock { $0.append(line) }
                                 })
        let job = makeJob("chatty", tasks: ["seq 1 1000", "echo done"]) { $0.streamLogs = true }
        let output = try await scratch.runner.run(job, in: context).output
        #expect(output.hasSuffix("999\n1000\ndone\n"), "the job's Result has its own limit")
        let lines = scratch.lines.withLock { $0.map(\.text) }
        #expect(lines.contains("[brigade] the build's output reached its limit of 1000 bytes; later output is dropped"))
        #expect(lines.contains("[brigade:local] chatty-b1 logs 1") && !lines.contains("[brigade:local] chatty-b1 logs done"))
        #expect(lines.last == "[brigade:local] chatty-b1 succeeded", "the worker's own messages are kept")
    }

    /// A secret that a cap cuts in two leaves no first part: not in a line cut at 64 KiB, not
    /// in output cut at the runner's limit (which the script may log, or which a failed job's
    /// tail shows). The log masks whole secrets only; before, `sup3rs` showed.
    @Test func aSecretCutByACapLeavesNoFirstPart() async throws {
        let scratch = try Scratch()
        let secret = "sup3rsecret-value"
        let context = JobContext(buildID: "b1", projectName: "p", projectID: "p", buildDirectory: scratch.root,
                                 log: BuildLog(level: .all, redactor: SecretRedactor(secrets: [secret])) { line in
                                     scratch.lines.withLock { $0.append(line) }
                                 })
        let filler = OutputCollector.maxLineBytes - 6
        let runner = LocalRunner(cacheRoot: scratch.root, maxOutputBytes: filler + 8)
        let job = makeJob("cut", tasks: ["head -c \(filler) /dev/zero | tr '\\0' x", "echo \"$SECRET\"", "echo done"]) { job in
            job.streamLogs = true
            job.env = [.init(name: "SECRET", value: secret)]
        }
        let output = try await runner.run(job, in: context).output
        // The ends only, so that a failure does not print 64 KiB.
        #expect(String(output.dropFirst(filler - 2)) == "xx***\n[brigantine: 15 more bytes of output were dropped]\n")
        let streamed = try #require(scratch.lines.withLock { $0.first { $0.text.contains("xxxx") } })
        #expect(String(streamed.text.suffix(5)) == "xx***")
        #expect(!scratch.logText.contains("sup3r") && scratch.logText.contains("done"))
    }
}

/// Kubernetes quantities a script gives as resource limits, as the container engine takes them.
@Suite struct ResourceQuantityTests {
    @Test func quantitiesBecomeBytesAndCores() {
        #expect(["64Mi", "1G", "512k", "1048576", "1.5Gi"].map(ResourceQuantity.bytes) == [67_108_864, 1_000_000_000, 512_000, 1_048_576, 1_610_612_736])
        #expect(["500m", "2", "0.25"].map(ResourceQuantity.cores) == [0.5, 2, 0.25])
    }

    @Test func whatNoMachineHasIsNotAQuantity() {
        #expect(["1e300", "1e300Gi", "-64Mi", "0", "inf", "nan", "lots", "64 Mi"].map(ResourceQuantity.bytes) == Array(repeating: nil, count: 8))
        #expect(["1e300", "-1", "0m", "inf", "nan", "two"].map(ResourceQuantity.cores) == Array(repeating: nil, count: 6))
    }
}

@Suite struct SimulateRunnerTests {
    @Test func runsNothingAndSaysSo() async throws {
        let scratch = try Scratch()
        let marker = scratch.root.appendingPathComponent("ran").path
        let result = try await SimulateRunner().run(makeJob("sim", tasks: ["touch \(marker)"]), in: scratch.context())
        #expect(result.output == "simulated: job sim was not run (image alpine:3.18, 1 task)\n")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(scratch.logText.contains("[brigade:simulate] would run job sim-b1 (image alpine:3.18): 1 task"))
    }
}
