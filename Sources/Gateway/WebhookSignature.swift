import BrigantineCore
import Crypto
import Foundation
import Hummingbird

/// An HMAC of the body that a registry sent with its webhook, keyed with the project's
/// webhook secret: GitHub and GHCR (`X-Hub-Signature-256: sha256=<hex>`, or the older
/// `X-Hub-Signature: sha1=<hex>`), Artifactory (`X-JFrog-Event-Auth: <hex>`, SHA-256), Nexus
/// (`X-Nexus-Webhook-Signature: <hex>`, SHA-1) and Flux's generic form
/// (`X-Signature: sha1|sha256|sha512=<hex>`). Unlike a token, a signature proves the body is
/// the one its sender signed, and the secret itself never travels.
struct WebhookSignature: Sendable {
    enum Algorithm: String, Sendable { case sha1, sha256, sha512 }

    let algorithm: Algorithm
    /// The MAC as sent; nil when the header's value is not hexadecimal (it then matches nothing).
    let mac: [UInt8]?

    /// The headers that carry one, strongest first: GitHub sends both of its own.
    private static let headers: [(name: String, algorithm: Algorithm?)] = [
        ("x-hub-signature-256", .sha256),
        ("x-signature", nil), // the value names its algorithm
        ("x-jfrog-event-auth", .sha256),
        ("x-nexus-webhook-signature", .sha1),
        ("x-hub-signature", .sha1),
    ]

    /// The signature a request carries, if any. A header whose value cannot be a signature
    /// still counts as one (that matches nothing), so that a malformed one is refused
    /// rather than ignored.
    static func presented(in request: Request) -> WebhookSignature? {
        for header in headers {
            guard let value = request.header(named: header.name) else { continue }
            return parse(value.trimmingCharacters(in: .whitespaces), algorithm: header.algorithm)
        }
        return nil
    }

    /// `value` is `<algorithm>=<hex>`, or bare hex where the header fixes the algorithm (a
    /// prefix naming that same algorithm is allowed there too).
    static func parse(_ value: String, algorithm fixed: Algorithm?) -> WebhookSignature {
        var algorithm = fixed ?? .sha256
        var hex = Substring(value)
        if let equals = value.firstIndex(of: "=") {
            let named = Algorithm(rawValue: value[..<equals].lowercased())
            guard let named, fixed == nil || named == fixed else { return WebhookSignature(algorithm: algorithm, mac: nil) }
            algorithm = named
            hex = value[value.index(after: equals)...]
        } else if fixed == nil {
            return WebhookSignature(algorithm: algorithm, mac: nil) // X-Signature must name its algorithm
        }
        return WebhookSignature(algorithm: algorithm, mac: Self.bytes(ofHex: hex))
    }

    /// Whether this is the MAC of `body` under `secret`, compared in constant time.
    /// No secret (a project without one) matches nothing, after the same work.
    func matches(_ body: Data, secret: String?) -> Bool {
        let key = SymmetricKey(data: Array((secret.flatMap { $0.isEmpty ? nil : $0 } ?? "\u{0}no secret\u{0}").utf8))
        let valid: Bool
        switch algorithm {
        case .sha1: valid = HMAC<Insecure.SHA1>.isValidAuthenticationCode(mac ?? [], authenticating: body, using: key)
        case .sha256: valid = HMAC<SHA256>.isValidAuthenticationCode(mac ?? [], authenticating: body, using: key)
        case .sha512: valid = HMAC<SHA512>.isValidAuthenticationCode(mac ?? [], authenticating: body, using: key)
        }
        return valid && mac != nil && secret?.isEmpty == false
    }

    private static func bytes(ofHex hex: Substring) -> [UInt8]? {
        guard hex.count % 2 == 0, !hex.isEmpty, hex.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
