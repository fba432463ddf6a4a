import Crypto

/// Brigade's project IDs: `brigade-` followed by the first 54 hex digits of SHA-256 of the name.
/// A string that already starts with `brigade-` is taken to be an ID and left as is.
public enum ProjectID {
    public static func of(_ nameOrID: String) -> String {
        if nameOrID.hasPrefix("brigade-") { return nameOrID }
        return "brigade-" + Hex.encode(SHA256.hash(data: Array(nameOrID.utf8))).prefix(54)
    }
}
