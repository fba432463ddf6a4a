import GRDB
import Synchronization

/// Commits writes that arrive together in one transaction: one fsync for many of them.
///
/// With `synchronous = FULL` every commit waits for the disk (about 1.3 ms here), and a
/// busy gateway writes for each webhook (its build) and for each running build (claim,
/// logs, jobs, outcome). Writes that queue up while a commit is on its way to the disk
/// go together in the next one, so the disk sets the pace of batches, not of writes.
///
/// Each write runs in a savepoint of its own: one that throws is rolled back alone and
/// fails only its caller. A write returns once its batch is committed, so "returned"
/// still means "durable".
final class GroupCommit: Sendable {
    private struct Write: Sendable {
        /// Runs the write; on success, returns how to hand its value to the caller.
        let perform: @Sendable (Database) throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private let database: DatabasePool
    /// Asked before each commit whether what it commits will be kept (see
    /// `SQLiteBuildStore.OpenedFiles`); when it throws, the batch is rolled back and its
    /// writes fail with its error.
    private let stillKept: @Sendable () throws -> Void
    private let queue = Mutex<(writes: [Write], committing: Bool)>(([], false))
    private let checkpointRequested = Atomic<Bool>(false)

    init(_ database: DatabasePool, stillKept: @escaping @Sendable () throws -> Void = {}) {
        self.database = database
        self.stillKept = stillKept
    }

    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let write = Write(
                perform: { db in
                    let value = try work(db)
                    return { continuation.resume(returning: value) }
                },
                fail: { continuation.resume(throwing: $0) })
            let startCommitting = queue.withLock { queue in
                queue.writes.append(write)
                defer { queue.committing = true }
                return !queue.committing
            }
            if startCommitting {
                // Not a child of the caller's task: a caller's cancellation must not stop the
                // batch that carries other callers' writes.
                Task.detached { await self.commitQueued() }
            }
        }
    }

    /// Asks for a checkpoint on the writer's connection after the next batch. Only there can
    /// one reach the log's end, as no write comes in between; the next write then starts
    /// the log over. It costs the batches queued meanwhile a fixed ~15–20 ms here (the
    /// database file's fsync), however few frames a checkpoint beside the writes left.
    func checkpointAfterNextBatch() {
        checkpointRequested.store(true, ordering: .relaxed)
    }

    /// Commits batches until the queue is empty.
    private func commitQueued() async {
        while true {
            let batch: [Write] = queue.withLock { queue in
                let batch = queue.writes
                queue.writes = []
                if batch.isEmpty { queue.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                let outcomes = try await database.write { [stillKept] db in
                    let outcomes = batch.map { write -> Result<@Sendable () -> Void, any Error> in
                        var outcome: Result<@Sendable () -> Void, any Error> = .failure(CancellationError())
                        do {
                            try db.inSavepoint {
                                do {
                                    outcome = .success(try write.perform(db))
                                    return .commit
                                } catch {
                                    outcome = .failure(error)
                                    return .rollback
                                }
                            }
                        } catch {
                            outcome = .failure(error)
                        }
                        return outcome
                    }
                    try stillKept()
                    return outcomes
                }
                for (write, outcome) in zip(batch, outcomes) {
                    switch outcome {
                    case .success(let deliver): deliver()
                    case .failure(let error): write.fail(error)
                    }
                }
            } catch {
                // The transaction did not commit (or was rolled back: its files are gone): nothing in it is durable.
                for write in batch { write.fail(error) }
            }
            if checkpointRequested.exchange(false, ordering: .relaxed) {
                // Passive: it never waits for readers; one still on an older snapshot just
                // leaves the rest to a later request.
                _ = try? await database.writeWithoutTransaction { try $0.checkpoint(.passive) }
            }
        }
    }
}
