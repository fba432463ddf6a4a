import BrigantineCore
import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a
/// committed write survives a crash of the process or the machine. Concurrent writes share
/// commits (`GroupCommit`), and each returns only once it is on disk.
public final class SQLiteBuildStore: BuildStore {
    private let database: DatabasePool
    private let commits: GroupCommit
    private let checkpoints: Task<Void, Never>

    /// Opens (creating if needed) `brigantine.sqlite` in `directory`.
    ///
    /// - Parameter walLimit: bytes of write-ahead log past which it is started over.
    /// - Parameter schemaUpTo: the last schema change to make (nil: all of them), for tests
    ///   that open a store as an earlier Brigantine left it.
    public init(directory: URL, walLimit: Int = SQLiteBuildStore.defaultWALLimit, schemaUpTo lastChange: String? = nil) throws {
        do { try makeDirectories(directory) } catch {
            throw StoreError("cannot make the data directory \(directory.path): \(fileErrorReason(error))")
        }
        var configuration = Configuration()
        configuration.label = "brigantine"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // No checkpoint inside a commit: one costs 10–20 ms of copying and fsync, which
            // every write of that batch (webhooks waiting for their answer) would wait for.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // A log grown past this under a burst is cut back to it when it starts over.
            try db.execute(sql: "PRAGMA journal_size_limit = \(2 * walLimit)")
        }
        let path = directory.appendingPathComponent("brigantine.sqlite").path
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            // The pool sets `synchronous = NORMAL` on its writer when it turns WAL mode on, after
            // `prepareDatabase`: commits would then reach the disk only at checkpoints.
            try database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            if let lastChange { try Self.migrator.migrate(database, upTo: lastChange) } else { try Self.migrator.migrate(database) }
        } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            throw StoreError(Self.damaged(path, error))
        }
        let opened = OpenedFiles(database: path)
        commits = GroupCommit(database, stillKept: opened.check)
        checkpoints = try Self.checkpointContinually(path: path, walLimit: walLimit, commits: commits)
    }

    deinit {
        checkpoints.cancel()
    }

    /// The database file and its log as the store opened them. Deleted or replaced under a
    /// running gateway (a data directory removed by mistake), they stay open: commits go on
    /// succeeding into files nothing will find again, and a webhook would be acknowledged and
    /// lost at the next start. So before each commit the paths are looked at again (a
    /// `stat` each, beside the commit's fsync), and a commit that would not land in the files
    /// at those paths is rolled back and fails its writes: webhooks get 503, builds' writes
    /// are tried again. (Not after the commit as well: twice the looks, for a deletion in
    /// the millisecond or two of its fsync; see bench/HISTORY.md, 2026-12-03.)
    struct OpenedFiles: Sendable {
        struct Identity: Equatable, Sendable {
            let device: UInt64
            let inode: UInt64

            init?(path: String) {
                var info = stat()
                guard stat(path, &info) == 0 else { return nil }
                (device, inode) = (UInt64(info.st_dev), UInt64(info.st_ino))
            }
        }

        let opened: [(path: String, identity: Identity)]

        init(database path: String) {
            opened = [path, path + "-wal"].compactMap { path in Identity(path: path).map { (path, $0) } }
        }

        @Sendable func check() throws {
            for (path, identity) in opened where Identity(path: path) != identity {
                throw StoreError("\(path) is no longer the file the gateway opened (deleted, moved or replaced while it ran): "
                    + "writes are refused, since nothing would keep them; put it back, or restart the gateway")
            }
        }
    }

    /// What to do about a file SQLite cannot read as a database (a disk that lost writes, a
    /// file cut short or written over). The store is the only copy of every build, so it is
    /// left as it is: the operator decides whether to recover it or start afresh.
    static func damaged(_ path: String, _ error: DatabaseError) -> String {
        "\(path) is damaged (SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")). "
            + "It is left as it is: copy what can still be read into a new file with the sqlite3 shell "
            + "(.recover, or .dump), or move it and its -wal and -shm files aside to start on an empty store"
    }

    /// `PRAGMA synchronous` of the connection that writes (2: FULL), for tests.
    func writerSynchronousMode() async throws -> Int {
        try await database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Moves the write-ahead log into the database file from a connection of its own, beside
    /// the writes rather than inside them: a passive checkpoint blocks no writer. Under
    /// steady writes it never catches up with the log's end at the moment a write begins,
    /// so the log would never start over; past `walLimit` the writer finishes the job
    /// between two batches (a few frames by then). A truncating or restarting checkpoint
    /// would bound it too, but it holds every writer back while it waits for readers:
    /// 120–180 ms here, the worst webhook acknowledgements under load.
    private static func checkpointContinually(path: String, walLimit: Int, commits: GroupCommit) throws -> Task<Void, Never> {
        var configuration = Configuration()
        configuration.label = "brigantine checkpoints"
        configuration.busyMode = .timeout(10)
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        return Task.detached(priority: .background) {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                // The frames since the log last started over (the file itself keeps its size).
                let frames = (try? await connection.writeWithoutTransaction { try $0.checkpoint(.passive) })?.walFrameCount ?? 0
                if frames * pageSize > walLimit { commits.checkpointAfterNextBatch() }
            }
        }
    }

    /// Starting the log over stalls writes briefly (see `GroupCommit.checkpointAfterNextBatch`):
    /// at 500 webhooks/s the log grows ~16 MB/s, so this is one stall every ~4 s. The file
    /// keeps its size up to twice this (`journal_size_limit`), so starting over costs no
    /// truncation on the writer's path.
    public static let defaultWALLimit = 64 << 20
    /// SQLite's default page size, which the store keeps.
    static let pageSize = 4096

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("builds, jobs and logs") { db in
            try db.execute(sql: """
                CREATE TABLE builds (
                    id TEXT PRIMARY KEY NOT NULL,
                    project_id TEXT NOT NULL,
                    project_name TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    commit_id TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    clone_url TEXT,
                    log_level TEXT NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT,
                    exit_code INTEGER,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    attempts INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX builds_by_status ON builds(status, id);
                CREATE INDEX builds_by_project ON builds(project_id, id);
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY NOT NULL,
                    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    image TEXT NOT NULL,
                    status TEXT NOT NULL,
                    exit_code INTEGER,
                    started_at REAL NOT NULL,
                    finished_at REAL,
                    failure TEXT,
                    output TEXT NOT NULL
                );
                CREATE INDEX jobs_by_build ON jobs(build_id, started_at);
                CREATE TABLE log_lines (
                    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    stream TEXT NOT NULL,
                    text TEXT NOT NULL,
                    PRIMARY KEY (build_id, seq)
                ) WITHOUT ROWID;
                """)
        }
        // Pending builds by project, for claims that skip busy projects without reading
        // through a backlog of theirs.
        migrator.registerMigration("pending builds by project") { db in
            try db.execute(sql: "CREATE INDEX pending_by_project ON builds(project_id, id) WHERE status = 'Pending'")
        }
        // Why a build was asked to stop (`brig build cancel`, the API), read by the gateway running it.
        migrator.registerMigration("cancel requests") { db in
            try db.execute(sql: "ALTER TABLE builds ADD COLUMN cancel_reason TEXT")
        }
        // One build per delivery of a webhook, for projects that deduplicate.
        migrator.registerMigration("delivery keys") { db in
            try db.execute(sql: """
                ALTER TABLE builds ADD COLUMN delivery_key TEXT;
                CREATE UNIQUE INDEX delivery_once ON builds(project_id, delivery_key) WHERE delivery_key IS NOT NULL;
                """)
        }
        // Builds whose script has not started and that wait to try their start again.
        migrator.registerMigration("builds waiting to start") { db in
            try db.execute(sql: "ALTER TABLE builds ADD COLUMN waiting_to_start INTEGER NOT NULL DEFAULT 0")
        }
        // Webhooks joining a pending build of the same image repository, for projects that coalesce.
        migrator.registerMigration("coalescing") { db in
            try db.execute(sql: """
                ALTER TABLE builds ADD COLUMN coalesce_key TEXT;
                ALTER TABLE builds ADD COLUMN not_before REAL;
                ALTER TABLE builds ADD COLUMN coalesced INTEGER NOT NULL DEFAULT 0;
                CREATE UNIQUE INDEX pending_coalescing ON builds(project_id, coalesce_key)
                    WHERE status = 'Pending' AND coalesce_key IS NOT NULL;
                """)
        }
        // Pieces of a line longer than a row holds (`BuildLog.maxLineBytes`), shown joined.
        migrator.registerMigration("long lines") { db in
            try db.execute(sql: "ALTER TABLE log_lines ADD COLUMN continues INTEGER NOT NULL DEFAULT 0")
        }
        // The payload last, after the small columns a status check or a listing reads: SQLite
        // keeps a row in order, and a column after a 2 MB payload was read by walking its
        // 500 overflow pages (0.9 ms for a status, against 5 µs before it). A table can only
        // be given a new order by making it again; GRDB turns foreign keys off meanwhile, so
        // jobs and logs stay.
        migrator.registerMigration("payload last") { db in
            try db.execute(sql: """
                CREATE TABLE new_builds (
                    id TEXT PRIMARY KEY NOT NULL,
                    project_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    exit_code INTEGER,
                    waiting_to_start INTEGER NOT NULL DEFAULT 0,
                    not_before REAL,
                    coalesced INTEGER NOT NULL DEFAULT 0,
                    project_name TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    log_level TEXT NOT NULL,
                    delivery_key TEXT,
                    coalesce_key TEXT,
                    commit_id TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    clone_url TEXT,
                    cancel_reason TEXT,
                    reason TEXT,
                    payload BLOB NOT NULL
                );
                INSERT INTO new_builds (id, project_id, status, created_at, started_at, finished_at, attempts, exit_code,
                    waiting_to_start, not_before, coalesced, project_name, event_type, provider, log_level, delivery_key,
                    coalesce_key, commit_id, ref, clone_url, cancel_reason, reason, payload)
                SELECT id, project_id, status, created_at, started_at, finished_at, attempts, exit_code,
                    waiting_to_start, not_before, coalesced, project_name, event_type, provider, log_level, delivery_key,
                    coalesce_key, commit_id, ref, clone_url, cancel_reason, reason, payload FROM builds;
                DROP TABLE builds;
                ALTER TABLE new_builds RENAME TO builds;
                CREATE INDEX builds_by_status ON builds(status, id);
                CREATE INDEX builds_by_project ON builds(project_id, id);
                CREATE INDEX pending_by_project ON builds(project_id, id) WHERE status = 'Pending';
                CREATE UNIQUE INDEX delivery_once ON builds(project_id, delivery_key) WHERE delivery_key IS NOT NULL;
                CREATE UNIQUE INDEX pending_coalescing ON builds(project_id, coalesce_key)
                    WHERE status = 'Pending' AND coalesce_key IS NOT NULL;
                """)
        }
        return migrator
    }

    // MARK: Writing

    public func create(_ build: NewBuild) async throws -> StoredBuild {
        let now = Date()
        return try await commits.write { db in
            // One writer at a time: nothing comes between these looks and the insert.
            if build.coalesceKey != nil {
                if let first = try Self.firstDelivery(of: build, in: db) { return first }
                if let joined = try Self.join(build, in: db) { return joined }
            }
            try db.execute(sql: """
                INSERT INTO builds (id, project_id, project_name, event_type, provider, commit_id, ref, payload,
                                    clone_url, log_level, delivery_key, coalesce_key, not_before, status, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (project_id, delivery_key) WHERE delivery_key IS NOT NULL DO NOTHING
                """, arguments: [build.id, build.projectID, build.projectName, build.eventType, build.provider,
                                 build.commit, build.ref, build.payload, build.cloneURL, build.logLevel,
                                 build.deliveryKey, build.coalesceKey, build.notBefore?.timeIntervalSince1970,
                                 BuildStatus.pending.rawValue, now.timeIntervalSince1970])
            if db.changesCount == 0, let first = try Self.firstDelivery(of: build, in: db) { return first }
            return StoredBuild(build: build, status: .pending, createdAt: now, attempts: 0)
        }
    }

    /// The build of the project that has the same delivery key, if any.
    private static func firstDelivery(of build: NewBuild, in db: Database) throws -> StoredBuild? {
        guard let key = build.deliveryKey else { return nil }
        return try Row.fetchOne(db, sql: "SELECT * FROM builds WHERE project_id = ? AND delivery_key = ?",
                                arguments: [build.projectID, key]).map(Self.build(from:))
    }

    /// The pending build of the same coalescing key, given this build's event, if there is one.
    private static func join(_ build: NewBuild, in db: Database) throws -> StoredBuild? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT * FROM builds INDEXED BY pending_coalescing
            WHERE project_id = ? AND coalesce_key = ? AND status = 'Pending' AND coalesce_key IS NOT NULL
            """, arguments: [build.projectID, build.coalesceKey]) else { return nil }
        var joined = Self.build(from: row)
        joined.build.eventType = build.eventType
        joined.build.provider = build.provider
        joined.build.commit = build.commit
        joined.build.ref = build.ref
        joined.build.payload = build.payload
        joined.coalesced += 1
        try db.execute(sql: """
            UPDATE builds SET event_type = ?, provider = ?, commit_id = ?, ref = ?, payload = ?, coalesced = ? WHERE id = ?
            """, arguments: [build.eventType, build.provider, build.commit, build.ref, build.payload, joined.coalesced, joined.id])
        return joined
    }

    /// One gateway uses this store: its scheduler's count of its own builds (`busyProjects`)
    /// is the whole count, so `limits` need no second look here.
    public func claimNextPending(busyProjects: Set<String>, limits: [String: Int]) async throws -> StoredBuild? {
        try await commits.write { db in
            guard let id = try Self.oldestPending(skipping: busyProjects, at: Date(), in: db),
                  let row = try Row.fetchOne(db, sql: "SELECT * FROM builds WHERE id = ?", arguments: [id]) else { return nil }
            var build = Self.build(from: row)
            build.status = .running
            build.startedAt = Date()
            build.attempts += 1
            try db.execute(sql: "UPDATE builds SET status = ?, started_at = ?, attempts = ? WHERE id = ?",
                           arguments: [build.status.rawValue, build.startedAt!.timeIntervalSince1970, build.attempts, build.id])
            return build
        }
    }

    /// The oldest pending build of a project not in `busy` that may start at `now`. It visits
    /// each project with pending builds once (an index search each) rather than every pending
    /// build: a backlog of thousands for a busy project costs nothing to skip.
    private static func oldestPending(skipping busy: Set<String>, at now: Date, in db: Database) throws -> String? {
        // The literal status lets SQLite use the partial index.
        let nextProject = try db.cachedStatement(sql: """
            SELECT project_id FROM builds INDEXED BY pending_by_project
            WHERE status = 'Pending' AND project_id > ? ORDER BY project_id LIMIT 1
            """)
        let oldestOfProject = try db.cachedStatement(sql: """
            SELECT id FROM builds INDEXED BY pending_by_project
            WHERE status = 'Pending' AND project_id = ? AND (not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT 1
            """)
        var oldest: String?
        var after = ""
        while let project = try String.fetchOne(nextProject, arguments: [after]) {
            after = project
            guard !busy.contains(project),
                  let id = try String.fetchOne(oldestOfProject, arguments: [project, now.timeIntervalSince1970]) else { continue }
            if oldest.map({ id < $0 }) ?? true { oldest = id }
        }
        return oldest
    }

    public func appendLog(buildID: String, lines: [LogLine]) async throws {
        guard !lines.isEmpty else { return }
        try await commits.write { try Self.append(lines, of: buildID, in: $0) }
    }

    private static func append(_ lines: [LogLine], of buildID: String, in db: Database) throws {
        guard !lines.isEmpty else { return }
        let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM log_lines WHERE build_id = ?", arguments: [buildID]) ?? 0
        let insert = try db.cachedStatement(sql: "INSERT INTO log_lines (build_id, seq, stream, text, continues) VALUES (?, ?, ?, ?, ?)")
        for (offset, line) in lines.enumerated() {
            try insert.execute(arguments: [buildID, last + offset + 1, line.stream.rawValue, line.text, line.continues])
        }
    }

    /// A later record with the same pod name (a job run twice) replaces the earlier one.
    private static func save(_ jobs: [StoredJob], in db: Database) throws {
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO jobs (id, build_id, name, image, status, exit_code, started_at, finished_at, failure, output)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code,
                finished_at = excluded.finished_at, failure = excluded.failure, output = excluded.output
            """)
        for job in jobs {
            try upsert.execute(arguments: [
                job.id, job.buildID, job.name, job.image, job.status, job.exitCode,
                job.startedAt.timeIntervalSince1970, job.finishedAt?.timeIntervalSince1970, job.failure, job.output,
            ])
        }
    }

    public func finish(buildID: String, status: BuildStatus, exitCode: Int, reason: String?,
                       lastLines: [LogLine], jobs: [StoredJob]) async throws {
        try await commits.write { db in
            try Self.append(lastLines, of: buildID, in: db)
            try Self.save(jobs, in: db)
            try db.execute(sql: "UPDATE builds SET status = ?, exit_code = ?, reason = ?, finished_at = ? WHERE id = ?",
                           arguments: [status.rawValue, exitCode, reason, Date().timeIntervalSince1970, buildID])
        }
    }

    public func markWaitingToStart(buildID: String, _ waiting: Bool) async throws {
        try await commits.write { db in
            try db.execute(sql: "UPDATE builds SET waiting_to_start = ? WHERE id = ?", arguments: [waiting, buildID])
        }
    }

    public func putBack(buildID: String) async throws {
        try await commits.write { db in
            try db.execute(sql: "DELETE FROM log_lines WHERE build_id = ?", arguments: [buildID])
            try db.execute(sql: """
                UPDATE builds SET waiting_to_start = 0, coalesce_key = NULL,
                    status = CASE WHEN cancel_reason IS NULL THEN 'Pending' ELSE 'Failed' END,
                    started_at = CASE WHEN cancel_reason IS NULL THEN NULL ELSE started_at END,
                    exit_code = CASE WHEN cancel_reason IS NULL THEN NULL ELSE 1 END,
                    reason = cancel_reason,
                    finished_at = CASE WHEN cancel_reason IS NULL THEN NULL ELSE ? END
                WHERE id = ? AND status = 'Running'
                """, arguments: [Date().timeIntervalSince1970, buildID])
        }
    }

    public func requestCancel(buildID: String, reason: String) async throws -> CancelRequest {
        try await commits.write { db in
            let status = try String.fetchOne(db, sql: "SELECT status FROM builds WHERE id = ?", arguments: [buildID])
                .map { BuildStatus(rawValue: $0) ?? .failed }
            let request = CancelRequest(status: status)
            switch request {
            case .ended:
                try db.execute(sql: """
                    UPDATE builds SET status = ?, exit_code = 1, reason = ?, cancel_reason = ?, finished_at = ? WHERE id = ?
                    """, arguments: [BuildStatus.failed.rawValue, reason, reason, Date().timeIntervalSince1970, buildID])
            case .requested:
                // The first request's reason is the one the build ends with.
                try db.execute(sql: "UPDATE builds SET cancel_reason = COALESCE(cancel_reason, ?) WHERE id = ?",
                               arguments: [reason, buildID])
            case .alreadyEnded, .notFound:
                break
            }
            return request
        }
    }

    /// Batches of `deletionBatch`, each its own write: the webhooks whose writes share a
    /// batch's commit wait for its deletes (jobs and log lines go with their builds).
    public func deleteEndedBuilds(createdBefore cutoff: Date) async throws -> Int {
        let before = ULID.smallest(at: cutoff)
        var deleted = 0
        while true {
            let batch = try await commits.write { db in
                try db.execute(sql: """
                    DELETE FROM builds WHERE id IN (
                        SELECT id FROM builds INDEXED BY builds_by_status
                        WHERE status IN ('Succeeded', 'Failed') AND id < ? LIMIT ?)
                    """, arguments: [before, Self.deletionBatch])
                return db.changesCount
            }
            deleted += batch
            if batch < Self.deletionBatch { return deleted }
        }
    }

    static let deletionBatch = 200

    public func deleteBuild(id: String) async throws -> BuildDeletion {
        try await commits.write { db in
            guard let word = try String.fetchOne(db, sql: "SELECT status FROM builds WHERE id = ?", arguments: [id]) else {
                return .notFound
            }
            let status = BuildStatus(rawValue: word) ?? .failed
            guard status.isFinished else { return .notEnded(status) }
            try db.execute(sql: "DELETE FROM builds WHERE id = ?", arguments: [id])
            return .deleted
        }
    }

    /// One gateway uses this store: every running build is its own.
    public func cancelRequests() async throws -> [String: String] {
        try await database.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, cancel_reason FROM builds WHERE status = 'Running' AND cancel_reason IS NOT NULL
                """)
            return Dictionary(rows.map { ($0["id"], $0["cancel_reason"]) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// A build that was asked to stop is failed with that reason rather than run again.
    public func recoverInterrupted(reason: String, requeue: @Sendable (String) -> Bool) async throws -> Int {
        try await database.write { db in
            let running = try Row.fetchAll(db, sql: "SELECT id, project_id, cancel_reason, waiting_to_start FROM builds WHERE status = ?",
                                           arguments: [BuildStatus.running.rawValue])
            for row in running {
                let id: String = row["id"]
                let cancelled: String? = row["cancel_reason"]
                let waiting: Bool = row["waiting_to_start"]
                if cancelled == nil, waiting || requeue(row["project_id"]) {
                    try db.execute(sql: """
                        UPDATE builds SET status = ?, started_at = NULL, waiting_to_start = 0, coalesce_key = NULL WHERE id = ?
                        """,
                                   arguments: [BuildStatus.pending.rawValue, id])
                    try db.execute(sql: "DELETE FROM log_lines WHERE build_id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM jobs WHERE build_id = ?", arguments: [id])
                } else {
                    try db.execute(sql: """
                        UPDATE builds SET status = ?, exit_code = 1, reason = ?, finished_at = ? WHERE id = ?
                        """, arguments: [BuildStatus.failed.rawValue, cancelled ?? reason, Date().timeIntervalSince1970, id])
                }
            }
            return running.count
        }
    }

    // MARK: Reading

    /// The columns of the builds table, in the order rows keep them.
    func columnsOfBuilds() async throws -> [String] {
        try await database.read { db in try Row.fetchAll(db, sql: "PRAGMA table_info(builds)").map { $0["name"] } }
    }

    public func build(id: String) async throws -> StoredBuild? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM builds WHERE id = ?", arguments: [id]).map(Self.build(from:))
        }
    }

    public func status(ofBuild id: String) async throws -> BuildStatus? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT status FROM builds WHERE id = ?", arguments: [id]).map { BuildStatus(rawValue: $0) ?? .failed }
        }
    }

    public func builds(projectID: String?, status: BuildStatus?, before: String?, limit: Int) async throws -> [StoredBuild] {
        try await database.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let before {
                conditions.append("id < ?") // IDs are ULIDs: in the order builds came
                arguments += [before]
            }
            if let projectID {
                conditions.append("project_id = ?")
                arguments += [projectID]
            }
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            arguments += [limit]
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            // Not the payloads: a page of 1,000 could be 2 GiB of them (the size is read without them).
            return try Row.fetchAll(db, sql: """
                SELECT id, project_id, project_name, event_type, provider, commit_id, ref, X'' AS payload,
                    length(payload) AS payload_bytes, clone_url, log_level, delivery_key, coalesce_key, not_before,
                    status, reason, exit_code, created_at, started_at, finished_at, attempts, coalesced
                FROM builds \(filter) ORDER BY id DESC LIMIT ?
                """, arguments: arguments).map(Self.build(from:))
        }
    }

    public func pendingCount() async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM builds INDEXED BY pending_by_project WHERE status = 'Pending'") ?? 0
        }
    }

    public func jobs(buildID: String, withOutput: Bool) async throws -> [StoredJob] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.jobColumns(withOutput)) FROM jobs WHERE build_id = ? ORDER BY started_at, id",
                             arguments: [buildID]).map(Self.job(from:))
        }
    }

    public func job(id: String, withOutput: Bool) async throws -> StoredJob? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns(withOutput)) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job(from:))
        }
    }

    /// A job's columns, its output empty unless `withOutput`.
    private static func jobColumns(_ withOutput: Bool) -> String {
        "build_id, id, name, image, status, exit_code, started_at, finished_at, failure, \(withOutput ? "output" : "'' AS output")"
    }

    public func jobOutput(id: String, from offset: Int, maxBytes: Int) async throws -> Data? {
        try await database.read { db in
            // A blob, so that offsets count bytes; substr counts from 1.
            try Row.fetchOne(db, sql: "SELECT substr(CAST(output AS BLOB), ?, ?) FROM jobs WHERE id = ?",
                             arguments: [offset + 1, maxBytes, id]).map { ($0[0] as Data?) ?? Data() }
        }
    }

    public func logs(buildID: String, after sequence: Int, limit: Int, maxBytes: Int) async throws -> [StoredLogLine] {
        try await database.read { db in
            // The next `limit` lines, then those that start within `maxBytes` of text.
            try Row.fetchAll(db, sql: """
                SELECT seq, stream, text, continues FROM (
                    SELECT seq, stream, text, continues, SUM(size) OVER (ORDER BY seq) - size AS before FROM (
                        SELECT seq, stream, text, continues, length(CAST(text AS BLOB)) AS size FROM log_lines
                        WHERE build_id = ? AND seq > ? ORDER BY seq LIMIT ?))
                WHERE before < ? ORDER BY seq
                """, arguments: [buildID, sequence, limit, maxBytes]).map { row in
                StoredLogLine(sequence: row["seq"],
                              line: LogLine(LogLine.Stream(rawValue: row["stream"]) ?? .stdout, row["text"], continues: row["continues"]))
            }
        }
    }

    // MARK: Rows

    private static func date(_ row: Row, _ column: String) -> Date? {
        (row[column] as Double?).map(Date.init(timeIntervalSince1970:))
    }

    private static func build(from row: Row) -> StoredBuild {
        StoredBuild(
            build: NewBuild(
                id: row["id"], projectID: row["project_id"], projectName: row["project_name"],
                eventType: row["event_type"], provider: row["provider"], commit: row["commit_id"], ref: row["ref"],
                payload: row["payload"], cloneURL: row["clone_url"], logLevel: row["log_level"],
                deliveryKey: row["delivery_key"], coalesceKey: row["coalesce_key"], notBefore: date(row, "not_before")),
            status: BuildStatus(rawValue: row["status"]) ?? .failed, reason: row["reason"], exitCode: row["exit_code"],
            createdAt: date(row, "created_at") ?? Date(timeIntervalSince1970: 0), startedAt: date(row, "started_at"),
            finishedAt: date(row, "finished_at"), attempts: row["attempts"], coalesced: row["coalesced"],
            listedPayloadBytes: row["payload_bytes"])
    }

    private static func job(from row: Row) -> StoredJob {
        StoredJob(
            buildID: row["build_id"], id: row["id"], name: row["name"], image: row["image"], status: row["status"],
            exitCode: row["exit_code"], startedAt: date(row, "started_at") ?? Date(timeIntervalSince1970: 0),
            finishedAt: date(row, "finished_at"), failure: row["failure"], output: row["output"])
    }
}
