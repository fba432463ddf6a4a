import BrigantineCore
import Foundation
import Logging
@testable import Store
import TestSupport
import Testing

/// The shared store, each test on a database of its own.
@Suite(.enabled(if: PostgresServer.available, Comment(rawValue: PostgresServer.unavailableReason)))
struct PostgresBuildStoreTests {
    let logger = Logger(label: "test")

    func withDatabase(_ body: (_ url: String) async throws -> Void) async throws {
        try await PostgresServer.withShared { try await body(try await $0.makeDatabase()) }
    }

    /// A store on a new database, closed after `body`.
    func withStore(_ body: (any BuildStore) async throws -> Void) async throws {
        try await withDatabase { url in
            let store = try await store(url)
            defer { store.close() }
            try await body(store)
        }
    }

    func store(_ url: String, instance: String = "gateway-a", lease: Duration = .seconds(30)) async throws -> PostgresBuildStore {
        try await PostgresBuildStore(url: url, instance: instance, leaseDuration: lease, logger: logger)
    }

    @Test func createdBuildsAreDurableAndExact() async throws {
        try await withDatabase { url in
            var build = BuildStoreContract.newBuild("acme/web")
            build.payload = Data([0x7B, 0x00, 0xFF, 0xC3, 0xA9, 0x0A, 0x7D]) // NUL and invalid UTF-8 too
            build.cloneURL = "https://example.invalid/acme/web.git"
            let first = try await store(url)
            _ = try await first.create(build)
            first.close()
            // Another store on the same database (another gateway, or this one restarted) sees it, byte for byte.
            let other = try await store(url, instance: "gateway-b")
            defer { other.close() }
            let stored = try #require(try await other.build(id: build.id))
            #expect(stored.build == build && stored.status == .pending && stored.attempts == 0)
            await #expect(throws: (any Error).self, "a duplicate ID is refused") { try await other.create(build) }
        }
    }

    @Test func queueTakesOldestFirstAndSkipsBusyProjects() async throws {
        try await withStore(BuildStoreContract.queueTakesOldestFirstAndSkipsBusyProjects)
    }

    @Test func queueIsOldestFirstAcrossProjects() async throws {
        try await withStore(BuildStoreContract.queueIsOldestFirstAcrossProjects)
    }

    @Test func logsJobsAndOutcome() async throws {
        try await withStore(BuildStoreContract.logsJobsAndOutcome)
    }

    @Test func logsAndOutputAreReadInParts() async throws {
        try await withStore(BuildStoreContract.logsAndOutputAreReadInParts)
    }

    @Test func buildsPutBackAreQueuedAgain() async throws {
        try await withStore(BuildStoreContract.buildsPutBackAreQueuedAgain)
    }

    @Test func oldEndedBuildsAreDeleted() async throws {
        try await withStore(BuildStoreContract.oldEndedBuildsAreDeleted)
    }

    /// A contract that restarts its store: the first is closed and another opened on the same database.
    func withRestartableStore(
        _ contract: (any BuildStore, () async throws -> any BuildStore) async throws -> Void
    ) async throws {
        try await withDatabase { url in
            let before = try await store(url)
            var restarted: PostgresBuildStore?
            defer { restarted?.close() }
            try await contract(before) {
                before.close()
                restarted = try await store(url)
                return restarted!
            }
        }
    }

    @Test func deliveryKeysKeepOneBuildPerDelivery() async throws {
        try await withStore(BuildStoreContract.deliveryKeysKeepOneBuildPerDelivery)
    }

    @Test func coalescingJoinsThePendingBuildOfItsKey() async throws {
        try await withStore(BuildStoreContract.coalescingJoinsThePendingBuildOfItsKey)
    }

    @Test func recoveryFailsOrRequeuesInterruptedBuilds() async throws {
        try await withRestartableStore(BuildStoreContract.recoveryFailsOrRequeuesInterruptedBuilds)
    }

    @Test func cancelEndsPendingBuildsAndMarksRunningOnes() async throws {
        try await withRestartableStore(BuildStoreContract.cancelEndsPendingBuildsAndMarksRunningOnes)
    }

    /// Only the gateway running a build is told it was asked to stop.
    @Test func cancelRequestsGoToTheGatewayRunningTheBuild() async throws {
        try await withDatabase { url in
            let a = try await store(url, instance: "gateway-a")
            let b = try await store(url, instance: "gateway-b")
            defer { a.close(); b.close() }
            let build = try await a.create(BuildStoreContract.newBuild("acme/web"))
            _ = try await a.claimNextPending(busyProjects: [])
            #expect(try await b.requestCancel(buildID: build.id, reason: "from b") == .requested)
            #expect(try await b.cancelRequests().isEmpty)
            #expect(try await a.cancelRequests() == [build.id: "from b"])
        }
    }

    /// Two gateways taking from one queue at once: every build is taken, none twice.
    @Test func gatewaysSharingTheQueueTakeEachBuildOnce() async throws {
        try await withDatabase { url in
            let a = try await store(url, instance: "gateway-a")
            let b = try await store(url, instance: "gateway-b")
            defer { a.close(); b.close() }
            var created: Set<String> = []
            for n in 0..<120 {
                created.insert(try await a.create(BuildStoreContract.newBuild("acme/p\(n % 4)")).id)
            }
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for store in [a, b, a, b] {
                    group.addTask {
                        var taken: [String] = []
                        while let build = try await store.claimNextPending(busyProjects: []) { taken.append(build.id) }
                        return taken
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claims.count == created.count)
            #expect(Set(claims) == created)
        }
    }

    /// A project's limit on its running builds holds over every gateway of the store: at 1, a
    /// gateway claims none of its builds while another runs one, even when they claim at once.
    /// Other projects are not held back, and without limits claims count no one's builds.
    @Test func aProjectsLimitCountsTheBuildsOfEveryGateway() async throws {
        try await withDatabase { url in
            let a = try await store(url, instance: "gateway-a")
            let b = try await store(url, instance: "gateway-b")
            defer { a.close(); b.close() }
            let deploy = ProjectID.of("acme/deploy")
            var ids: [String] = []
            for _ in 0..<4 {
                ids.append(try await a.create(BuildStoreContract.newBuild("acme/deploy")).id)
                try await Task.sleep(for: .milliseconds(2))
            }
            let web = try await a.create(BuildStoreContract.newBuild("acme/web"))
            // Eight claims at once, four from each gateway.
            let taken = try await withThrowingTaskGroup(of: (PostgresBuildStore, String)?.self) { group in
                for store in [a, b, a, b, a, b, a, b] {
                    group.addTask {
                        try await store.claimNextPending(busyProjects: [], limits: [deploy: 1]).map { (store, $0.id) }
                    }
                }
                return try await group.reduce(into: [(PostgresBuildStore, String)]()) { if let claim = $1 { $0.append(claim) } }
            }
            #expect(Set(taken.map(\.1)) == [ids[0], web.id] && taken.count == 2)
            let holder = try #require(taken.first { $0.1 == ids[0] }?.0)
            let other = holder === a ? b : a
            #expect(try await other.claimNextPending(busyProjects: [], limits: [deploy: 1]) == nil)
            // Once it ends, the next is taken by either gateway; at 2, two run.
            try await holder.finish(buildID: ids[0], status: .succeeded, exitCode: 0, reason: nil)
            #expect(try await other.claimNextPending(busyProjects: [], limits: [deploy: 1])?.id == ids[1])
            #expect(try await holder.claimNextPending(busyProjects: [], limits: [deploy: 1]) == nil)
            #expect(try await holder.claimNextPending(busyProjects: [], limits: [deploy: 2])?.id == ids[2])
            #expect(try await other.claimNextPending(busyProjects: [])?.id == ids[3])
        }
    }

    /// A build is held by its gateway's lease: others leave it alone while the lease is renewed,
    /// recover it once renewals stop, and the first gateway's late outcome is not recorded.
    @Test func buildsOfAGatewayThatStoppedAreRecoveredWhenTheLeaseRunsOut() async throws {
        try await withDatabase { url in
            // Renewed every second: a renewal would have to come 2 s late (a test machine
            // under load) for the lease to lapse while `a` lives.
            let a = try await store(url, instance: "gateway-a", lease: .seconds(3))
            let b = try await store(url, instance: "gateway-b", lease: .seconds(3))
            defer { b.close() }
            let build = try await a.create(BuildStoreContract.newBuild("acme/web"))
            #expect(try await a.claimNextPending(busyProjects: [])?.id == build.id)
            try await Task.sleep(for: .seconds(4)) // longer than the lease: it was renewed meanwhile
            #expect(try await b.recoverInterrupted(reason: "its gateway stopped") { _ in false } == 0)
            #expect(try await b.build(id: build.id)?.status == .running)

            a.close() // renewals stop, as when the gateway dies
            try await Task.sleep(for: .seconds(4)) // the last renewal was at most 1 s before
            #expect(try await b.recoverInterrupted(reason: "its gateway stopped") { _ in false } == 1)
            let recovered = try #require(try await b.build(id: build.id))
            #expect(recovered.status == .failed && recovered.reason == "its gateway stopped")

            let late = try await store(url, instance: "gateway-a")
            defer { late.close() }
            try await late.finish(buildID: build.id, status: .succeeded, exitCode: 0, reason: nil)
            #expect(try await b.build(id: build.id)?.status == .failed)
        }
    }

    /// A gateway that lost its claim (its lease ran out while it could not reach the
    /// database) writes nothing more to the build: not its log lines, jobs or end, which
    /// belong to the build's next run, here already under way on another gateway.
    @Test func aLostClaimWritesNothingToTheBuildsNextRun() async throws {
        try await PostgresServer.withShared { server in
            let url = try await server.makeDatabase()
            let first = try await store(url, instance: "gateway-a")
            let other = try await store(url, instance: "gateway-b")
            defer { first.close(); other.close() }
            let build = try await first.create(BuildStoreContract.newBuild("acme/web"))
            _ = try await first.claimNextPending(busyProjects: [])
            try await first.appendLog(buildID: build.id, lines: [LogLine(.stdout, "first run")])
            // As when `first`'s lease ran out: the build goes back to the queue and runs on `other`.
            _ = try await server.query(url, "UPDATE builds SET lease_until = 0")
            #expect(try await other.recoverInterrupted(reason: "its gateway stopped") { _ in true } == 1)
            #expect(try await other.claimNextPending(busyProjects: [])?.attempts == 2)
            try await other.appendLog(buildID: build.id, lines: [LogLine(.stdout, "second run")])

            try await first.appendLog(buildID: build.id, lines: [LogLine(.stdout, "first run, late")])
            let lateJob = StoredJob(buildID: build.id, id: "test-\(build.id)", name: "test", image: "alpine",
                                    status: "succeeded", exitCode: 0, startedAt: Date(), finishedAt: Date(),
                                    failure: nil, output: "late\n")
            try await first.finish(buildID: build.id, status: .failed, exitCode: 1, reason: "late",
                                   lastLines: [LogLine(.stderr, "first run's end")], jobs: [lateJob])
            #expect(try await other.build(id: build.id)?.status == .running)
            #expect(try await other.jobs(buildID: build.id).isEmpty)
            #expect(try await other.logs(buildID: build.id, after: 0, limit: 10).map(\.line.text) == ["second run"])

            try await other.finish(buildID: build.id, status: .succeeded, exitCode: 0, reason: nil,
                                   lastLines: [LogLine(.stdout, "second run's end")], jobs: [])
            #expect(try await other.build(id: build.id)?.status == .succeeded)
            #expect(try await other.logs(buildID: build.id, after: 0, limit: 10).map(\.line.text) == ["second run", "second run's end"])
        }
    }

    /// A gateway looking for interrupted builds while it serves (as it does every lease) does
    /// not take its own running builds for interrupted ones, and records their end.
    @Test func aLiveGatewayKeepsItsOwnRunningBuilds() async throws {
        try await withDatabase { url in
            let a = try await store(url, instance: "gateway-a", lease: .milliseconds(600))
            defer { a.close() }
            let build = try await a.create(BuildStoreContract.newBuild("acme/web"))
            #expect(try await a.claimNextPending(busyProjects: [])?.id == build.id)
            try await Task.sleep(for: .milliseconds(1200)) // two lease lengths, renewed meanwhile
            #expect(try await a.recoverInterrupted(reason: "its gateway stopped") { _ in false } == 0)
            try await a.finish(buildID: build.id, status: .succeeded, exitCode: 0, reason: nil)
            #expect(try await a.build(id: build.id)?.status == .succeeded)
        }
    }

    /// A gateway started again under its name recovers what it left running at once,
    /// and only that: another gateway's running build is not touched.
    @Test func aRestartedGatewayRecoversItsOwnBuildsAtOnce() async throws {
        try await withDatabase { url in
            let a = try await store(url, instance: "gateway-a")
            let b = try await store(url, instance: "gateway-b")
            defer { b.close() }
            let mine = try await a.create(BuildStoreContract.newBuild("acme/web"))
            let theirs = try await b.create(BuildStoreContract.newBuild("acme/api"))
            _ = try await a.claimNextPending(busyProjects: [ProjectID.of("acme/api")])
            _ = try await b.claimNextPending(busyProjects: [])
            a.close()
            let restarted = try await store(url, instance: "gateway-a")
            defer { restarted.close() }
            #expect(try await restarted.recoverInterrupted(reason: "stopped") { _ in true } == 1)
            #expect(try await restarted.build(id: mine.id)?.status == .pending)
            #expect(try await restarted.build(id: theirs.id)?.status == .running)
        }
    }

    /// A gateway starting beside a live one (whose writes hold locks on the tables) opens the
    /// store without waiting for them: on a current schema, opening changes no table. (It
    /// used to run every `IF NOT EXISTS` statement, whose locks waited for the live
    /// gateway's transactions and, in CI, deadlocked with them.)
    @Test func openingBesideALiveGatewayTakesNoLockOnItsTables() async throws {
        try await PostgresServer.withShared { server in
            let url = try await server.makeDatabase()
            let live = try await store(url, instance: "gateway-a")
            defer { live.close() }
            // A transaction of the live gateway's kind, held open: it has written to builds.
            let holder = Task {
                try await server.query(url + "&application_name=lock-holder",
                                       "BEGIN; UPDATE builds SET attempts = attempts WHERE false; SELECT pg_sleep(60); COMMIT")
            }
            defer { holder.cancel() }
            let holding = """
                SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'builds' AND l.mode = 'RowExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid()
                """
            for _ in 0..<100 where try await server.query(url, holding) == "0" {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await server.query(url, holding) == "1")

            let stopHolder = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-holder'"
            let holderLives = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lock-holder'"
            // If opening waited on that lock, it would end only once this stops the holder.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                _ = try await server.query(url, stopHolder)
            }
            let other = try await store(url, instance: "gateway-b")
            defer { other.close() }
            watchdog.cancel()
            #expect(try await server.query(url, holderLives) == "1", "opening the store waited for another gateway's transaction")
            _ = try await server.query(url, stopHolder)
            #expect(try await server.query(url, "SELECT applied FROM brigantine_schema") == "\(PostgresBuildStore.schemaStatements)")

            // A database made before the schema's count was recorded is brought up to date.
            _ = try await server.query(url, "DROP TABLE brigantine_schema")
            let upgraded = try await store(url, instance: "gateway-c")
            defer { upgraded.close() }
            _ = try await upgraded.create(BuildStoreContract.newBuild("acme/web"))
            #expect(try await server.query(url, "SELECT applied FROM brigantine_schema") == "\(PostgresBuildStore.schemaStatements)")
        }
    }

    /// A database an earlier Brigantine made gets the statements added since: here one of
    /// 12, from before builds could wait to start again or coalesce (the statement for the
    /// first was once put among the earlier ones, where such a database never ran it).
    @Test func aDatabaseOfAnEarlierSchemaGetsTheLaterStatements() async throws {
        try await withDatabase { url in
            try await store(url).close()
            try await PostgresServer.withShared { server in
                _ = try await server.query(url, """
                    DROP INDEX pending_coalescing;
                    ALTER TABLE builds DROP COLUMN waiting_to_start, DROP COLUMN coalesce_key, DROP COLUMN not_before,
                        DROP COLUMN coalesced;
                    UPDATE brigantine_schema SET applied = 12
                    """)
            }
            let upgraded = try await store(url)
            defer { upgraded.close() }
            var build = BuildStoreContract.newBuild("acme/web")
            build.coalesceKey = "repository-1"
            let created = try await upgraded.create(build)
            #expect(try await upgraded.claimNextPending(busyProjects: [])?.id == created.id)
            try await upgraded.markWaitingToStart(buildID: created.id, true)
            let applied = try await PostgresServer.withShared { server in
                try await server.query(url, "SELECT applied FROM brigantine_schema")
            }
            #expect(applied == "\(PostgresBuildStore.schemaStatements)")
        }
    }

    /// A database that cannot be reached or does not exist is said plainly, without the password.
    @Test func openingFailuresAreClearAndHideThePassword() async throws {
        try await PostgresServer.withShared { server in
            let url = "postgres://postgres:s3cret-pw@/no_such_database?host=\(server.directory.path)"
            do {
                _ = try await store(url)
                Issue.record("opened a database that does not exist")
            } catch {
                let message = "\(error)"
                #expect(message.contains("no_such_database") && message.contains("does not exist"), "\(message)")
                #expect(!message.contains("s3cret-pw"), "\(message)")
            }
        }
        // No server there at all: said at once (not after the pool's minute of retries).
        let started = ContinuousClock.now
        do {
            _ = try await store("postgres://postgres:s3cret-pw@/db?host=/nonexistent-\(UUID().uuidString)")
            Issue.record("opened a store where no server is")
        } catch {
            let message = "\(error)"
            #expect(message.contains("cannot open the PostgreSQL store") && message.contains("connection"), "\(message)")
            #expect(!message.contains("s3cret-pw"), "\(message)")
            // At once when run alone; the bound leaves room for a busy suite yet stays under the minute.
            #expect(ContinuousClock.now - started < .seconds(40))
        }
        #expect(throws: StoreError.self) { try PostgresURL("mysql://root:pw@localhost/db") }
        #expect(PostgresURL.redacted("postgres://u:s3cret@h:5432/db") == "postgres://u:***@h:5432/db")
        #expect(PostgresURL.redacted("postgres://u@h/db?sslmode=disable&password=s3cret") == "postgres://u@h/db?sslmode=disable&password=***")
        // Too malformed to be read as a URL, which is when the message shows it: still no password.
        for (text, shown) in [
            ("postgres://u:s3cret@127.0.0.1:-1/db", "postgres://u:***@127.0.0.1:-1/db"),
            ("postgres://u:s3cret@[::1/db", "postgres://u:***@[::1/db"),
            ("postgres://u:s3c@ret@[::1/db", "postgres://u:***@[::1/db"),
            ("postgres://u@[::1/db?Password=s3cret&x=1", "postgres://u@[::1/db?Password=***&x=1"),
        ] {
            #expect(PostgresURL.redacted(text) == shown)
            #expect {
                try PostgresURL(text)
            } throws: { error in
                "\(error)" == "not a PostgreSQL URL (postgres://user@host:port/database): \(shown)"
            }
        }
    }
}
