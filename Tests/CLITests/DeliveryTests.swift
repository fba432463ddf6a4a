import Foundation
import Gateway
import Testing

/// A webhook delivered again makes no second build, for projects that ask (`deduplicate`)
/// and for senders that name their deliveries (`Idempotency-Key`).
@Suite struct DeliveryTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("delivery-test-\(UUID().uuidString)")

    func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: GatewayTests.fixtures.appendingPathComponent(name))
    }

    func key(_ payload: Data, idempotencyKey: String? = nil, gitHub: String? = nil, fromBody: Bool = true) -> String? {
        DeliveryKey.of(idempotencyKey: idempotencyKey, gitHubDelivery: gitHub, payload: payload, fromBody: fromBody)
    }

    /// Each format with something unique per event is keyed by it; the rest are not keyed.
    @Test func formatsThatNameTheirEventsAreKeyed() throws {
        let keyed = ["acr-push.json", "acr-delete.json", "acr-chart_push.json", "dockerhub-push.json",
                     "brigade-v1-cr-gateway-testdata-dockerhub-push.json", "distribution-notification.json",
                     "gitlab-registry-notification.json", "harbor-push.json", "cloudevents-ecr-image-push.json",
                     "brigade-v1-generic-gateway-cloudevent-v0.2.json"]
        var keys: Set<String> = []
        for name in keyed {
            let payload = try fixture(name)
            let first = try #require(key(payload), "\(name) has no key")
            #expect(key(payload) == first, "\(name): the same delivery, the same key")
            #expect(first.count == 64 && first.allSatisfy(\.isHexDigit))
            keys.insert(first)
        }
        #expect(keys.count == keyed.count, "each fixture is an event of its own")
        for name in ["quay-push.json", "artifactory-docker-pushed.json", "acr-ping.json", "brigade-v1-generic-gateway-simpleevent.json"] {
            #expect(key(try fixture(name)) == nil, "\(name) names no event of its own")
        }
        #expect(key(Data("not json".utf8)) == nil)
        #expect(key(try fixture("dockerhub-push.json"), fromBody: false) == nil, "a project that does not deduplicate")
    }

    /// A push of the same tag at another time is another event; a sender's own key wins.
    @Test func anotherPushIsAnotherEventAndTheSendersKeyWins() throws {
        var hook = try #require(try JSONSerialization.jsonObject(with: try fixture("dockerhub-push.json")) as? [String: Any])
        let first = key(try JSONSerialization.data(withJSONObject: hook))
        var push = try #require(hook["push_data"] as? [String: Any])
        push["pushed_at"] = (push["pushed_at"] as? Int ?? 0) + 1
        hook["push_data"] = push
        #expect(key(try JSONSerialization.data(withJSONObject: hook)) != first)

        let payload = try fixture("quay-push.json")
        let named = key(payload, idempotencyKey: "delivery-7", fromBody: false)
        let elsewhere = key(try fixture("dockerhub-push.json"), idempotencyKey: "delivery-7")
        #expect(named != nil && named == elsewhere)
        #expect(key(payload, gitHub: "72d3162e-cc78-11e3-81ab-4c9367dc0958", fromBody: false) != nil)
        #expect(key(payload, idempotencyKey: "", fromBody: false) == nil)
    }

    @Test func deliveriesSentAgainFindTheFirstBuild() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        var files = ["ran.js": "require('brigadier').events.on('image_push', () => console.log('ran'));"]
        for (name, deduplicate) in [("once", true), ("every", false)] {
            files["\(name).yaml"] = "name: \(name)\ndefaultScriptFile: ran.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\ndeduplicate: \(deduplicate)\n"
        }
        let projects = try GatewayProcess.projectsDirectory(in: root, files)
        let gateway = try await GatewayProcess.start(projects: projects, data: root.appendingPathComponent("data"))
        func send(_ project: String, _ fixture: String, headers: [String: String] = [:]) async throws -> [String: Any] {
            let answer = try await gateway.post("/events/webhook/\(project)", try self.fixture(fixture), headers: headers)
            #expect(answer.status == 200, "\(answer.status) \(answer.text)")
            return answer.json
        }
        let first = try await send("once", "dockerhub-push.json")
        let again = try await send("once", "dockerhub-push.json")
        #expect(again["build"] as? String == first["build"] as? String && again["duplicate"] as? Bool == true, "\(again)")
        #expect(first["duplicate"] == nil)
        let acr = try await send("once", "acr-push.json")
        #expect(try await send("once", "acr-push.json")["build"] as? String == acr["build"] as? String)
        #expect(acr["build"] as? String != first["build"] as? String)

        // A project that does not deduplicate runs every delivery, unless the sender names it.
        let twice = [try await send("every", "dockerhub-push.json"), try await send("every", "dockerhub-push.json")]
        #expect(twice[0]["build"] as? String != twice[1]["build"] as? String)
        let named = try await send("every", "dockerhub-push.json", headers: ["Idempotency-Key": "hook-42"])
        #expect(try await send("every", "dockerhub-push.json", headers: ["Idempotency-Key": "hook-42"])["build"] as? String
                == named["build"] as? String)

        let metrics = try await gateway.get("/metrics").text
        #expect(metrics.contains(#"brigantine_webhooks_joined_total{as="duplicate"} 3"#), "\(metrics)")

        for project in ["once", "every"] {
            let builds = try JSONSerialization.jsonObject(with: try await gateway.get("/v1/project/\(project)/builds").body) as? [[String: Any]] ?? []
            #expect(builds.count == (project == "once" ? 2 : 3), "\(project): \(builds.count) builds")
            for build in builds {
                let id = try #require(build["id"] as? String)
                #expect(try await gateway.finishedBuild(id)["status"] as? String == "Succeeded")
                #expect(try await gateway.logLines(id).filter { $0 == "ran" }.count == 1)
            }
        }
        await gateway.stop()
    }
}
