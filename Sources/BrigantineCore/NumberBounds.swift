/// Where a number from a project file or a flag must lie, and how to say so in an error
/// ("a number of seconds above 0 and at most 3600"). NaN lies within no bounds.
public struct NumberBounds: Sendable, CustomStringConvertible {
    public let unit: String
    public let lowest: Double
    /// Whether `lowest` itself is allowed (from 1) or only what is above it (above 0).
    public let lowestAllowed: Bool
    public let highest: Double
    /// Said after the highest value, for a number nobody reads at a glance: "a year".
    public let highestMeaning: String?

    public init(_ unit: String, from lowest: Double, to highest: Double, meaning: String? = nil) {
        (self.unit, self.lowest, lowestAllowed, self.highest, highestMeaning) = (unit, lowest, true, highest, meaning)
    }

    public init(_ unit: String, above lowest: Double, atMost highest: Double, meaning: String? = nil) {
        (self.unit, self.lowest, lowestAllowed, self.highest, highestMeaning) = (unit, lowest, false, highest, meaning)
    }

    public func contains(_ value: Double) -> Bool {
        (lowestAllowed ? value >= lowest : value > lowest) && value <= highest
    }

    public var description: String {
        let highestText = Self.format(highest) + (highestMeaning.map { " (\($0))" } ?? "")
        return lowestAllowed
            ? "a number of \(unit) from \(Self.format(lowest)) to \(highestText)"
            : "a number of \(unit) above \(Self.format(lowest)) and at most \(highestText)"
    }

    /// Whole numbers without a fraction or an exponent (31536000, not 3.1536e+07).
    public static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
