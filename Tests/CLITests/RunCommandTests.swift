import Foundation
import Testing
import TestSupport

/// `brig run` as users call it: the README's sample commands, Brigade's flags and exit codes.
@Suite struct RunCommandTests {
    /// The version `brig --version` prints is the one each build's log names.
    @Test func versionIsTheWorkers() async throws {
        let result = try await Brig.run(["--version"])
        let run = try await Brig.run(["run", "-f", "samples/dockerhub/brigade.js", "-p", "samples/dockerhub/payload.json", "--level", "log"])
        let banner = try #require(run.stdoutLines.first { $0.hasPrefix("[brigade] brigantine worker version: ") }, "\(run.stdout)")
        #expect(result.status == 0 && result.stdout == "brig (Brigantine) \(banner.split(separator: " ").last ?? "")\n")
    }

    @Test func dockerHubSample() async throws {
        let result = try await Brig.run(["run", "-f", "samples/dockerhub/brigade.js", "-e", "image_push", "-p", "samples/dockerhub/payload.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.printed == [
            "pushed svendowideit/testhook:latest by trustedbuilder",
            "test-image: testing svendowideit/testhook:latest",
            "test-image: 2 checks passed",
        ])
    }

    @Test func acrSample() async throws {
        let push = try await Brig.run(["run", "-f", "samples/acr/brigade.js", "-e", "image_push", "-p", "samples/acr/payload.json"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.printed == [
            "ACR push of myregistry.azurecr.io/hello-world:v1",
            "digest sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
            "smoke test: hello-world:v1 answers",
        ])
        let delete = try await Brig.run(["run", "-f", "samples/acr/brigade.js", "-e", "image_push", "-p", "samples/acr/payload-delete.json"])
        #expect(delete.status == 0)
        #expect(delete.printed == ["ignoring ACR delete of hello-world@sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"])
    }

    @Test func anyRegistrySample() async throws {
        func run(_ payload: String) async throws -> [String] {
            let result = try await Brig.run(["run", "-f", "samples/any-registry/brigade.js", "-e", "image_push",
                                             "-p", "samples/any-registry/\(payload)"])
            #expect(result.status == 0, "\(result.stderr)")
            return result.printed
        }
        #expect(try await run("harbor-push.json") == [
            "harbor push of hub.harbor.com/test-webhook/debian:latest by admin",
            "smoke test: hub.harbor.com/test-webhook/debian:latest answers",
        ])
        #expect(try await run("quay-push.json") == [
            "quay push of quay.io/dgangaia/test:latest",
            "smoke test: quay.io/dgangaia/test:latest answers",
        ])
        let zookeeper = "registry:5000/jplock/zookeeper@sha256:55d2be3e073109b6dfa68aa6ffbce9f5441ab8dd451834eaf0e81874a0b1b720"
        let ubuntu = "registry:5000/ubuntu@sha256:2dbe4abf311d67ec224f926d4b21b9be6f96dfba9be139e6936156a67b75a1ad"
        #expect(try await run("registry-envelope.json") == [
            "distribution push of \(zookeeper)", "smoke test: \(zookeeper) answers",
            "distribution push of \(ubuntu)", "smoke test: \(ubuntu) answers",
        ])
        #expect(try await run("harbor-pulled.json") == [
            "ignoring cloudevent pull of harbor.dev/library/busybox@sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c",
        ])
    }

    @Test func pipelineSample() async throws {
        let result = try await Brig.run(["run", "-f", "samples/pipeline/brigade.js", "-e", "image_push", "-p", "samples/pipeline/payload.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.printed == [
            "fetch: wrote the image name",
            "test: tested svendowideit/testhook:latest",
            "report: svendowideit/testhook:latest passed on master",
        ])
    }

    @Test func onFailureSample() async throws {
        let result = try await Brig.run([
            "run", "--project-file", "samples/on-failure/project.yaml", "-f", "samples/on-failure/brigade.js",
            "-e", "image_push", "-p", "samples/on-failure/payload.json",
        ])
        #expect(result.status == 2, "a build that fails exits 2")
        let buildID = try #require(result.stdoutLines.first { $0.hasPrefix("[brigade:local] Starting job test-") }
            .map { String($0.split(separator: " ")[3].dropFirst("test-".count)) })
        #expect(result.printed == [
            "testing svendowideit/testhook:latest",
            "notice: svendowideit/testhook:latest failed its tests (job test(test-\(buildID)): Error: Pod test-\(buildID) failed to run to completion)",
            "notice sent with token ***",
        ])
        #expect(!(result.stdout + result.stderr).contains("xoxb-not-a-real-token"), "the secret never reaches the log")
        #expect(result.stderr.contains("[brigade] build \(buildID) failed: unhandled rejection: Error: job test(test-\(buildID))"))
    }

    @Test func inlinePayloadAndRevision() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-inline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("brigade.js")
        try """
            require('brigadier').events.on('deploy', (e) => console.log(e.provider, e.revision.commit, e.revision.ref, JSON.stringify(e.payload)));
            """.write(to: script, atomically: true, encoding: .utf8)
        let result = try await Brig.run(["run", "-f", script.path, "-e", "deploy", "-i", "ünï\tcode", "-c", "abc", "-r", "refs/tags/v1", "-l", "none"])
        #expect(result.status == 0)
        #expect(result.stdout == "brigade-cli abc refs/tags/v1 \"ünï\\tcode\"\n")
    }

    /// Jobs see the script's repository at `/src` (or `--source DIR`), as a Brigade job saw
    /// its clone; a script outside any repository gives them none.
    @Test func jobsSeeTheRepositoryOfTheScript() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("other"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            const { events, Job } = require('brigadier');
            events.on('exec', async () => console.log((await new Job('look', 'alpine', ['cat /src/NOTE 2>/dev/null || echo no-source']).run()).toString().trim()));
            """.write(to: directory.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        try "the repository's note".write(to: directory.appendingPathComponent("NOTE"), atomically: true, encoding: .utf8)
        try "another note".write(to: directory.appendingPathComponent("other/NOTE"), atomically: true, encoding: .utf8)
        let script = directory.appendingPathComponent("brigade.js").path
        #expect(try await Brig.run(["run", "-f", script, "-l", "none"]).stdout == "no-source\n", "not a repository")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent(".git"), withIntermediateDirectories: true)
        #expect(try await Brig.run(["run", "-f", script, "-l", "none"]).stdout == "the repository's note\n")
        let other = try await Brig.run(["run", "-f", script, "-l", "none", "--source", directory.appendingPathComponent("other").path])
        #expect(other.stdout == "another note\n", "\(other.stderr)")
    }

    /// A script you name may be a link (kept with your dotfiles, say): it runs from where it
    /// really is, so its own modules load, as in Node. The links a project's modules may not
    /// follow out of it (JSHostTests' ModuleTests) are about files the script did not choose.
    @Test func aLinkedScriptRunsFromWhereItIs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-linked-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("real/lib"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("work"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "module.exports = 'helper loaded';".write(to: directory.appendingPathComponent("real/lib/helper.js"), atomically: true, encoding: .utf8)
        try "require('brigadier').events.on('exec', () => console.log(require('./lib/helper')));"
            .write(to: directory.appendingPathComponent("real/brigade.js"), atomically: true, encoding: .utf8)
        let link = directory.appendingPathComponent("work/brigade.js").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.appendingPathComponent("real/brigade.js").path)
        let result = try await Brig.run(["run", "-f", link, "-l", "none"])
        #expect(result.status == 0 && result.stdout == "helper loaded\n", "\(result.stderr)")
    }

    /// `-p -` takes the payload from standard input, as piped from `curl` or a file.
    @Test func payloadFromStandardInput() async throws {
        let payload = try Data(contentsOf: URL(fileURLWithPath: "samples/dockerhub/payload.json", relativeTo: Brig.packageRoot))
        let script = "require('brigadier').events.on('image_push', (e) => console.log(e.image.reference, e.payload.length));"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-stdin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try script.write(to: directory.appendingPathComponent("brigade.js"), atomically: true, encoding: .utf8)
        let piped = try await Brig.run(["run", "-f", directory.appendingPathComponent("brigade.js").path, "-e", "image_push", "-l", "none", "-p", "-"],
                                       input: payload)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout == "docker.io/svendowideit/testhook:latest \(String(decoding: payload, as: UTF8.self).utf16.count)\n", "\(piped.stdout)")
    }

    @Test(arguments: [
        (["run", "-f", "nope.js"], "Error: script nope.js does not exist"),
        (["run", "-f", "samples/dockerhub/brigade.js", "-p", "x", "-i", "y"], "Error: Both payload and inline-payload should not be specified"),
        (["run", "-f", "samples/dockerhub/brigade.js", "-l", "loud"], "Error: unknown log level \"loud\": use all, log, info, warn, error or none"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--runner", "k8s"], "Error: unknown runner 'k8s': use local, container or simulate"),
        (["run", "-f", "samples/dockerhub/brigade.js", "-e", "after"], "Error: 'after' is fired by the worker itself (after the main event) and cannot be the main event"),
        (["run", "no-such-project", "--projects", "samples"], "Error: could not find the project \"no-such-project\" in samples"),
        (["run", "--bogus"], "Error: Unknown option '--bogus'"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--secret", "=value"],
         "Error: --secret takes KEY=VALUE, or KEY for the value of the environment variable KEY"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--secret", "BRIGANTINE_TEST_NOT_SET"],
         "Error: --secret BRIGANTINE_TEST_NOT_SET: the environment variable BRIGANTINE_TEST_NOT_SET is not set"),
        // Numbers no clock takes (each stopped the process when it became a duration).
        (["run", "-f", "samples/dockerhub/brigade.js", "--build-timeout", "inf"],
         "Error: --build-timeout must be a number of seconds above 0 and at most 31536000 (a year), not inf"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--script-time-limit", "1e300"],
         "Error: --script-time-limit must be a number of seconds above 0 and at most 31536000 (a year), not 1e+300"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--script-time-limit", "nan"],
         "Error: --script-time-limit must be a number of seconds above 0 and at most 31536000 (a year), not nan"),
        (["run", "-f", "samples/dockerhub/brigade.js", "--script-memory-limit", "0"],
         "Error: --script-memory-limit must be a number of MiB from 1 to 1048576 (a TiB), not 0"),
    ])
    func badRequestsExitOneWithOneLine(arguments: [String], message: String) async throws {
        let result = try await Brig.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr == message + "\n")
        #expect(result.stdout.isEmpty)
    }

    /// The highest limits the flags take still become durations: the build runs.
    @Test func theHighestLimitsRunABuild() async throws {
        let result = try await Brig.run([
            "run", "-f", "bench/brigade.js", "-e", "image_push", "-p", "samples/dockerhub/payload.json", "--runner", "simulate",
            "-l", "none", "--build-timeout", "31536000", "--script-time-limit", "31536000", "--script-memory-limit", "1048576",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasSuffix("done: success\n"), "\(result.stdout)")
    }

    /// A line longer than the log keeps in one piece is printed whole all the same.
    @Test func aLongLineIsPrintedWhole() async throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("long-line-\(UUID().uuidString).js")
        defer { try? FileManager.default.removeItem(at: script) }
        try "console.log('a'); console.log('é'.repeat(100000)); console.log('b');".write(to: script, atomically: true, encoding: .utf8)
        let result = try await Brig.run(["run", "-f", script.path, "-e", "none", "--runner", "simulate", "-l", "none"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "a\n" + String(repeating: "é", count: 100_000) + "\nb\n")
    }

    @Test func simulateRunnerRunsNothing() async throws {
        let result = try await Brig.run(["run", "-f", "samples/pipeline/brigade.js", "-e", "image_push", "-p", "samples/pipeline/payload.json", "--runner", "simulate"])
        #expect(result.status == 0)
        #expect(result.printed.first?.hasPrefix("fetch: simulated: job fetch was not run (image svendowideit/testhook:latest, 2 tasks)") == true)
        #expect(result.stdout.contains("[brigade:simulate] would run job fetch-"))
    }

    @Test func projectsDirectoryAndSecretsFromTheCommandLine() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-projects-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            name: acme/web
            defaultScript: |
              require('brigadier').events.on('exec', (e, p) => console.log(p.name, p.id, Object.keys(p.secrets).sort().join(',')));
            secrets:
              FROM_FILE: value-from-file
            """.write(to: directory.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        let byName = try await Brig.run(["run", "acme/web", "--projects", directory.path, "--secret", "EXTRA=x-value", "-l", "none"])
        #expect(byName.status == 0, "\(byName.stderr)")
        let id = "brigade-86f279ce9c29f1062e23537542b6d4ec7b51a086f146a9b2399981" // brigade- + the first 54 hex digits of SHA-256("acme/web")
        #expect(byName.stdout == "acme/web \(id) EXTRA,FROM_FILE\n")
        let byID = try await Brig.run(["run", id, "--projects", directory.path, "-l", "none"])
        #expect(byID.stdout == "acme/web \(id) FROM_FILE\n")
    }

    /// `--secret KEY` takes the environment variable KEY, so the value is in neither the
    /// process list nor the shell's history; it is masked in the output like any secret.
    @Test func aSecretFromTheEnvironment() async throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("brig-env-secret-\(UUID().uuidString).js")
        try "require('brigadier').events.on('exec', (e, p) => console.log(Object.keys(p.secrets).join(','), p.secrets.DEPLOY_TOKEN));"
            .write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let result = try await Brig.run(["run", "-f", script.path, "-l", "none", "--secret", "DEPLOY_TOKEN"],
                                        environment: ["DEPLOY_TOKEN": "token-from-the-environment"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "DEPLOY_TOKEN ***\n")
    }

    /// Secrets are masked however a script or job prints them: quoted by console.log, escaped
    /// by JSON.stringify, percent-encoded, a secret of several lines line by line, and the
    /// first part of one that console.log cuts at 10,000 characters.
    @Test func aSecretIsMaskedInEveryFormItIsPrinted() async throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("brig-printed-secret-\(UUID().uuidString).js")
        try #"""
            const { events, Job } = require('brigadier');
            events.on('exec', async (e, p) => {
              console.log(p.secrets);
              console.log(JSON.stringify(p.secrets));
              console.log('%o %j', p.secrets, p.secrets);
              for (const value of Object.values(p.secrets)) console.log(value, encodeURIComponent(value));
              console.log({ long: 'x'.repeat(9995) + p.secrets.CONTROL }); // inspect cuts it in the secret
              const job = new Job('show', 'busybox', ['printf "%s\\n" "$KEY" "$QUOTED" "$CONTROL"']);
              job.env = { KEY: p.secrets.KEY, QUOTED: p.secrets.QUOTED, CONTROL: p.secrets.CONTROL };
              job.streamLogs = true;
              await job.run();
            });
            """#.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let secrets = [
            "KEY": "-----BEGIN TEST KEY-----\nZmlyc3Qtc2VjcmV0LWxpbmU=\nc2Vjb25kLXNlY3JldC1saW5l\n-----END TEST KEY-----",
            "QUOTED": #"alpha"bravo\charlie'delta `foxtrot"#,
            "CONTROL": "golf\thotel\u{7F}india\u{01}juliett",
        ]
        let result = try await Brig.run(["run", "-f", script.path, "--runner", "local"] + secrets.keys.flatMap { ["--secret", $0] },
                                        environment: secrets)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("show-") && result.stdout.contains(" logs ***"), "\(result.stdout)")
        let words = ["Zmlyc3Qtc2VjcmV0LWxpbmU", "c2Vjb25kLXNlY3JldC1saW5l", "BEGIN TEST KEY", "alpha", "bravo", "charlie",
                     "delta", "foxtrot", "golf", "hotel", "india", "juliett"]
        for word in words {
            #expect(!result.stdout.contains(word) && !result.stderr.contains(word), "\(word) shown:\n\(result.stdout)")
        }
    }
}

@Suite struct InterruptTests {
    /// Ctrl-C on `brig run` stops the build and kills its job, whose process group is not brig's.
    @Test func interruptKillsTheJob() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brig-int-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidFile = directory.appendingPathComponent("job.pid").path
        let script = directory.appendingPathComponent("brigade.js")
        try """
            const { events, Job } = require('brigadier');
            events.on('exec', () => new Job('sleeper', 'alpine', ['echo $$ > \(pidFile)', 'sleep 60']).run());
            """.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = Brig.executable
        process.arguments = ["run", "-f", script.path, "-l", "error", "--data", directory.appendingPathComponent("data").path]
        process.standardOutput = FileHandle.nullDevice
        let errors = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        let exited = try process.start()
        var jobPID: Int32?
        for _ in 0..<200 {
            guard jobPID == nil else { break }
            jobPID = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if jobPID == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let pid = try #require(jobPID, "the job started")
        process.interrupt()
        await exited.wait()
        #expect(process.terminationStatus == 2)
        #expect(try String(contentsOf: errors, encoding: .utf8).contains("the build was stopped: brig received SIGINT"))
        var gone = false
        for _ in 0..<100 {
            guard !gone else { break }
            gone = kill(pid, 0) != 0 || processHasEnded(pid)
            if !gone { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(gone, "the job's shell was killed")
    }
}
