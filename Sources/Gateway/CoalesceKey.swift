import BrigantineCore
import Crypto
import Foundation

/// What a registry webhook is about, for projects with a `coalesceWindow`: the image
/// repository its body names and what happened to it (a push, a delete, a pull), so that
/// the webhooks of one push of several tags — one per tag from Docker Hub, ACR, a
/// distribution registry — make one build.
///
/// The tag and digest are left out on purpose: Docker Hub and Quay name no digest, and a
/// burst of pushes to one repository within the window is the case to collapse (the build
/// runs the last one's event, the newest image). Bodies that name no repository (a
/// SimpleEvent, an unknown format) and distribution envelopes of layers alone (layers are
/// not images) get no key: each stays a build of its own.
public enum CoalesceKey {
    /// The key, hashed (SHA-256, hex) to a fixed length; nil when the body names no repository.
    public static func of(eventType: String, body: [String: Any]?) -> String? {
        guard let body, let subject = subject(of: body) else { return nil }
        return Hex.encode(SHA256.hash(data: Array("\(eventType)\n\(subject)".utf8)))
    }

    /// `format`, then where and what, one per line (the formats as `e.image` reads them).
    static func subject(of body: [String: Any]) -> String? {
        if body["push_data"] is [String: Any], let repository = text(object(body["repository"])?["repo_name"]) {
            return "dockerhub\n\(repository)"
        }
        if let events = body["events"] as? [Any] {
            // Its layers' events are left out; an envelope of layers alone has no key (nor ever
            // replaces the event of a manifest, which a script acts on).
            let manifests = events.compactMap { manifestEvent(object($0)) }
            guard !manifests.isEmpty else { return nil }
            return "distribution\n" + Set(manifests).sorted().joined(separator: "\n")
        }
        if let action = text(body["action"]), let target = object(body["target"]), let repository = text(target["repository"]) {
            return "acr\n\(text(object(body["request"])?["host"]) ?? "")\n\(repository)\n\(action)"
        }
        if let type = text(body["type"]), let data = object(body["event_data"]),
           let repository = text(object(data["repository"])?["repo_full_name"]) {
            return "harbor\n\(repository)\n\(type)"
        }
        if body["specversion"] is String, let type = text(body["type"]), let data = object(body["data"]),
           let repository = text(object(data["repository"])?["repo_full_name"]) ?? text(data["repositoryName"]) {
            return "cloudevent\n\(text(body["source"]) ?? "")\n\(repository)\n\(type)"
        }
        if let url = text(body["docker_url"]) {
            return "quay\n\(url)"
        }
        if text(body["domain"]) == "docker", let data = object(body["data"]), let name = text(data["image_name"]) {
            return "artifactory\n\(text(body["jpd_origin"]) ?? "")\n\(name)\n\(text(body["event_type"]) ?? text(data["event_type"]) ?? "")"
        }
        if let package = object(body["package"]) ?? object(body["registry_package"]), let name = text(package["name"]) {
            return "ghcr\n\(text(object(package["owner"])?["login"]) ?? "")\n\(name)\n\(text(body["action"]) ?? "")"
        }
        return nil
    }

    /// `host\nrepository\naction` of a distribution event about a manifest; nil for a layer's.
    private static func manifestEvent(_ event: [String: Any]?) -> String? {
        guard let event, let target = object(event["target"]), let repository = text(target["repository"]),
              text(target["mediaType"])?.contains("manifest") == true || text(target["url"])?.contains("/manifests/") == true
        else { return nil }
        return "\(text(object(event["request"])?["host"]) ?? "")\n\(repository)\n\(text(event["action"]) ?? "")"
    }

    private static func object(_ value: Any?) -> [String: Any]? { value as? [String: Any] }

    private static func text(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        return text
    }
}
