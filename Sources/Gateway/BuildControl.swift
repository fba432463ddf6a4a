import Hummingbird
import Scheduler
import Store

/// Requests under `/v1` that change builds: `POST /v1/build/<id>/cancel` stops one,
/// `POST /v1/build/<id>/rerun` queues a new build of the same event, `DELETE /v1/build/<id>`
/// deletes an ended one.
struct BuildControl: Sendable {
    let registry: ProjectRegistry
    let store: any BuildStore
    let scheduler: BuildScheduler

    static let cancelReason = "cancelled through the API"

    func add(to api: RouterGroup<BasicRequestContext>) {
        api.post("build/:id/cancel") { _, context in
            let id = try context.parameters.require("id")
            let request: CancelRequest
            do {
                request = try await store.requestCancel(buildID: id, reason: Self.cancelReason)
            } catch {
                return Reply.status(.serviceUnavailable, "the build store did not answer; nothing was changed, try again")
            }
            switch request {
            case .ended:
                return Reply.json(.ok, ["build": id, "status": BuildStatus.failed.rawValue, "reason": Self.cancelReason])
            case .requested:
                // Here at once; on another gateway sharing the store, at its next look (about a second).
                scheduler.cancel(buildID: id, reason: Self.cancelReason)
                return Reply.json(.accepted, ["build": id, "status": "Cancelling"])
            case .alreadyEnded(let status):
                return Reply.status(.conflict, "the build has already ended: \(status.rawValue)")
            case .notFound:
                return Reply.status(.notFound, "build not found")
            }
        }
        api.delete("build/:id") { _, context in
            let id = try context.parameters.require("id")
            let deletion: BuildDeletion
            do {
                deletion = try await store.deleteBuild(id: id)
            } catch {
                return Reply.status(.serviceUnavailable, "the build store did not answer; nothing was deleted, try again")
            }
            switch deletion {
            case .deleted: return Reply.json(.ok, ["build": id, "deleted": true])
            case .notEnded(let status): return Reply.status(.conflict, "the build is \(status.rawValue): cancel it first")
            case .notFound: return Reply.status(.notFound, "build not found")
            }
        }
        api.post("build/:id/rerun") { _, context in
            let id = try context.parameters.require("id")
            let again: StoredBuild?
            do {
                guard let first = try await store.build(id: id) else { return Reply.status(.notFound, "build not found") }
                guard registry.project(named: first.build.projectID) != nil else {
                    return Reply.status(.conflict, "project \(first.build.projectName) no longer exists")
                }
                again = try await store.rerun(buildID: id)
            } catch {
                return Reply.status(.serviceUnavailable, "the build could not be stored; nothing was accepted, try again")
            }
            guard let again else { return Reply.status(.notFound, "build not found") }
            scheduler.wake(for: again.build.projectID)
            return Reply.json(.ok, ["build": again.id, "rerunOf": id, "status": BuildStatus.pending.rawValue])
        }
    }
}
