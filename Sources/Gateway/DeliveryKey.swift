import BrigantineCore
import Crypto
import Foundation

/// What names one delivery of a webhook, so that a delivery sent again (a registry retrying
/// after a timeout or a 5xx, a distribution registry resending its envelope) finds the
/// first one's build instead of making a second.
///
/// A sender's own `Idempotency-Key` (or GitHub's `X-GitHub-Delivery`) is always honoured.
/// For projects with `deduplicate: true`, the body also names its event when its format
/// has something unique per event: ACR's and CloudEvents' `id` (with the `source`), the
/// distribution envelope's event IDs (GitLab's registry too), Docker Hub's repository, tag
/// and `pushed_at`, Harbor's event type, time, repository and digests. Formats without such
/// a thing (Quay, Artifactory, a SimpleEvent) are never deduplicated by their body.
public enum DeliveryKey {
    /// The key, hashed (SHA-256, hex) so that its length is fixed; nil when nothing names
    /// the delivery.
    public static func of(idempotencyKey: String?, gitHubDelivery: String?, payload: Data, fromBody: Bool) -> String? {
        of(idempotencyKey: idempotencyKey, gitHubDelivery: gitHubDelivery,
           body: fromBody ? (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] : nil)
    }

    /// The same, for a caller that has parsed the body already: `body` is nil when the body
    /// does not count (the project does not deduplicate) or is not a JSON object.
    static func of(idempotencyKey: String?, gitHubDelivery: String?, body: [String: Any]?) -> String? {
        let named: String?
        if let key = nonEmpty(idempotencyKey) {
            named = "idempotency-key\n\(key)"
        } else if let delivery = nonEmpty(gitHubDelivery) {
            named = "github\n\(delivery)"
        } else {
            named = body.flatMap(eventName(in:))
        }
        return named.map { Hex.encode(SHA256.hash(data: Array($0.utf8))) }
    }

    /// What the body's own format says of its event, prefixed by the format.
    static func eventName(in body: [String: Any]) -> String? {
        if let id = nonEmpty(body["id"] as? String) {
            // CloudEvents: `id` is unique per `source`. ACR: `id` is the event's.
            if body["specversion"] != nil, let source = body["source"] as? String { return "cloudevent\n\(source)\n\(id)" }
            if body["action"] is String { return "acr\n\(id)" }
        }
        if let events = body["events"] as? [[String: Any]], !events.isEmpty {
            let ids = events.compactMap { nonEmpty($0["id"] as? String) }
            if ids.count == events.count { return "distribution\n" + ids.joined(separator: "\n") }
        }
        if let push = body["push_data"] as? [String: Any], let pushedAt = push["pushed_at"] as? NSNumber,
           let repository = (body["repository"] as? [String: Any])?["repo_name"] as? String {
            return "dockerhub\n\(repository)\n\(push["tag"] as? String ?? "")\n\(pushedAt.stringValue)"
        }
        if let type = body["type"] as? String, let occurredAt = body["occur_at"] as? NSNumber,
           let data = body["event_data"] as? [String: Any],
           let repository = (data["repository"] as? [String: Any])?["repo_full_name"] as? String {
            let digests = (data["resources"] as? [[String: Any]] ?? []).map { $0["digest"] as? String ?? "" }
            return "harbor\n\(type)\n\(occurredAt.stringValue)\n\(repository)\n" + digests.joined(separator: "\n")
        }
        return nil
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
