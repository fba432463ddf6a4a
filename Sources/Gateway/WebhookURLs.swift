import BrigantineCore

/// The URLs a project's senders post to, for `brig project url` and `brig gateway --print-urls`.
public enum WebhookURLs {
    /// Lines of text naming each URL form the project accepts; empty when no gateway is on.
    public static func describe(_ project: Project, base: String) -> [String] {
        let base = base.hasSuffix("/") ? String(base.dropLast()) : base
        var lines: [String] = []
        if project.gateways.contains(.containerRegistry) {
            let path = project.name.split(separator: "/").count == 2 ? project.name : project.id
            if let secret = project.webhookSecret, !secret.isEmpty {
                let token = WebhookSecrets.token(project: project.name, secret: secret)
                lines += [
                    "Docker Hub, Quay (no headers possible; the token is the secret, keep the URL private):",
                    "  \(base)/events/webhook/\(token)",
                    "Any registry, token as a query parameter:",
                    "  \(base)/events/webhook/\(path)?token=\(token)",
                    "ACR, Harbor, distribution (custom header):",
                    "  \(base)/events/webhook/\(path)   with header   Authorization: Bearer \(secret)",
                    "GitHub and GHCR, Artifactory, Nexus (they sign each body; give them the webhook secret as theirs):",
                    "  \(base)/events/webhook/\(path)",
                ]
            } else if project.insecure {
                lines += ["Container registries (insecure project, no secret):", "  \(base)/events/webhook/\(path)"]
            } else {
                lines += ["The container-registry gateway is on, but the project has no webhookSecret: webhooks are refused."]
            }
        }
        if project.gateways.contains(.generic), let secret = project.genericGatewaySecret, !secret.isEmpty {
            lines += [
                "Generic gateway:",
                "  SimpleEvent  \(base)/simpleevents/v1/\(project.id)/\(secret)",
                "  CloudEvents  \(base)/cloudevents/v02/\(project.id)/\(secret)",
            ]
        }
        return lines
    }

    /// The URL a registry without headers would use (Docker Hub), if the project has one.
    public static func registryURL(_ project: Project, base: String) -> String? {
        guard project.gateways.contains(.containerRegistry) else { return nil }
        let base = base.hasSuffix("/") ? String(base.dropLast()) : base
        if let secret = project.webhookSecret, !secret.isEmpty {
            return "\(base)/events/webhook/\(WebhookSecrets.token(project: project.name, secret: secret))"
        }
        return project.insecure ? "\(base)/events/webhook/\(project.id)" : nil
    }
}
