import BrigantineCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The shared store: builds, jobs, logs and the queue in PostgreSQL, for several gateways
/// (on one machine or many) that run the same projects. Each commit is PostgreSQL's own
/// durable commit; a build is claimed by one gateway only (`FOR UPDATE SKIP LOCKED`).
///
/// A claim is a lease: the claiming store renews it while its gateway lives. A build whose
/// lease ran out (its gateway died) is recovered by any gateway, and one left running by an
/// earlier run of the same instance is recovered as soon as that instance starts again.
public final class PostgresBuildStore: BuildStore {
    /// Names the gateway that claims builds; stable across its restarts.
    public let instance: String
    /// Names this opening of the store: a build's claim belongs to one, so a live gateway's
    /// own builds are told apart from those an earlier run of the same instance left.
    private let session = UUID().uuidString
    public let leaseDuration: Duration
    private let client: PostgresClient
    private let background: Task<Void, Never>
    private let logger: Logger

    public var recoveryInterval: Duration? { leaseDuration }
    public var isShared: Bool { true }

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, with
    /// `?host=/socket/directory` for a unix socket) and creates the tables if needed.
    public init(url: String, instance: String, leaseDuration: Duration = .seconds(30), logger: Logger) async throws {
        self.instance = instance
        self.leaseDuration = leaseDuration
        self.logger = logger
        let address = try PostgresURL(url)
        do {
            try await Self.migrate(address.connectionConfiguration, logger: logger)
        } catch {
            throw StoreError("cannot open the PostgreSQL store at \(PostgresURL.redacted(url)): \(Self.describe(error))")
        }
        client = PostgresClient(configuration: address.configuration, backgroundLogger: logger)
        let renewEvery = leaseDuration / 3
        // Queries wait for `client.run()` to have begun (else PostgresNIO warns of a lease
        // before run); it marks itself running as soon as it is called.
        let (running, runningNow) = AsyncStream<Void>.makeStream()
        background = Task { [client, session, leaseDuration] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    runningNow.finish()
                    await client.run()
                }
                // Renewing the leases of the builds this opening claimed, while it lives.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: renewEvery)
                        _ = try? await client.query("""
                            UPDATE builds SET lease_until = \(unescaped: Self.databaseNow) + \(leaseDuration.seconds)
                            WHERE claim_session = \(session) AND status = 'Running'
                            """)
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        for await _ in running {}
    }

    deinit {
        background.cancel()
    }

    /// Stops the connections and the lease renewals.
    public func close() {
        background.cancel()
    }

    /// Checks that the database answers and brings its tables up to `schema`, on a
    /// connection of its own.
    ///
    /// How many of `schema`'s statements a database has had is recorded in it, and only the
    /// newer ones run: even `IF NOT EXISTS` DDL locks its table (`ALTER TABLE` exclusively),
    /// and a gateway starting beside live ones on a current schema must not lock their
    /// tables — that deadlocked against a running gateway's writes. When there is something
    /// to change while gateways run, PostgreSQL may still pick the migration as a
    /// deadlock's victim: it is rolled back whole and tried again.
    private static func migrate(_ configuration: PostgresConnection.Configuration, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await applySchema(on: connection, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private static func applySchema(on connection: PostgresConnection, logger: Logger) async throws {
        var attempt = 1
        while true {
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    // Gateways starting together bring the schema up once.
                    try await connection.query("SELECT pg_advisory_xact_lock(7744)", logger: logger)
                    try await connection.query(
                        "CREATE TABLE IF NOT EXISTS brigantine_schema (applied BIGINT NOT NULL)", logger: logger)
                    var applied = 0
                    for try await count in try await connection.query(
                        "SELECT applied FROM brigantine_schema", logger: logger).decode(Int.self) {
                        applied = max(applied, count)
                    }
                    // A database made by a newer Brigantine has more; it is left as it is.
                    guard applied < schema.count else { return }
                    for statement in schema.dropFirst(applied) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("DELETE FROM brigantine_schema", logger: logger)
                    try await connection.query(
                        "INSERT INTO brigantine_schema (applied) VALUES (\(schema.count))", logger: logger)
                }
                return
            } catch let error as PostgresTransactionError where attempt < 5 && isDeadlock(error.closureError) {
                logger.notice("the store's schema change was a deadlock's victim; trying it again (\(attempt) of 4)")
                attempt += 1
                try await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    private static func isDeadlock(_ error: (any Error)?) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "40P01"
    }

    /// How many statements make the current schema (for tests).
    static var schemaStatements: Int { schema.count }

    private static let schema = [
        """
        CREATE TABLE IF NOT EXISTS builds (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL,
            project_name TEXT NOT NULL,
            event_type TEXT NOT NULL,
            provider TEXT NOT NULL,
            commit_id TEXT NOT NULL,
            ref TEXT NOT NULL,
            payload BYTEA NOT NULL,
            clone_url TEXT,
            log_level TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            exit_code BIGINT,
            created_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            attempts BIGINT NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claim_session TEXT,
            lease_until DOUBLE PRECISION
        )
        """,
        "CREATE INDEX IF NOT EXISTS builds_by_project ON builds (project_id, id)",
        "CREATE INDEX IF NOT EXISTS pending_by_project ON builds (project_id, id) WHERE status = 'Pending'",
        "CREATE INDEX IF NOT EXISTS running_by_lease ON builds (lease_until) WHERE status = 'Running'",
        // Why a build was asked to stop (`brig build cancel`, the API), read by the gateway running it.
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS cancel_reason TEXT",
        "CREATE INDEX IF NOT EXISTS cancel_requested ON builds (claim_session) WHERE status = 'Running' AND cancel_reason IS NOT NULL",
        // One build per delivery of a webhook, for projects that deduplicate.
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS delivery_key TEXT",
        "CREATE UNIQUE INDEX IF NOT EXISTS delivery_once ON builds (project_id, delivery_key) WHERE delivery_key IS NOT NULL",
        """
        CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY,
            build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            image TEXT NOT NULL,
            status TEXT NOT NULL,
            exit_code BIGINT,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            failure TEXT,
            output TEXT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS jobs_by_build ON jobs (build_id, started_at)",
        """
        CREATE TABLE IF NOT EXISTS log_lines (
            build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            stream TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (build_id, seq)
        )
        """,
        // Running builds by project, counted by claims for projects that limit theirs.
        "CREATE INDEX IF NOT EXISTS running_by_project ON builds (project_id) WHERE status = 'Running'",
        // Statements are only ever added here, at the end: a database records how many it has had,
        // and is given the ones after those. (`waiting_to_start` was first put before `jobs`,
        // where databases made before it never ran it; after their last one, they do.)
        // Builds whose script has not started and that wait to try their start again.
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS waiting_to_start BOOLEAN NOT NULL DEFAULT false",
        // Webhooks joining a pending build of the same image repository, for projects that coalesce.
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS coalesce_key TEXT",
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS not_before DOUBLE PRECISION",
        "ALTER TABLE builds ADD COLUMN IF NOT EXISTS coalesced BIGINT NOT NULL DEFAULT 0",
        """
        CREATE UNIQUE INDEX IF NOT EXISTS pending_coalescing ON builds (project_id, coalesce_key)
            WHERE status = 'Pending' AND coalesce_key IS NOT NULL
        """,
        // Pieces of a line longer than a row holds (`BuildLog.maxLineBytes`), shown joined.
        "ALTER TABLE log_lines ADD COLUMN IF NOT EXISTS continues BOOLEAN NOT NULL DEFAULT false",
    ]

    // MARK: Writing

    public func create(_ build: NewBuild) async throws -> StoredBuild {
        // Between the looks and the insert, the pending build of the same coalescing key may be
        // claimed, or another gateway may insert one: the insert then takes nothing (a unique
        // index), and the looks are made again.
        for _ in 1...5 {
            if build.coalesceKey != nil {
                if let first = try await firstDelivery(of: build) { return first }
                if let joined = try await join(build) { return joined }
            }
            let now = Self.now()
            let inserted = try await rows("""
                INSERT INTO builds (id, project_id, project_name, event_type, provider, commit_id, ref, payload,
                                    clone_url, log_level, delivery_key, coalesce_key, not_before, status, created_at)
                VALUES (\(build.id), \(build.projectID), \(build.projectName), \(build.eventType), \(build.provider),
                        \(build.commit), \(build.ref), \(build.payload), \(build.cloneURL), \(build.logLevel),
                        \(build.deliveryKey), \(build.coalesceKey), \(build.notBefore?.timeIntervalSince1970), 'Pending', \(now))
                ON CONFLICT DO NOTHING
                RETURNING id
                """)
            if !inserted.isEmpty {
                return StoredBuild(build: build, status: .pending, createdAt: Date(timeIntervalSince1970: now), attempts: 0)
            }
            // Taken: a concurrent insert of the same key has committed by now (it waited for it).
            if let first = try await firstDelivery(of: build) { return first }
            guard build.coalesceKey != nil else { break }
        }
        throw StoreError("build \(build.id) could not be stored: another build has its ID, or kept taking its coalescing key")
    }

    /// The build of the project that has the same delivery key, if any.
    private func firstDelivery(of build: NewBuild) async throws -> StoredBuild? {
        guard let key = build.deliveryKey else { return nil }
        return try Self.builds(from: try await rows("""
            SELECT \(unescaped: Self.buildColumns) FROM builds WHERE project_id = \(build.projectID) AND delivery_key = \(key)
            """)).first
    }

    /// The pending build of the same coalescing key, given this build's event, if there is
    /// one. A claim that has the row locked is waited for, and then it is not pending.
    private func join(_ build: NewBuild) async throws -> StoredBuild? {
        try Self.builds(from: try await rows("""
            UPDATE builds SET event_type = \(build.eventType), provider = \(build.provider), commit_id = \(build.commit),
                ref = \(build.ref), payload = \(build.payload), coalesced = coalesced + 1
            WHERE project_id = \(build.projectID) AND coalesce_key = \(build.coalesceKey) AND status = 'Pending'
            RETURNING \(unescaped: Self.buildColumns)
            """)).first
    }

    /// The oldest pending build of a project not in `busyProjects`: the projects with pending
    /// builds are walked through the partial index one by one (a backlog of a busy project
    /// costs nothing to skip), and a build another gateway is claiming is passed over.
    /// One statement picks and marks the build. With `limits`, claims of every gateway take
    /// turns (an advisory lock held to the commit), so the running builds a claim counts
    /// include those another gateway has just claimed; without, claims run side by side.
    public func claimNextPending(busyProjects: Set<String>, limits: [String: Int]) async throws -> StoredBuild? {
        guard !limits.isEmpty else { return try Self.builds(from: try await rows(claim(busyProjects, limits))).first }
        return try await withTransaction { [logger] connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.limitedClaimLock))", logger: logger)
            // Built after the wait, so that the start it records is not before the lock.
            let claim = self.claim(busyProjects, limits)
            return try Self.builds(from: try await connection.query(claim, logger: logger).collect()).first
        }
    }

    /// The advisory lock claims take when projects limit their running builds (7744 is the schema's).
    static let limitedClaimLock = 7745

    private func claim(_ busyProjects: Set<String>, _ limits: [String: Int]) -> PostgresQuery {
        let now = Self.now()
        let limited = limits.sorted { $0.key < $1.key }
        return """
            WITH RECURSIVE projects (project) AS (
                (SELECT project_id FROM builds WHERE status = 'Pending' ORDER BY project_id LIMIT 1)
                UNION ALL
                SELECT (SELECT project_id FROM builds WHERE status = 'Pending' AND project_id > project
                        ORDER BY project_id LIMIT 1)
                FROM projects WHERE project IS NOT NULL
            ),
            full_projects AS (
                SELECT limited.project FROM unnest(\(limited.map(\.key))::text[], \(limited.map(\.value))::bigint[])
                    AS limited (project, most)
                WHERE (SELECT count(*) FROM builds WHERE project_id = limited.project AND status = 'Running') >= limited.most
            ),
            next AS (
                SELECT oldest.id FROM projects, LATERAL (
                    SELECT id FROM builds WHERE status = 'Pending' AND project_id = projects.project
                        AND (not_before IS NULL OR not_before <= \(now))
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
                ) oldest
                WHERE projects.project IS NOT NULL AND projects.project <> ALL(\(Array(busyProjects)))
                    AND projects.project NOT IN (SELECT project FROM full_projects)
                ORDER BY oldest.id LIMIT 1
            )
            UPDATE builds SET status = 'Running', started_at = \(now), attempts = attempts + 1,
                claimed_by = \(instance), claim_session = \(session), lease_until = \(unescaped: Self.databaseNow) + \(leaseDuration.seconds)
            FROM next WHERE builds.id = next.id
            RETURNING \(unescaped: Self.buildColumns)
            """
    }

    public func appendLog(buildID: String, lines: [LogLine]) async throws {
        guard !lines.isEmpty else { return }
        if try await withConnection({ try await self.append(lines, of: buildID, on: $0) }) == 0 {
            logger.notice("dropped \(lines.count) log line(s) of build \(buildID): it was recovered after this gateway's lease on it ran out")
        }
    }

    /// One statement: the lines, numbered after the build's last one, are taken only while
    /// this opening of the store holds its claim on the build. A gateway cut off from the
    /// database for longer than its lease has lost the build (failed, or queued again and
    /// maybe run by another gateway, whose log must not get this one's lines). The claim's
    /// row is share-locked for the insert, so recovery (which skips locked rows) cannot take
    /// the build halfway. Returns how many lines were taken.
    private func append(_ lines: [LogLine], of buildID: String, on connection: PostgresConnection) async throws -> Int {
        guard !lines.isEmpty else { return 0 }
        return try await connection.query("""
            WITH held AS (
                SELECT id FROM builds WHERE id = \(buildID) AND status = 'Running' AND claim_session = \(session) FOR SHARE
            )
            INSERT INTO log_lines (build_id, seq, stream, text, continues)
            SELECT held.id, last.seq + line.n, line.stream, line.text, line.continues
            FROM held, (SELECT COALESCE(MAX(seq), 0) AS seq FROM log_lines WHERE build_id = \(buildID)) last,
                 unnest(\(lines.map(\.stream.rawValue))::text[], \(lines.map(\.text))::text[], \(lines.map(\.continues))::bool[])
                     WITH ORDINALITY AS line (stream, text, continues, n)
            RETURNING 1
            """, logger: logger).collect().count
    }

    /// Whether this opening of the store still holds its claim on the build; the row stays
    /// locked until the transaction ends.
    private func holdsClaim(on buildID: String, _ connection: PostgresConnection) async throws -> Bool {
        let held = try await connection.query("""
            SELECT 1 FROM builds WHERE id = \(buildID) AND status = 'Running' AND claim_session = \(session)
            FOR UPDATE
            """, logger: logger).collect()
        return !held.isEmpty
    }

    /// Only while this opening holds the build: one that was recovered after its lease ran
    /// out (this gateway lost the database for that long) keeps the outcome recovery gave it,
    /// and gets none of this run's lines or jobs.
    public func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?,
                       lastLines: [LogLine], jobs: [StoredJob]) async throws {
        try await withTransaction { connection in
            guard try await self.holdsClaim(on: buildID, connection) else {
                self.logger.notice("dropped the end of build \(buildID) (\(status.rawValue)): it was recovered after this gateway's lease on it ran out")
                return
            }
            _ = try await self.append(lastLines, of: buildID, on: connection)
            for job in jobs {
                // A later record with the same pod name (a job run twice) replaces the earlier one.
                try await connection.query("""
                    INSERT INTO jobs (id, build_id, name, image, status, exit_code, started_at, finished_at, failure, output)
                    VALUES (\(job.id), \(job.buildID), \(job.name), \(job.image), \(job.status), \(job.exitCode),
                            \(job.startedAt.timeIntervalSince1970), \(job.finishedAt?.timeIntervalSince1970),
                            \(job.failure), \(job.output))
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code,
                        finished_at = excluded.finished_at, failure = excluded.failure, output = excluded.output
                    """, logger: self.logger)
            }
            try await connection.query("""
                UPDATE builds SET status = \(status.rawValue), exit_code = \(exitCode), reason = \(reason),
                    finished_at = \(Self.now()), lease_until = NULL
                WHERE id = \(buildID)
                """, logger: self.logger)
        }
    }

    public func markWaitingToStart(buildID: String, _ waiting: Bool) async throws {
        _ = try await rows("UPDATE builds SET waiting_to_start = \(waiting) WHERE id = \(buildID)")
    }

    public func putBack(buildID: String) async throws {
        try await withTransaction { connection in
            guard try await self.holdsClaim(on: buildID, connection) else { return } // another gateway has it now
            try await connection.query("DELETE FROM log_lines WHERE build_id = \(buildID)", logger: self.logger)
            try await connection.query("""
                UPDATE builds SET waiting_to_start = false, coalesce_key = NULL,
                    status = CASE WHEN cancel_reason IS NULL THEN 'Pending' ELSE 'Failed' END,
                    started_at = CASE WHEN cancel_reason IS NULL THEN NULL ELSE started_at END,
                    exit_code = CASE WHEN cancel_reason IS NULL THEN NULL ELSE 1 END,
                    reason = cancel_reason,
                    finished_at = CASE WHEN cancel_reason IS NULL THEN NULL ELSE \(Self.now()) END,
                    claimed_by = NULL, claim_session = NULL, lease_until = NULL
                WHERE id = \(buildID) AND status = 'Running'
                """, logger: self.logger)
        }
    }

    /// Batches of `deletionBatch` (jobs and log lines go with their builds, by their foreign
    /// keys); rows another gateway is deleting at the same time are skipped, not waited for.
    public func deleteEndedBuilds(createdBefore cutoff: Date) async throws -> Int {
        let before = ULID.smallest(at: cutoff)
        var deleted = 0
        while true {
            let rows = try await rows("""
                WITH gone AS (
                    DELETE FROM builds WHERE id IN (
                        SELECT id FROM builds WHERE id < \(before) AND status IN ('Succeeded', 'Failed')
                        ORDER BY id LIMIT \(Self.deletionBatch) FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                )
                SELECT count(*) FROM gone
                """)
            let batch = try rows.first?.decode(Int.self) ?? 0
            deleted += batch
            if batch < Self.deletionBatch { return deleted }
        }
    }

    static let deletionBatch = 500

    public func deleteBuild(id: String) async throws -> BuildDeletion {
        try await withTransaction { connection in
            let rows = try await connection.query(
                "SELECT status FROM builds WHERE id = \(id) FOR UPDATE", logger: self.logger).collect()
            guard let row = rows.first else { return .notFound }
            let status = BuildStatus(rawValue: try row.decode(String.self)) ?? .failed
            guard status.isFinished else { return .notEnded(status) }
            try await connection.query("DELETE FROM builds WHERE id = \(id)", logger: self.logger)
            return .deleted
        }
    }

    public func requestCancel(buildID: String, reason: String) async throws -> CancelRequest {
        try await withTransaction { connection in
            let rows = try await connection.query(
                "SELECT status FROM builds WHERE id = \(buildID) FOR UPDATE", logger: self.logger).collect()
            let status = try rows.first.map { BuildStatus(rawValue: try $0.decode(String.self)) ?? .failed }
            let request = CancelRequest(status: status)
            switch request {
            case .ended:
                try await connection.query("""
                    UPDATE builds SET status = 'Failed', exit_code = 1, reason = \(reason), cancel_reason = \(reason),
                        finished_at = \(Self.now())
                    WHERE id = \(buildID)
                    """, logger: self.logger)
            case .requested:
                // The first request's reason is the one the build ends with.
                try await connection.query("""
                    UPDATE builds SET cancel_reason = COALESCE(cancel_reason, \(reason)) WHERE id = \(buildID)
                    """, logger: self.logger)
            case .alreadyEnded, .notFound:
                break
            }
            return request
        }
    }

    /// Those of the builds this opening of the store claimed.
    public func cancelRequests() async throws -> [String: String] {
        var requests: [String: String] = [:]
        for row in try await rows("""
            SELECT id, cancel_reason FROM builds
            WHERE status = 'Running' AND claim_session = \(session) AND cancel_reason IS NOT NULL
            """) {
            let (id, reason) = try row.decode((String, String).self)
            requests[id] = reason
        }
        return requests
    }

    /// Builds whose gateway is gone: left running by an earlier run of this instance, or by
    /// any gateway whose lease on them ran out. One that was asked to stop is failed with
    /// that reason rather than run again.
    public func recoverInterrupted(reason: String, requeue: @Sendable (String) -> Bool) async throws -> Int {
        // The transaction has ended when `withTransaction` returns: `requeue` is not kept.
        try await withoutActuallyEscaping(requeue) { requeue in try await recover(reason: reason, requeue: requeue) }
    }

    private func recover(reason: String, requeue: @escaping @Sendable (String) -> Bool) async throws -> Int {
        try await withTransaction { connection in
            let rows = try await connection.query("""
                SELECT id, project_id, cancel_reason, waiting_to_start FROM builds
                WHERE status = 'Running' AND claim_session <> \(self.session)
                    AND (claimed_by = \(self.instance) OR lease_until < \(unescaped: Self.databaseNow))
                FOR UPDATE SKIP LOCKED
                """, logger: self.logger)
            var interrupted: [(id: String, project: String, cancelled: String?, waiting: Bool)] = []
            for try await build in rows.decode((String, String, String?, Bool).self) { interrupted.append(build) }
            for (id, project, cancelled, waiting) in interrupted {
                if cancelled == nil, waiting || requeue(project) {
                    try await connection.query("""
                        UPDATE builds SET status = 'Pending', started_at = NULL, claimed_by = NULL, claim_session = NULL,
                            lease_until = NULL, waiting_to_start = false, coalesce_key = NULL
                        WHERE id = \(id)
                        """, logger: self.logger)
                    try await connection.query("DELETE FROM log_lines WHERE build_id = \(id)", logger: self.logger)
                    try await connection.query("DELETE FROM jobs WHERE build_id = \(id)", logger: self.logger)
                } else {
                    try await connection.query("""
                        UPDATE builds SET status = 'Failed', exit_code = 1, reason = \(cancelled ?? reason), finished_at = \(Self.now()),
                            lease_until = NULL
                        WHERE id = \(id)
                        """, logger: self.logger)
                }
            }
            return interrupted.count
        }
    }

    // MARK: Reading

    public func build(id: String) async throws -> StoredBuild? {
        try await Self.builds(from: rows(
            "SELECT \(unescaped: Self.buildColumns) FROM builds WHERE id = \(id)")).first
    }

    public func status(ofBuild id: String) async throws -> BuildStatus? {
        try await rows("SELECT status FROM builds WHERE id = \(id)").first.map { BuildStatus(rawValue: try $0.decode(String.self)) ?? .failed }
    }

    public func builds(projectID: String?, status: BuildStatus?, before: String?, limit: Int) async throws -> [StoredBuild] {
        // Planned for each call's values, so a missing filter costs nothing. IDs are ULIDs: in
        // the order builds came.
        // Not the payloads: a page of 1,000 could be 2 GiB of them (the size is read without them).
        try await Self.builds(from: rows("""
            SELECT \(unescaped: Self.listedBuildColumns) FROM builds
            WHERE (\(projectID)::text IS NULL OR project_id = \(projectID)) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                AND (\(before)::text IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """))
    }

    public func pendingCount() async throws -> Int {
        try await rows("SELECT count(*) FROM builds WHERE status = 'Pending'").first?.decode(Int.self) ?? 0
    }

    public func jobs(buildID: String, withOutput: Bool) async throws -> [StoredJob] {
        try await Self.jobs(from: rows("""
            SELECT \(unescaped: Self.jobColumns(withOutput)) FROM jobs WHERE build_id = \(buildID) ORDER BY started_at, id
            """))
    }

    public func job(id: String, withOutput: Bool) async throws -> StoredJob? {
        try await Self.jobs(from: rows(
            "SELECT \(unescaped: Self.jobColumns(withOutput)) FROM jobs WHERE id = \(id)")).first
    }

    public func jobOutput(id: String, from offset: Int, maxBytes: Int) async throws -> Data? {
        // Bytes, so that offsets count bytes; substring counts from 1.
        try await rows("""
            SELECT substring(convert_to(output, 'UTF8') from \(offset + 1)::int for \(maxBytes)::int) FROM jobs WHERE id = \(id)
            """).first.map { try $0.decode(Data.self) }
    }

    public func logs(buildID: String, after sequence: Int, limit: Int, maxBytes: Int) async throws -> [StoredLogLine] {
        // The next `limit` lines, then those that start within `maxBytes` of text.
        let found = try await rows("""
            SELECT seq, stream, text, continues FROM (
                SELECT seq, stream, text, continues, SUM(size) OVER (ORDER BY seq) - size AS before FROM (
                    SELECT seq, stream, text, continues, octet_length(text) AS size FROM log_lines
                    WHERE build_id = \(buildID) AND seq > \(sequence) ORDER BY seq LIMIT \(limit)) AS next) AS sized
            WHERE before < \(maxBytes) ORDER BY seq
            """)
        var lines: [StoredLogLine] = []
        for row in found {
            let (seq, stream, text, continues) = try row.decode((Int, String, String, Bool).self)
            lines.append(StoredLogLine(sequence: seq, line: LogLine(LogLine.Stream(rawValue: stream) ?? .stdout, text, continues: continues)))
        }
        return lines
    }

    // MARK: Connections

    /// How long an operation waits for a connection. While the database is out of reach the
    /// pool holds callers for up to a minute before failing them; a webhook should hear
    /// sooner that it was not stored (and get its 503).
    static let connectionWait: Duration = .seconds(5)

    /// Runs `body` on a connection of the pool, once one is had within `connectionWait`.
    /// Only the wait is limited: a statement that has begun is never abandoned midway (its
    /// outcome would be unknown).
    private func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let leased = LeaseFlag()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { [client] in
                try await client.withConnection { connection in
                    leased.set()
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: Self.connectionWait)
                return nil
            }
            while let result = try await group.next() {
                if let value = result {
                    group.cancelAll()
                    return value
                }
                if !leased.isSet {
                    group.cancelAll()
                    throw StoreError("the PostgreSQL store did not answer within \(Self.connectionWait)")
                }
            }
            throw CancellationError()
        }
    }

    private func withTransaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { [logger] connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// One statement's rows, read in full while the connection is held.
    private func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection { [logger] connection in
            try await connection.query(query, logger: logger).collect()
        }
    }

    // MARK: Rows

    private static let buildColumns = columns(payload: "payload")
    /// For a listing: an empty payload, and its size after the rest.
    private static let listedBuildColumns = columns(payload: "''::bytea") + ", octet_length(payload)::bigint"

    private static func columns(payload: String) -> String {
        """
        builds.id, project_id, project_name, event_type, provider, commit_id, ref, \(payload), clone_url, log_level,
        status, reason, exit_code, created_at, started_at, finished_at, attempts, delivery_key,
        coalesce_key, not_before, coalesced
        """
    }

    private static func builds(from rows: [PostgresRow]) throws -> [StoredBuild] {
        var builds: [StoredBuild] = []
        for row in rows {
            let (id, projectID, projectName, eventType, provider, commit, ref, payload, cloneURL, logLevel) =
                try row.decode((String, String, String, String, String, String, String, Data, String?, String).self)
            let columns = row.makeRandomAccess()
            builds.append(StoredBuild(
                build: NewBuild(id: id, projectID: projectID, projectName: projectName, eventType: eventType,
                                provider: provider, commit: commit, ref: ref, payload: payload, cloneURL: cloneURL,
                                logLevel: logLevel, deliveryKey: try columns[17].decode(String?.self),
                                coalesceKey: try columns[18].decode(String?.self),
                                notBefore: try columns[19].decode(Double?.self).map(Date.init(timeIntervalSince1970:))),
                status: BuildStatus(rawValue: try columns[10].decode(String.self)) ?? .failed,
                reason: try columns[11].decode(String?.self),
                exitCode: try columns[12].decode(Int?.self),
                createdAt: Date(timeIntervalSince1970: try columns[13].decode(Double.self)),
                startedAt: try columns[14].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                finishedAt: try columns[15].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                attempts: try columns[16].decode(Int.self),
                coalesced: try columns[20].decode(Int.self),
                listedPayloadBytes: columns.count > 21 ? try columns[21].decode(Int.self) : nil))
        }
        return builds
    }

    /// A job's columns, its output empty unless `withOutput`.
    private static func jobColumns(_ withOutput: Bool) -> String {
        "build_id, id, name, image, status, exit_code, started_at, finished_at, failure, \(withOutput ? "output" : "''::text")"
    }

    private static func jobs(from rows: [PostgresRow]) throws -> [StoredJob] {
        var jobs: [StoredJob] = []
        for row in rows {
            let (buildID, id, name, image, status, exitCode, startedAt, finishedAt, failure, output) =
                try row.decode((String, String, String, String, String, Int?, Double, Double?, String?, String).self)
            jobs.append(StoredJob(
                buildID: buildID, id: id, name: name, image: image, status: status, exitCode: exitCode,
                startedAt: Date(timeIntervalSince1970: startedAt),
                finishedAt: finishedAt.map(Date.init(timeIntervalSince1970:)), failure: failure, output: output))
        }
        return jobs
    }

    /// Seconds since 1970, as the store keeps times (the SQLite store's way too).
    private static func now() -> Double { Date().timeIntervalSince1970 }

    /// The database's clock, in the same unit: leases are set and judged by this one clock,
    /// so gateways on machines whose clocks disagree do not take each other's live builds.
    private static let databaseNow = "extract(epoch FROM clock_timestamp())"

    /// PostgreSQL's own message where there is one (PSQLError's description hides it).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            // A connection that failed: the socket's own error says why (refused, no such file…).
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// A store that cannot be opened or used, said plainly.
public struct StoreError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Duration {
    /// In seconds, with the fraction (the gateway's log lines use it too).
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// `postgres://user[:password]@host[:port]/database[?host=/socket/directory&sslmode=…]`,
/// the form libpq and most tools take.
struct PostgresURL {
    /// For the pool that serves the store's operations.
    let configuration: PostgresClient.Configuration
    /// For one connection made at opening: the pool retries a failing server for a minute
    /// and then reports only that it gave up, where this says why at once.
    let connectionConfiguration: PostgresConnection.Configuration

    init(_ text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw StoreError("not a PostgreSQL URL (postgres://user@host:port/database): \(Self.redacted(text))")
        }
        let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let user = url.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = url.password.flatMap { $0.removingPercentEncoding }
        let database = String(url.path.drop { $0 == "/" }).removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 }
        let port = url.port ?? Int(query["port"] ?? "") ?? 5432
        if let directory = query["host"], directory.hasPrefix("/") {
            let socket = "\(directory)/.s.PGSQL.\(port)"
            configuration = .init(unixSocketPath: socket, username: user, password: password, database: database)
            connectionConfiguration = .init(unixSocketPath: socket, username: user, password: password, database: database)
            return
        }
        let tls: PostgresClient.Configuration.TLS
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch query["sslmode"] ?? "disable" {
        case "disable":
            (tls, connectionTLS) = (.disable, .disable)
        case "prefer":
            (tls, connectionTLS) = (.prefer(.makeClientConfiguration()), .prefer(try NIOSSLContext(configuration: .makeClientConfiguration())))
        case "require":
            (tls, connectionTLS) = (.require(.makeClientConfiguration()), .require(try NIOSSLContext(configuration: .makeClientConfiguration())))
        case let mode:
            throw StoreError("sslmode \(mode) is not supported (disable, prefer or require)")
        }
        let host = url.host ?? "127.0.0.1"
        configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        connectionConfiguration = .init(host: host, port: port, username: user, password: password,
                                        database: database, tls: connectionTLS)
    }

    /// The URL without its password (in its user part or a `password=` parameter, which
    /// libpq reads too), for messages — also when it is too malformed to be read as a URL,
    /// which is when a message shows it.
    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text) else { return redactedAsText(text) }
        if url.password != nil { url.password = "***" }
        url.queryItems = url.queryItems?.map { $0.name.lowercased() == "password" ? URLQueryItem(name: $0.name, value: "***") : $0 }
        return url.string ?? "(a PostgreSQL URL)"
    }

    /// For text no URL parser reads: what stands between the user's `:` and the last `@`,
    /// and every `password=` value, become `***`.
    private static func redactedAsText(_ text: String) -> String {
        var redacted = text
        let authority = redacted.range(of: "://")?.upperBound ?? redacted.startIndex
        if let at = redacted[authority...].lastIndex(of: "@"), let colon = redacted[authority..<at].firstIndex(of: ":") {
            redacted.replaceSubrange(redacted.index(after: colon)..<at, with: "***")
        }
        return redacted.replacing(#/(?i)(password=)[^&#]*/#) { "\($0.1)***" }
    }
}

/// Set once a connection was leased (read by the task that limits the wait for one).
private final class LeaseFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
