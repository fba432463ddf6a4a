import Hummingbird
import Scheduler
import Store

/// Requests under `/v1` that change a build: `POST /v1/build/<id>/cancel` stops it.
struct BuildControl: Sendable {
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
    }
}
