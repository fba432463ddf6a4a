import Foundation
import Testing

/// `e.image`: what a registry webhook says of its image, the same shape for every registry.
@Suite struct ImageTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CLITests/Fixtures/payloads")

    /// `image.describe` of a fixture, as JSON (null when it is no image event).
    func described(_ fixture: String) throws -> [String: Any]? {
        try described(payload: String(contentsOf: Self.fixtures.appendingPathComponent(fixture), encoding: .utf8))
    }

    func described(payload: String) throws -> [String: Any]? {
        let context = try Harness.brigadierContext()
        context.setProperty(context.globalObject, "payload", context.makeString(payload))
        let text = try context.evaluate("JSON.stringify(image.describe(payload))", with: ["image": "image.js"])
        return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [String: Any]
    }

    /// fixture: format, action, reference, pusher
    static let expected: [(String, String, String, String, String?)] = [
        ("dockerhub-push.json", "dockerhub", "push", "docker.io/svendowideit/testhook:latest", "trustedbuilder"),
        ("acr-push.json", "acr", "push", "myregistry.azurecr.io/hello-world:v1", nil),
        ("acr-delete.json", "acr", "delete", "myregistry.azurecr.io/hello-world@sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d", nil),
        ("acr-chart_push.json", "acr", "chart_push", "repo:wordpress-5.4.0.tgz", nil),
        ("distribution-notification.json", "distribution", "push",
         "registrycluster.local/library/test@sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf", "test-actor"),
        ("gitlab-registry-notification.json", "distribution", "push", "registry.git.erxes.io/foo/bar:1.6.1", "foo"),
        ("harbor-push.json", "harbor", "push", "hub.harbor.com/test-webhook/debian:latest", "admin"),
        ("cloudevents-ecr-image-push.json", "cloudevent", "push", "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo:v1.0.0", nil),
        ("cloudevents-harbor-artifact-pulled.json", "cloudevent", "pull",
         "harbor.dev/library/busybox@sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c",
         "robot$library+scanner-Trivy-51fe4548-bbe5-11ed-9217-0242ac14000d"),
        ("quay-push.json", "quay", "push", "quay.io/dgangaia/test:latest", nil),
        // Quay's early shape: `updated_tags` maps each tag to its image id.
        ("quay-push-legacy-2013.json", "quay", "push", "quay.io/devtable/ubuntu:latest", nil),
        ("artifactory-docker-pushed.json", "artifactory", "push", "example.jfrog.io/library/ubuntu:latest", nil),
        // Its second event is a manifest by its URL (as the Jenkins plugin tells them apart).
        ("jenkins-dockerhub-plugin-private-registry-payload-blob-1-repository.json", "distribution", "push",
         "registry:5000/jplock/zookeeper@sha256:55d2be3e073109b6dfa68aa6ffbce9f5441ab8dd451834eaf0e81874a0b1b720", nil),
        ("ghcr-package.json", "ghcr", "push", "ghcr.io/codertocat/hello-world@sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b", "Codertocat"),
    ]

    @Test(arguments: expected)
    func eachRegistrysEventHasOneShape(_ fixture: String, format: String, action: String, reference: String, pusher: String?) throws {
        let image = try #require(try described(fixture), "\(fixture) gave null")
        #expect(image["format"] as? String == format && image["action"] as? String == action, "\(image)")
        #expect(image["reference"] as? String == reference, "\(image)")
        #expect(image["pusher"] as? String == pusher, "\(image)")
        #expect(Set(image.keys) == ["format", "action", "registry", "repository", "tag", "digest", "mediaType", "pusher", "reference"])
    }

    @Test func theFieldsOfAPush() throws {
        let acr = try #require(try described("acr-push.json"))
        #expect(acr["registry"] as? String == "myregistry.azurecr.io" && acr["repository"] as? String == "hello-world")
        #expect(acr["tag"] as? String == "v1" && (acr["digest"] as? String)?.hasPrefix("sha256:80f0d5c8") == true)
        #expect(acr["mediaType"] as? String == "application/vnd.docker.distribution.manifest.v2+json")
        let hub = try #require(try described("dockerhub-push.json"))
        #expect(hub["digest"] is NSNull && hub["mediaType"] is NSNull)
    }

    /// Bodies that are no image event: a ping, a generic event, not JSON, blob uploads only.
    @Test(arguments: ["acr-ping.json", "brigade-v1-generic-gateway-simpleevent.json", "SOURCES.md"])
    func otherBodiesHaveNoImage(_ fixture: String) throws {
        #expect(try described(fixture) == nil)
    }

    @Test func blobUploadsAloneAreNoImage() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(
            "jenkins-dockerhub-plugin-private-registry-payload-blob-1-repository.json"))
        var envelope = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        envelope["events"] = Array((envelope["events"] as? [Any] ?? []).prefix(1))
        let blobOnly = String(decoding: try JSONSerialization.data(withJSONObject: envelope), as: UTF8.self)
        #expect(try described(payload: blobOnly) == nil)
    }

    /// `image.describeAll` of a payload: the references and actions of every image it names.
    func everyImage(payload: String) throws -> [String] {
        let context = try Harness.brigadierContext()
        context.setProperty(context.globalObject, "payload", context.makeString(payload))
        return try context.evaluate(
            "image.describeAll(payload).map((i) => `${i.action} ${i.reference}`).join('\\n')", with: ["image": "image.js"])
            .split(separator: "\n").map(String.init)
    }

    func fixtureText(_ name: String) throws -> String {
        try String(contentsOf: Self.fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// An envelope of two repositories' pushes names both; one of a pull and a push names
    /// both and is about the push; a Quay push of two tags names each; one image elsewhere.
    @Test func webhooksNamingSeveralImagesListThemAll() throws {
        let digest = "sha256:55d2be3e073109b6dfa68aa6ffbce9f5441ab8dd451834eaf0e81874a0b1b720"
        #expect(try everyImage(payload: fixtureText("jenkins-dockerhub-plugin-private-registry-payload-2-repositories.json")) == [
            "push registry:5000/jplock/zookeeper@\(digest)",
            "push registry:5000/ubuntu@sha256:2dbe4abf311d67ec224f926d4b21b9be6f96dfba9be139e6936156a67b75a1ad",
        ])
        let pullThenPush = "jenkins-dockerhub-plugin-private-registry-payload-pull-1-repository.json"
        #expect(try everyImage(payload: fixtureText(pullThenPush)) == [
            "pull registry:5000/jplock/zookeeper@\(digest)", "push registry:5000/jplock/zookeeper@\(digest)",
        ])
        #expect(try described(pullThenPush)?["action"] as? String == "push")
        let quay = try fixtureText("quay-push.json").replacingOccurrences(of: #""updated_tags": ["#, with: #""updated_tags": ["v2", "#)
        #expect(quay.contains(#""v2", "#))
        #expect(try everyImage(payload: quay) == ["push quay.io/dgangaia/test:v2", "push quay.io/dgangaia/test:latest"])
        #expect(try everyImage(payload: fixtureText("acr-push.json")) == ["push myregistry.azurecr.io/hello-world:v1"])
        #expect(try everyImage(payload: fixtureText("acr-ping.json")) == [])
    }

    /// In a build: `e.image` is there for the reading, but not among the event's keys (which
    /// stay Brigade's), and a script may set it like any property.
    @Test func scriptsReadItWithoutItChangingTheEvent() async throws {
        let payload = try String(contentsOf: Self.fixtures.appendingPathComponent("harbor-push.json"), encoding: .utf8)
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('image_push', (e) => {
              console.log(e.image.reference, e.image === e.image);
              console.log(JSON.stringify(Object.keys(e)), 'image' in e, JSON.stringify(e).includes('"image"'));
              console.log(e.images.length, e.images[0] === e.image, 'images' in e, JSON.stringify(e).includes('"images"'));
              e.image = 'mine';
              console.log(e.image);
            });
            events.on('exec', (e) => console.log(String(e.image)));
            """, event: "image_push", payload: payload)
        #expect(run.printed == [
            "hub.harbor.com/test-webhook/debian:latest true",
            #"["buildID","workerID","type","provider","cloneURL","revision","logLevel","payload"] true false"#,
            "1 true true false",
            "mine",
        ], "\(run.text)")
        let none = try await Harness.run("require('brigadier').events.on('exec', (e) => console.log(String(e.image), e.images.length));",
                                         payload: nil)
        #expect(none.printed == ["null 0"], "\(none.text)")
    }
}
