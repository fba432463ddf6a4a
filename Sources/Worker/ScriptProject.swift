import BrigantineCore
import Foundation

/// What scripts receive as `p` (worker.js gives it Brigade's key order, spec 2.3).
///
/// Differences from Brigade: `name` is the project's name (Brigade put the repository
/// there and the name in `repo.name`), `repo` is always present (with `cloneURL: null`
/// when there is none), and `allowPrivilegedJobs` is false unless the project allows it.
struct ScriptProject: Encodable {
    struct Repo: Encodable {
        let name: String
        let cloneURL: String?
        let initGitSubmodules: Bool

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(cloneURL, forKey: .cloneURL) // null, not absent
            try container.encode(initGitSubmodules, forKey: .initGitSubmodules)
        }

        enum CodingKeys: String, CodingKey { case name, cloneURL, initGitSubmodules }
    }

    struct Kubernetes: Encodable {
        let namespace: String
        let vcsSidecar: String
        let buildStorageSize: String
        let cacheStorageClass: String
        let buildStorageClass: String
    }

    let id: String
    let name: String
    let repo: Repo
    let kubernetes: Kubernetes
    let secrets: [String: String]
    let allowPrivilegedJobs: Bool
    let allowHostMounts: Bool

    init(_ project: Project) {
        id = project.id
        name = project.name
        repo = Repo(name: project.name, cloneURL: project.repo?.cloneURL,
                    initGitSubmodules: project.repo?.initGitSubmodules ?? false)
        let settings = project.kubernetes
        kubernetes = Kubernetes(
            namespace: settings.namespace ?? "default", vcsSidecar: settings.vcsSidecar ?? "",
            buildStorageSize: settings.buildStorageSize ?? "50Mi",
            cacheStorageClass: settings.cacheStorageClass ?? "", buildStorageClass: settings.buildStorageClass ?? "")
        secrets = project.secrets
        allowPrivilegedJobs = project.allowPrivilegedJobs
        allowHostMounts = project.allowHostMounts
    }

    func json() throws -> String {
        String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
    }
}
