import Foundation

/// Lower-case ULIDs, as Brigade used for build IDs: 48 bits of milliseconds since the
/// epoch, then 80 random bits, in Crockford's base 32. They sort by creation time.
public enum ULID {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")

    public static func make(at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)), using: &generator)
    }

    /// The smallest ULID of `date`'s millisecond: every ULID made earlier sorts before it.
    public static func smallest(at date: Date) -> String {
        var zeros = Zeros()
        return make(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)), using: &zeros)
    }

    private struct Zeros: RandomNumberGenerator {
        mutating func next() -> UInt64 { 0 }
    }

    static func make(milliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> String {
        var bytes: [UInt8] = (0..<6).map { UInt8(truncatingIfNeeded: milliseconds >> UInt64(8 * (5 - $0))) }
        bytes += (0..<10).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // 26 characters of 5 bits cover 130 bits: the 128 of `bytes` after two zero bits.
        return String((0..<26).map { index in
            var value = 0
            for offset in 0..<5 {
                let bit = index * 5 + offset - 2
                value = value << 1 | (bit < 0 ? 0 : Int(bytes[bit / 8] >> (7 - bit % 8)) & 1)
            }
            return alphabet[value]
        })
    }
}
