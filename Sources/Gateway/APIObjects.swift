import BrigantineCore
import Foundation
import Store

/// Projects, builds and jobs as the read API shows them (and `brig … --output json` prints
/// them): secrets never, times in ISO 8601, a missing value as null.
public enum APIObjects {
    /// JSON's null for a missing value.
    static func orNull(_ value: Any?) -> Any {
        value ?? NSNull()
    }

    /// `2023-11-14T22:13:20Z`. A format style, not a new `ISO8601DateFormatter` each time:
    /// making those was most of the time a listing took (130 ms for 300 builds).
    static func timestamp(_ date: Date?) -> Any {
        date.map { $0.formatted(Date.ISO8601FormatStyle()) } ?? NSNull()
    }

    public static func project(_ project: Project) -> [String: Any] {
        [
            "id": project.id, "name": project.name,
            "gateways": project.gateways.map(\.rawValue),
            "insecure": project.insecure,
            "repo": ["cloneURL": orNull(project.repo?.cloneURL.map(URLCredentials.masked))],
            "runner": orNull(project.runner),
            "secrets": Dictionary(uniqueKeysWithValues: project.secrets.keys.map { ($0, "REDACTED") }),
            "allowPrivilegedJobs": project.allowPrivilegedJobs, "allowHostMounts": project.allowHostMounts,
            "allowSecretKeyRef": project.allowSecretKeyRef, "allowJobNetwork": project.allowJobNetwork,
            "deduplicate": project.deduplicate, "rerunInterrupted": project.rerunInterrupted,
            // null: the gateway's own setting applies.
            "buildTimeout": orNull(project.buildTimeout), "scriptTimeLimit": orNull(project.scriptTimeLimit),
            "maxConcurrentBuilds": orNull(project.maxConcurrentBuilds),
            "rateLimit": orNull(project.rateLimit.map { ["builds": $0.builds, "per": $0.per.rawValue, "burst": $0.burst] }),
            "coalesceWindow": orNull(project.coalesceWindow),
            "registries": project.registries.mapValues { ["username": $0.username, "password": "REDACTED"] },
        ]
    }

    public static func build(_ build: StoredBuild) -> [String: Any] {
        [
            "id": build.id,
            "project": ["id": build.build.projectID, "name": build.build.projectName],
            "type": build.build.eventType, "provider": build.build.provider,
            "revision": ["commit": build.build.commit, "ref": build.build.ref],
            "status": build.status.rawValue, "reason": orNull(build.reason), "exitCode": orNull(build.exitCode),
            "createdAt": timestamp(build.createdAt), "startedAt": timestamp(build.startedAt),
            "finishedAt": timestamp(build.finishedAt), "attempts": build.attempts,
            "payloadBytes": build.payloadBytes,
            // Webhooks that joined it in its coalescing window, and that window's end.
            "coalesced": build.coalesced, "notBefore": timestamp(build.build.notBefore),
        ]
    }

    public static func job(_ job: StoredJob) -> [String: Any] {
        [
            "id": job.id, "build": job.buildID, "name": job.name, "image": job.image, "status": job.status,
            "exitCode": orNull(job.exitCode), "failure": orNull(job.failure),
            "startedAt": timestamp(job.startedAt), "finishedAt": timestamp(job.finishedAt),
        ]
    }

    /// The object as JSON, keys sorted, with a final newline.
    public static func data(_ object: Any) -> Data {
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        data.append(0x0A)
        return data
    }
}
