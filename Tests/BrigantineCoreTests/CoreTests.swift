import Foundation
import Synchronization
import Testing
@testable import BrigantineCore

@Suite struct ProjectIDTests {
    // spec 5.2, including its worked example and the IDs found in Brigade's repository
    @Test(arguments: [
        ("technosophos/example-hook", "brigade-14eaf242da15c53bd1e1cc57c57837cf8ee782fdeb7f9b5a45ebae"),
        ("deis/empty-testbed", "brigade-830c16d4aaf6f5490937ad719afd8490a5bcbef064d397411043ac"),
        ("brigadecore/empty-testbed", "brigade-4897c99315be5d2a2403ea33bdcb24f8116dc69613d5917d879d5f"),
        ("brigadecore/test-private-testbed", "brigade-7e3d1157331f6726338395e320cffa41d2bc9e20157fd7a4df355d"),
        ("noVCSProject", "brigade-0e0ae80bb1243d95ea707257baebda6ccf96094cd0353d875ae903"),
        ("technosophos/-whale-eyes-", "brigade-407900363c01e6153bc1a91792055b898e20a29f1387b72a0b6f00"),
        ("e2eproject", "brigade-5b55ed522537b663e178f751959d234fd650d626f33f70557b2e82"),
        ("brigade-x", "brigade-x"),
    ])
    func brigadeIDs(name: String, id: String) {
        #expect(ProjectID.of(name) == id)
    }

    @Test func goTestVector() {
        #expect(ProjectID.of("I Break For Sea Beasts\n") == "brigade-c635ce8f0388d039ac9a01d60cfb362dbca8e0722000b614bee75e")
    }
}

@Suite struct ULIDTests {
    @Test func shapeAndOrder() throws {
        let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz")
        let first = ULID.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let later = ULID.make(at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(first.count == 26 && first.allSatisfy(alphabet.contains))
        #expect(first < later)
        #expect(ULID.make() != ULID.make())
        // The time part is the milliseconds since the epoch in Crockford base 32.
        var zeros = ZeroRandom()
        #expect(ULID.make(milliseconds: 1_469_918_176_385, using: &zeros) == "01aryz6s410000000000000000")
    }

    struct ZeroRandom: RandomNumberGenerator {
        mutating func next() -> UInt64 { 0 }
    }
}

@Suite struct LogTests {
    @Test func levelNames() {
        #expect(LogLevel(name: "") == .log)
        #expect(LogLevel(name: "INFO") == .info)
        #expect(LogLevel(name: "All") == .all)
        #expect(LogLevel(name: "verbose") == nil)
    }

    @Test func filteringStreamsAndMasking() {
        let lines = LockedLines()
        let log = BuildLog(level: .info, redactor: SecretRedactor(secrets: ["s3cret-value", "ab", "s3cret"])) { lines.append($0) }
        log.log(.log, nil, "hidden banner")
        log.log(.info, "app", "shown")
        log.log(.warn, "local", "careful with s3cret-value")
        log.write(.stdout, "two\nlines with s3cret and ab")
        #expect(lines.all == [
            LogLine(.stdout, "[brigade:app] shown"),
            LogLine(.stderr, "[brigade:local] careful with ***"),
            LogLine(.stdout, "two"),
            LogLine(.stdout, "lines with *** and ab"),
        ])
        let silent = BuildLog(level: .none) { lines.append($0) }
        silent.log(.error, nil, "never")
        #expect(lines.all.count == 4)
    }

    @Test func aSecretIsMaskedInTheFormsItIsPrintedIn() {
        let redactor = SecretRedactor(secrets: ["line-one\r\nline-two", #"a"b\c'd"#, "x y/z"])
        #expect(redactor.redact("line-one") == "***")
        #expect(redactor.redact("[job] line-two") == "[job] ***")
        #expect(redactor.redact(#"{"k":"line-one\r\nline-two"}"#) == #"{"k":"***"}"#)
        #expect(redactor.redact(#"{"k":"a\"b\\c'd"}"#) == #"{"k":"***"}"#)
        #expect(redactor.redact(#"{ k: `a"b\\c'd` }"#) == "{ k: `***` }")
        #expect(redactor.redact("https://h/?t=x%20y%2Fz") == "https://h/?t=***")
        #expect(redactor.redact("line-three, a b, x y") == "line-three, a b, x y")
    }

    /// The byte search that finds secrets, where they lie and where they almost do.
    @Test func secretsAreFoundWhereverTheyLie() {
        let redactor = SecretRedactor(secrets: ["aaab", "pässwörd", "tail"])
        #expect(redactor.redact("aaaab") == "a***")
        #expect(redactor.redact("aaabaaab") == "******")
        #expect(redactor.redact("aab aaa aaa") == "aab aaa aaa")
        #expect(redactor.redact("mein pässwörd, nicht passwörd") == "mein ***, nicht passwörd")
        #expect(redactor.redact("at the tail") == "at the ***")
        #expect(redactor.redact("tai") == "tai" && redactor.redact("") == "")
    }

    /// Where text is cut off, how much of its end could be the start of a secret.
    @Test func theStartOfASecretAtACut() {
        let redactor = SecretRedactor(secrets: ["supersecret", "pässwörd"])
        func atEnd(_ text: String) -> Int { redactor.secretStartLength(atEndOf: Array(text.utf8)[...]) }
        #expect(atEnd("token=supers") == 6)
        #expect(atEnd("token=s") == 1)
        #expect(atEnd("token=supersecre") == 10)
        #expect(atEnd("mein pä") == 3)
        // A whole secret is redact's to mask; text the secret does not start is left.
        #expect(atEnd("supersecret") == 0 && atEnd("token=supera") == 0 && atEnd("") == 0)
        #expect(SecretRedactor.none.secretStartLength(atEndOf: Array("supers".utf8)[...]) == 0)
        // util.inspect's cut of a long string, wherever it stands in a line.
        let long = String(repeating: "x", count: 9994)
        #expect(redactor.redact("{ a: '\(long)supers'... 5 more characters, b: 'supers'... 5 more characters }")
                == "{ a: '\(long)***'... 5 more characters, b: '***'... 5 more characters }")
        #expect(redactor.redact("'supers'... 5") == "'supers'... 5" && redactor.redact("'supers'... more characters") == "'supers'... more characters")
        // Cut inside a character: the bytes that start it are counted.
        #expect(redactor.secretStartLength(atEndOf: (Array("x p".utf8) + [0xC3])[...]) == 2)
    }

    @Test func aCloneURLsCredentials() {
        let url = "https://bot:ghp%40tok3n@git.example.com/acme/web.git"
        #expect(URLCredentials.masked(url) == "https://bot:***@git.example.com/acme/web.git")
        #expect(URLCredentials.removed(from: url) == "https://git.example.com/acme/web.git")
        #expect(URLCredentials.secrets(in: url) == ["ghp%40tok3n", "ghp@tok3n"])
        // A token alone over HTTPS is a secret; a name alone over ssh is not.
        #expect(URLCredentials.masked("https://tok3n-value@github.com/a/b?x=@") == "https://***@github.com/a/b?x=@")
        #expect(URLCredentials.secrets(in: "https://tok3n-value@github.com/a/b") == ["tok3n-value", "tok3n-value"])
        #expect(URLCredentials.masked("ssh://deploy@git.example.com/a.git") == "ssh://deploy@git.example.com/a.git")
        #expect(URLCredentials.secrets(in: "ssh://deploy@git.example.com/a.git").isEmpty)
        for plain in ["git@github.com:acme/web.git", "/srv/git/web.git", "https://github.com/a/b@c"] {
            #expect(URLCredentials.masked(plain) == plain && URLCredentials.removed(from: plain) == plain)
            #expect(URLCredentials.secrets(in: plain).isEmpty)
        }
        var project = Project(name: "acme/web", directory: "/tmp")
        project.repo = .init(cloneURL: url)
        #expect(project.redactor.redact("cloning \(url), that is ghp@tok3n") == "cloning https://bot:***@git.example.com/acme/web.git, that is ***")
    }

    @Test func outputIsCappedButWorkerMessagesAreKept() {
        let lines = LockedLines()
        let log = BuildLog(level: .log, maxOutputBytes: 10) { lines.append($0) }
        log.write(.stdout, "12345")
        log.write(.stdout, "678901")
        log.write(.stdout, "dropped too")
        log.log(.log, "app", "still here")
        #expect(lines.all.map(\.text) == [
            "12345", "[brigade] the build's output reached its limit of 10 bytes; later output is dropped", "[brigade:app] still here",
        ])
    }

    /// Lines are limited too, each being a row of the store: 16 MiB of empty lines was 16
    /// million rows under the byte limit alone.
    @Test func outputLinesAreCapped() {
        let lines = LockedLines()
        let log = BuildLog(level: .log, maxOutputBytes: 1000, maxOutputLines: 5) { lines.append($0) }
        log.write(.stdout, "a\nb")
        log.write(.stdout, "c\n\n\n") // four lines, six in all: dropped
        log.write(.stdout, "d")
        log.log(.log, "app", "still here")
        #expect(lines.all.map(\.text) == [
            "a", "b", "[brigade] the build's output reached its limit of 5 lines; later output is dropped", "[brigade:app] still here",
        ])
    }

    /// A line longer than a row should hold is kept in pieces, split where a character
    /// starts and shown joined: one `console.log` of 16 MiB was one row, read whole by every
    /// reader of the log.
    @Test func longLinesAreKeptInPieces() {
        let lines = LockedLines()
        let log = BuildLog(level: .log) { lines.append($0) }
        let long = String(repeating: "é", count: BuildLog.maxLineBytes + 1) // two bytes each: three pieces
        log.write(.stdout, "short\nx" + long + "\nend") // the x puts each cut inside an é
        let shown = lines.all.map(\.text)
        #expect(shown.count == 5 && shown.first == "short" && shown.last == "end", "\(shown.map(\.utf8.count))")
        #expect(shown.dropFirst().dropLast().joined() == "x" + long, "nothing lost, no character cut in two")
        #expect(shown.allSatisfy { $0.utf8.count <= BuildLog.maxLineBytes })
        #expect(lines.all.map(\.continues) == [false, true, true, false, false], "the first two pieces go on")
        #expect(lines.all.map(\.shown).joined() == "short\nx" + long + "\nend\n")
        log.log(.error, "app", String(repeating: "m", count: 1 << 20))
        #expect(lines.all.count == 6, "a worker message, cut with its note, is one line")
    }

    /// A worker message is kept whatever the output limit, so it has a bound of its own:
    /// a script's 30 MB error message was logged whole (twice) and became a 30 MB reason.
    @Test func aWorkerMessageHasABoundOfItsOwn() {
        let lines = LockedLines()
        let log = BuildLog(level: .log, redactor: SecretRedactor(secrets: ["hunter2-value"])) { lines.append($0) }
        let message = "Error: hunter2-value " + String(repeating: "x", count: 1 << 20) + String(repeating: "\ny", count: 1 << 20)
        log.log(.error, "app", message)
        let shown = lines.all.map(\.text)
        #expect(shown.count == 1)
        #expect(shown.first.map { String($0.prefix(24)) } == "[brigade:app] Error: ***")
        let left = "[brigade:app] Error: *** ".utf8.count + (1 << 20) + (2 << 20) - BuildLog.maxMessageBytes
        #expect(shown.first?.hasSuffix("xxx… (\(left) more bytes)") == true)
        #expect(shown.first.map { $0.utf8.count < BuildLog.maxMessageBytes + 30 } == true)
    }

    /// Text of a size a script decides, cut for a record where a character starts.
    @Test func recordedTextIsBounded() {
        let redactor = SecretRedactor(secrets: ["supersecret"])
        #expect(redactor.redact("short supersecret", atMostBytes: 100) == "short ***")
        #expect(redactor.redact("0123456789", atMostBytes: 4) == "0123… (6 more bytes)")
        #expect(redactor.redact("abcdé", atMostBytes: 5) == "abcd… (2 more bytes)", "not half of é")
        #expect(redactor.redact("a supersecret, b", atMostBytes: 6) == "a ***,… (2 more bytes)", "masked, then cut")
        #expect(redactor.redact("abcdefghij", atMostBytes: 9) == "abcdefghi… (1 more byte)")
        #expect(redactor.redact("abcdefghij", atMostBytes: 10) == "abcdefghij")
    }

    final class LockedLines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [LogLine] = []
        func append(_ line: LogLine) { lock.withLock { lines.append(line) } }
        var all: [LogLine] { lock.withLock { lines } }
    }
}

@Suite struct ProjectFileTests {
    let directory = FileManager.default.temporaryDirectory.path

    @Test func fullProject() throws {
        let project = try Project.parse("""
            name: acme/web
            repo: {cloneURL: "https://github.com/acme/web.git"}
            defaultScript: |
              console.log('hi')
            defaultConfig: '{"dependencies": {}}'
            secrets: {TOKEN: abc123, PORT: 8080}
            webhookSecret: hook-secret
            genericGatewaySecret: generic
            gateways: [container-registry, generic]
            runner: simulate
            allowPrivilegedJobs: true
            allowHostMounts: true
            allowSecretKeyRef: true
            kubernetes: {namespace: ci, buildStorageSize: 1Gi}
            buildTimeout: 120
            scriptTimeLimit: 2.5
            maxConcurrentBuilds: 1
            rateLimit: {builds: 30, per: minute, burst: 5}
            coalesceWindow: 1.5
            registries:
              myacr.azurecr.io: {username: ci, password: acr-password}
              https://index.docker.io/v1/: {username: acme, password: hub-password}
            """, file: "web.yaml", directory: directory)
        #expect(project.name == "acme/web" && project.id == ProjectID.of("acme/web"))
        #expect(project.repo?.cloneURL == "https://github.com/acme/web.git")
        #expect(project.defaultScript == "console.log('hi')\n")
        #expect(project.secrets == ["TOKEN": "abc123", "PORT": "8080"])
        #expect(project.gateways == [.containerRegistry, .generic])
        #expect(project.runner == "simulate" && project.allowPrivilegedJobs && project.allowHostMounts && project.allowSecretKeyRef)
        #expect(project.kubernetes.namespace == "ci" && project.buildTimeout == 120 && project.scriptTimeLimit == 2.5)
        #expect(project.maxConcurrentBuilds == 1 && project.coalesceWindow == 1.5)
        #expect(project.rateLimit == .init(builds: 30, per: .minute, burst: 5) && project.rateLimit?.refillPerSecond == 0.5)
        #expect(project.rateLimit?.description == "30 builds a minute (bursts of 5)")
        #expect(project.registries == ["myacr.azurecr.io": .init(username: "ci", password: "acr-password"),
                                       "docker.io": .init(username: "acme", password: "hub-password")])
        #expect(project.redactor.redact("abc123 hook-secret generic 8080 acr-password") == "*** *** *** *** ***")
        #expect(project.unmaskableSecretNames == [])
    }

    @Test func secureDefaults() throws {
        let project = try Project.parse("name: minimal", file: "m.yaml", directory: directory)
        #expect(!project.allowPrivilegedJobs && !project.allowHostMounts && !project.allowSecretKeyRef && !project.insecure)
        #expect(project.gateways.isEmpty && project.secrets.isEmpty && project.runner == nil && project.maxConcurrentBuilds == nil)
        #expect(project.rateLimit == nil && project.coalesceWindow == nil)
        // Without a burst, a full period's worth may come at once.
        let hourly = try Project.parse("name: x\nrateLimit: {builds: 1, per: hour}", file: "m.yaml", directory: directory)
        #expect(hourly.rateLimit == .init(builds: 1, per: .hour, burst: 1) && hourly.rateLimit?.description == "1 build an hour")
    }

    @Test(arguments: [
        ("name: x\nsecret: {A: b}", "m.yaml: unknown key 'secret'; known keys are"),
        ("secrets: {A: b}", "m.yaml: 'name' is required"),
        ("- just\n- a list", "m.yaml: must be a YAML mapping of project settings"),
        ("name: x\nrunner: kubernetes", "m.yaml: 'runner' must be one of container, local, simulate, not 'kubernetes'"),
        ("name: x\ndefaultScript: a\ndefaultScriptFile: b.js", "m.yaml: set 'defaultScript' or 'defaultScriptFile', not both"),
        ("name: x\ndefaultScriptFile: missing.js", "m.yaml: 'defaultScriptFile' "),
        ("name: x\ngateways: [github]", "m.yaml: 'gateways[0]': "),
        ("name: x\nbuildTimeout: -1", "m.yaml: 'buildTimeout' must be a number of seconds above 0 and at most 31536000 (a year), not -1"),
        // Past what a clock takes: a gateway stopped with a trap at such a project's first build.
        ("name: x\nbuildTimeout: .inf", "m.yaml: 'buildTimeout' must be a number of seconds above 0 and at most 31536000 (a year), not inf"),
        ("name: x\nscriptTimeLimit: 1e300", "m.yaml: 'scriptTimeLimit' must be a number of seconds above 0 and at most 31536000 (a year), not 1e+300"),
        ("name: x\nscriptTimeLimit: .nan", "m.yaml: 'scriptTimeLimit' must be a number of seconds above 0 and at most 31536000 (a year), not nan"),
        ("name: x\nmaxConcurrentBuilds: 0", "m.yaml: 'maxConcurrentBuilds' must be at least 1, not 0"),
        ("name: x\nmaxConcurrentBuilds: two", "m.yaml: 'maxConcurrentBuilds' must be a number"),
        ("name: x\nrateLimit: {builds: 10, per: day}", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; 'per' is second, minute or hour"),
        ("name: x\nrateLimit: {builds: 0, per: second}", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; 'builds' must be at least 1, not 0"),
        ("name: x\nrateLimit: {builds: 5, per: second, burts: 9}", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; unknown 'burts'"),
        ("name: x\nrateLimit: {per: second}", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; 'builds' is a whole number"),
        ("name: x\nrateLimit: {builds: 5, per: second, burst: 0}", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; 'burst' must be at least 1, not 0"),
        ("name: x\nrateLimit: 30/minute", "m.yaml: 'rateLimit': a rate limit is {builds: N, per: second|minute|hour} and, if wanted, burst: N; this is not a mapping"),
        ("name: x\ncoalesceWindow: 0", "m.yaml: 'coalesceWindow' must be a number of seconds above 0 and at most 3600, not 0"),
        ("name: x\ncoalesceWindow: 7200", "m.yaml: 'coalesceWindow' must be a number of seconds above 0 and at most 3600, not 7200"),
        ("name: x\ncoalesceWindow: 10s", "m.yaml: 'coalesceWindow' must be a number"),
        ("name: [unclosed", "m.yaml: is not valid YAML"),
        // Where, and never the line itself: it may be a secret's (Yams quotes it).
        ("name: x\nwebhookSecret: s3cr3t-value: more",
         "m.yaml: is not valid YAML: mapping values are not allowed in this context at line 2, column 28"),
        ("name: x\nsecrets:\n  TOKEN: \"s3cr3t-value\n",
         "m.yaml: is not valid YAML: found unexpected end of stream at line 4, column 1 (while scanning a quoted scalar at line 3, column 10)"),
        ("name: x\nsecrets: {A: s3cr3t-value, A: other}", "m.yaml: is not valid YAML: key 'A' more than once in the mapping at line 2, column 11"),
        ("name: x\nallowHostMounts: maybe", "m.yaml: 'allowHostMounts' must be true or false"),
        ("name: x\ngateways: generic", "m.yaml: 'gateways' must be a list"),
        ("name: x\nsecrets: [a, b]", "m.yaml: 'secrets' must be a mapping"),
        ("name: x\ndefaultScript: [1]", "m.yaml: 'defaultScript' must be a single value, not a list or a mapping"),
        // Secrets that cannot be had: named, never shown.
        ("name: x\nsecrets: {A: {fromEnv: BRIGANTINE_TEST_NOT_SET}}",
         "m.yaml: secret 'A': the environment variable BRIGANTINE_TEST_NOT_SET is not set"),
        ("name: x\nwebhookSecret: {fromFile: /nonexistent/hook}", "m.yaml: 'webhookSecret': /nonexistent/hook cannot be read"),
        ("name: x\nsecrets: {A: {fromVault: a}}", "m.yaml: 'secrets.A': a secret is a text, {fromEnv: NAME} or {fromFile: PATH}"),
        ("name: x\nsecrets: {A: {fromEnv: X, fromFile: y}}", "m.yaml: 'secrets.A': a secret is a text"),
        ("name: x\nregistries: {ghcr.io: {username: a}}", "m.yaml: 'registries.ghcr.io': a registry credential is {username: NAME, password: SECRET}"),
        ("name: x\nregistries: {ghcr.io: {username: a, password: b, pasword: c}}", "m.yaml: 'registries.ghcr.io': a registry credential is"),
        ("name: x\nregistries: {ghcr.io: {username: a, password: {fromVault: b}}}", "m.yaml: 'registries.ghcr.io.password': a secret is a text"),
        ("name: x\nregistries: {ghcr.io: {username: a, password: {fromEnv: BRIGANTINE_TEST_NOT_SET}}}",
         "m.yaml: the password for registry ghcr.io: the environment variable BRIGANTINE_TEST_NOT_SET is not set"),
    ])
    func badFiles(yaml: String, message: String) {
        #expect {
            try Project.parse(yaml, file: "m.yaml", directory: directory)
        } throws: { error in
            // No error says a value that may be a secret's (the cases' secrets are "s3cr3t…").
            "\(error)".hasPrefix(message) && !"\(error)".contains("s3cr3t")
        }
    }

    /// Aliases that multiply (each level nine uses of the one before) are refused before
    /// they are expanded: the full "billion laughs" kept `brig project list` and the
    /// gateway's watcher busy for good. Six levels here (half a million values expanded)
    /// so that without the count the test fails on the unknown keys instead of hanging.
    /// Aliases used as people use them, to share a value, are fine.
    @Test func aliasesThatMultiplyAreRefused() throws {
        var lines = ["name: bomb", "a0: &a0 [" + Array(repeating: "lol", count: 9).joined(separator: ", ") + "]"]
        for level in 1..<6 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        #expect {
            try Project.parse(lines.joined(separator: "\n"), file: "m.yaml", directory: directory)
        } throws: { error in
            "\(error)" == "m.yaml: has more than 10000 values, counting each use of an alias"
        }
        let shared = try Project.parse("name: x\nwebhookSecret: &secret shared-secret-1\ngenericGatewaySecret: *secret\n",
                                       file: "m.yaml", directory: directory)
        #expect(shared.genericGatewaySecret == "shared-secret-1" && shared.webhookSecret == "shared-secret-1")
    }

    /// Secrets kept out of the project file: from the environment and from files (relative to
    /// the project file, without their final newline), for `secrets` and the gateway secrets.
    @Test func secretsFromTheEnvironmentAndFromFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try "deploy-key-value\n".write(to: root.appendingPathComponent("deploy.key"), atomically: true, encoding: .utf8)
        try "hook-secret-value".write(to: root.appendingPathComponent("hook"), atomically: true, encoding: .utf8)
        setenv("BRIGANTINE_TEST_CHAT_TOKEN", "chat-token-value", 1)
        let project = try Project.parse("""
            name: acme/web
            secrets:
              INLINE: inline-value
              CHAT_TOKEN: {fromEnv: BRIGANTINE_TEST_CHAT_TOKEN}
              DEPLOY_KEY: {fromFile: deploy.key}
            webhookSecret: {fromFile: \(root.path)/hook}
            genericGatewaySecret: {fromEnv: BRIGANTINE_TEST_CHAT_TOKEN}
            """, file: "web.yaml", directory: root.path)
        #expect(project.secrets == ["INLINE": "inline-value", "CHAT_TOKEN": "chat-token-value", "DEPLOY_KEY": "deploy-key-value"])
        #expect(project.webhookSecret == "hook-secret-value" && project.genericGatewaySecret == "chat-token-value")
        #expect(project.redactor.redact("deploy-key-value hook-secret-value") == "*** ***")
    }

    /// A project file, a secret's file or a defaultConfigFile that is not a regular file (a
    /// directory, a FIFO, a device) or is far too big is an error that says which, at once.
    /// Before, a FIFO held the gateway's project watcher until something wrote to it, and
    /// the others were "cannot be read" without a reason.
    @Test func filesThatAreNotPlainFilesAreRefusedWithWhatTheyAre() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("odd-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("dir.yaml"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(mkfifo(root.path + "/pipe", 0o600) == 0)
        try Data(count: Project.projectFileSizeLimit + 1).write(to: root.appendingPathComponent("huge.json"))
        let cases = [
            ({ try Project.load(file: root.path + "/dir.yaml") }, "\(root.path)/dir.yaml: cannot be read: is a directory, not a file"),
            ({ try Project.load(file: root.path + "/pipe") }, "\(root.path)/pipe: cannot be read: is a FIFO, not a regular file"),
            ({ try Project.load(file: root.path + "/none.yaml") }, "\(root.path)/none.yaml: cannot be read: No such file or directory"),
            ({ try Project.parse("name: x\nwebhookSecret: {fromFile: pipe}", file: "m.yaml", directory: root.path) },
             "m.yaml: 'webhookSecret': \(root.path)/pipe cannot be read: is a FIFO, not a regular file"),
            ({ try Project.parse("name: x\nsecrets: {A: {fromFile: /dev/zero}}", file: "m.yaml", directory: root.path) },
             "m.yaml: secret 'A': /dev/zero cannot be read: is a device, not a regular file"),
            ({ try Project.parse("name: x\ndefaultConfigFile: huge.json", file: "m.yaml", directory: root.path) },
             "m.yaml: 'defaultConfigFile' \(root.path)/huge.json cannot be read: is \(Project.projectFileSizeLimit + 1) bytes, more than the \(Project.projectFileSizeLimit) read from such a file"),
        ]
        for (load, message) in cases {
            #expect { _ = try load() } throws: { error in "\(error)".hasPrefix(message) }
        }
    }

    /// The registry an image is pulled from, as the engine reads its name.
    @Test func registryHostsOfImages() {
        let cases = [
            ("alpine", "docker.io"), ("alpine:3.18", "docker.io"), ("library/alpine", "docker.io"), ("acme/web:1", "docker.io"),
            ("docker.io/acme/web", "docker.io"), ("index.docker.io/acme/web", "docker.io"), ("ghcr.io/acme/web:1", "ghcr.io"),
            ("MyACR.azurecr.io/hello-world:v1", "myacr.azurecr.io"), ("localhost/busybox:test", "localhost"),
            ("127.0.0.1:5000/private/busybox:1", "127.0.0.1:5000"), ("registry:5000/x", "registry:5000"),
            ("acme/web@sha256:0123", "docker.io"),
        ]
        for (image, host) in cases { #expect(RegistryHost.of(image: image) == host, "\(image)") }
    }

    @Test func shortSecretsAreReported() throws {
        let project = try Project.parse("name: x\nsecrets: {PIN: '12', EMPTY: '', LONG: 'long-enough'}", file: "m.yaml", directory: directory)
        #expect(project.unmaskableSecretNames == ["PIN"])
    }

    @Test func directoryOfProjects() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("projects-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try "console.log(1)".write(to: root.appendingPathComponent("web.js"), atomically: true, encoding: .utf8)
        try "name: acme/web\ndefaultScriptFile: web.js".write(to: root.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        try "name: acme/api".write(to: root.appendingPathComponent("api.yml"), atomically: true, encoding: .utf8)
        try "not a project".write(to: root.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let projects = try ProjectDirectory(path: root.path)
        #expect(projects.projects.map(\.name) == ["acme/api", "acme/web"])
        #expect(projects.project(named: "acme/web")?.defaultScriptFile == root.appendingPathComponent("web.js").standardizedFileURL.path)
        #expect(projects.project(named: ProjectID.of("acme/api"))?.name == "acme/api")
        #expect(projects.project(named: "acme/nope") == nil)

        #expect(projects.problems.isEmpty)

        // A name declared twice: the file that had it keeps it, else the first by name.
        try "name: acme/web\ndefaultScript: 'again'".write(to: root.appendingPathComponent("again.yaml"), atomically: true, encoding: .utf8)
        let twice = try ProjectDirectory(path: root.path)
        #expect(twice.project(named: "acme/web")?.defaultScript == "again" && twice.projects.count == 2)
        #expect(twice.problems.map(\.description) == [
            "\(root.appendingPathComponent("web.yaml").path): declares project 'acme/web', which \(root.appendingPathComponent("again.yaml").path) declares (the file is skipped)"])
        let kept = try ProjectDirectory(path: root.path, previous: projects.byFile)
        #expect(kept.project(named: "acme/web")?.defaultScriptFile != nil, "web.yaml had the name before")
        #expect(kept.problems.map(\.error.file) == [root.appendingPathComponent("again.yaml").path])

        // A file that stops loading keeps its previous version; one that never loaded is skipped.
        try FileManager.default.removeItem(at: root.appendingPathComponent("again.yaml"))
        try "name: acme/api\nunknownKey: 1".write(to: root.appendingPathComponent("api.yml"), atomically: true, encoding: .utf8)
        try "name: [".write(to: root.appendingPathComponent("new.yaml"), atomically: true, encoding: .utf8)
        let broken = try ProjectDirectory(path: root.path, previous: projects.byFile)
        #expect(broken.projects.map(\.name) == ["acme/api", "acme/web"])
        #expect(broken.problems.map(\.keptPrevious) == [true, false])
        #expect(broken.problems.map { ($0.error.file as NSString).lastPathComponent } == ["api.yml", "new.yaml"])
        #expect(try ProjectDirectory(path: root.path).projects.map(\.name) == ["acme/web"], "without a previous version")
        #expect { try ProjectDirectory(path: root.appendingPathComponent("nope").path) } throws: { "\($0)".contains("is not a directory") }
    }
}

@Suite struct AsyncLimiterTests {
    /// A waiter that is cancelled stops waiting while the permit is still held, and does
    /// not take it later; the next waiter gets it. Before, a stopped build whose checkout
    /// waited behind another build's fetch ended only once that fetch did.
    @Test func aCancelledWaiterStopsWaitingAndTheNextGetsThePermit() async throws {
        let limiter = AsyncLimiter(limit: 1)
        let (hold, letGo) = AsyncStream.makeStream(of: Void.self)
        let (entries, entered) = AsyncStream.makeStream(of: String.self)
        var order = entries.makeAsyncIterator()
        let holder = Task { try await limiter.withPermit("mirror") { entered.yield("holder"); for await _ in hold {} } }
        #expect(await order.next() == "holder")
        let outcome = Mutex<String?>(nil)
        let cancelled = Task {
            do {
                try await limiter.withPermit("mirror") { entered.yield("cancelled") }
                outcome.withLock { $0 = "got the permit" }
            } catch {
                outcome.withLock { $0 = "\(type(of: error))" }
            }
        }
        let next = Task { try await limiter.withPermit("mirror") { entered.yield("next") } }
        try await Task.sleep(for: .milliseconds(100)) // both are waiting by now (if not, the cancel is seen on arrival)
        cancelled.cancel()
        for _ in 0..<200 where outcome.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(25)) }
        #expect(outcome.withLock { $0 } == "CancellationError", "it stopped waiting while the permit was held")
        letGo.finish()
        try await holder.value
        try await next.value
        #expect(await order.next() == "next")
        await cancelled.value
    }
}
