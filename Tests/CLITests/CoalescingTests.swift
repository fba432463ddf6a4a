import Foundation
import Gateway
import Testing

/// A project with `coalesceWindow` runs one build for a burst of webhooks about the same
/// image repository: a push of several tags, one webhook per tag.
@Suite struct CoalescingTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("coalescing-test-\(UUID().uuidString)")

    func body(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name)")
    }

    func key(_ body: [String: Any]?, type: String = "image_push") -> String? {
        CoalesceKey.of(eventType: type, body: body)
    }

    /// Docker Hub's push with another tag (and time), as a push of several tags sends it.
    func dockerHubPush(tag: String) throws -> [String: Any] {
        var hook = try body("dockerhub-push.json")
        var push = try #require(hook["push_data"] as? [String: Any])
        push["tag"] = tag
        push["pushed_at"] = (push["pushed_at"] as? Int ?? 0) + tag.count
        hook["push_data"] = push
        return hook
    }

    /// Every registry format names its repository; what is not about one repository's images
    /// (a SimpleEvent, an envelope of layers, something else) has no key.
    @Test func registryFormatsAreKeyedByTheirRepository() throws {
        let registryEvents = [
            "acr-push.json", "acr-delete.json", "acr-chart_push.json", "dockerhub-push.json",
            "brigade-v1-cr-gateway-testdata-dockerhub-push.json", "distribution-notification.json",
            "gitlab-registry-notification.json", "harbor-push.json", "cloudevents-ecr-image-push.json",
            "cloudevents-harbor-artifact-pulled.json", "quay-push.json", "quay-push-legacy-2013.json",
            "artifactory-docker-pushed.json", "ghcr-package.json", "ghcr-registry_package.json",
        ]
        for name in registryEvents {
            let found = try #require(key(try body(name)), "\(name) has no key")
            #expect(found.count == 64 && found.allSatisfy(\.isHexDigit))
        }
        #expect(key(try body("brigade-v1-generic-gateway-simpleevent.json"), type: "simpleevent") == nil)
        // The layers of distribution's example push, without its manifest.
        var layers = try body("distribution-notification.json")
        let events = try #require(layers["events"] as? [[String: Any]])
        layers["events"] = events.filter { (($0["target"] as? [String: Any])?["url"] as? String ?? "").contains("/blobs/") }
        #expect((layers["events"] as? [Any])?.count == events.count - 1)
        #expect(key(layers) == nil, "layers are not images")
        #expect(key(["hello": "world"]) == nil)
        #expect(key(nil) == nil)
    }

    /// The tags of one push share a key; another repository, another action (a delete, a
    /// pull) or another event type does not.
    @Test func tagsOfOneRepositoryShareAKey() throws {
        let latest = try #require(key(try dockerHubPush(tag: "latest")))
        #expect(key(try dockerHubPush(tag: "1.2.3")) == latest)
        #expect(key(try dockerHubPush(tag: "1.2.3"), type: "imagePush") != latest)
        var elsewhere = try dockerHubPush(tag: "latest")
        elsewhere["repository"] = ["repo_name": "svendowideit/other"]
        #expect(key(elsewhere) != latest)

        var acrLatest = try body("acr-push.json")
        var target = try #require(acrLatest["target"] as? [String: Any])
        target["tag"] = "latest"
        acrLatest["target"] = target
        #expect(key(acrLatest) == key(try body("acr-push.json")))
        #expect(key(try body("acr-delete.json")) != key(try body("acr-push.json")), "a delete is not a push")
        #expect(key(try body("distribution-notification-pull.json")) != key(try body("distribution-notification.json")))
    }

    @Test func aBurstOfTagsRunsOneBuildWithTheLastEvent() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let projects = try GatewayProcess.projectsDirectory(in: root, [
            "ran.js": "require('brigadier').events.on('image_push', (e) => console.log(`ran ${e.image.tag}`));",
            "burst.yaml": """
                name: burst
                defaultScriptFile: ran.js
                insecure: true
                gateways: [container-registry]
                runner: simulate
                coalesceWindow: 10
                """,
        ])
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"))
        func push(_ tag: String) async throws -> [String: Any] {
            let answer = try await gateway.post("/events/webhook/burst", try JSONSerialization.data(withJSONObject: try dockerHubPush(tag: tag)))
            #expect(answer.status == 200, "\(answer.status) \(answer.text)")
            return answer.json
        }
        let first = try await push("1.2.3")
        let id = try #require(first["build"] as? String)
        #expect(first["coalesced"] == nil)
        for tag in ["1.2", "latest"] {
            let joined = try await push(tag)
            #expect(joined["build"] as? String == id && joined["coalesced"] as? Bool == true, "\(joined)")
        }
        let waiting = try await gateway.get("/v1/build/\(id)").json
        #expect(waiting["coalesced"] as? Int == 2 && waiting["notBefore"] is String, "\(waiting)")
        let ended = try await gateway.finishedBuild(id)
        #expect(ended["status"] as? String == "Succeeded", "\(ended)")
        let formatter = ISO8601DateFormatter()
        let created = try #require((ended["createdAt"] as? String).flatMap(formatter.date(from:)))
        let started = try #require((ended["startedAt"] as? String).flatMap(formatter.date(from:)))
        #expect(started.timeIntervalSince(created) >= 1, "started \(started.timeIntervalSince(created)) s after it came: within its window")
        let lines = try await gateway.logLines(id)
        #expect(lines.contains("ran latest") && !lines.contains("ran 1.2.3"), "\(lines)")
        #expect(lines.contains { $0.contains("3 webhooks for the same image repository came within the project's coalescing window of 10 s") },
                "\(lines)")

        let metrics = try await gateway.get("/metrics").text
        #expect(metrics.contains(#"brigantine_webhooks_joined_total{as="coalesced"} 2"#), "\(metrics)")

        // Once it has run, the next push is a build of its own.
        let later = try await push("1.2.4")
        let next = try #require(later["build"] as? String)
        #expect(next != id && later["coalesced"] == nil)
        #expect(try await gateway.finishedBuild(next)["status"] as? String == "Succeeded")
        #expect(try await gateway.logLines(next).contains("ran 1.2.4"))
        await gateway.stop()
    }
}
