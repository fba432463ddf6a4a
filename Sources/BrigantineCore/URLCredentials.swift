import Foundation

/// The credentials a URL can carry before its host (`https://user:token@host/…`, or a token
/// alone, `https://token@host/…`), as a project's `repo.cloneURL` may for a private repository.
public enum URLCredentials {
    /// Where the user information lies: between `://` and the last `@` before the path. The
    /// last one, since git takes a password with an `@` in it as it stands.
    static func userInformation(in url: String) -> Range<String.Index>? {
        guard let scheme = url.range(of: "://") else { return nil }
        let authorityEnd = url[scheme.upperBound...].firstIndex { "/?#".contains($0) } ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return nil }
        return scheme.upperBound..<at
    }

    /// Whether the user information before a `:` is only a name (`ssh://git@host/…`), or may be
    /// a token (`https://token@host/…`, as GitHub and GitLab take them).
    private static func nameIsSecret(in url: String) -> Bool {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        return scheme == "http" || scheme == "https"
    }

    /// `url` without its user information (`https://host/…`), for messages.
    public static func removed(from url: String) -> String {
        guard let range = userInformation(in: url) else { return url }
        return String(url[..<range.lowerBound]) + url[url.index(after: range.upperBound)...]
    }

    /// `url` with its secret part masked: `https://bot:***@host/…`, `https://***@host/…`;
    /// a name alone in an ssh URL is kept.
    public static func masked(_ url: String) -> String {
        guard let secret = secretPart(of: url) else { return url }
        return url.replacingCharacters(in: secret, with: SecretRedactor.mask)
    }

    /// What of `url` must stay out of logs, for a `SecretRedactor`: what `masked` hides, as
    /// written and percent-decoded.
    public static func secrets(in url: String) -> [String] {
        guard let secret = secretPart(of: url).map({ url[$0] }) else { return [] }
        return [String(secret)] + (secret.removingPercentEncoding.map { [$0] } ?? [])
    }

    /// The password after the user information's `:`, else the whole of it when it may be
    /// a token (HTTP), else nothing.
    private static func secretPart(of url: String) -> Range<String.Index>? {
        guard let range = userInformation(in: url) else { return nil }
        if let colon = url[range].firstIndex(of: ":") { return url.index(after: colon)..<range.upperBound }
        return nameIsSecret(in: url) ? range : nil
    }
}
