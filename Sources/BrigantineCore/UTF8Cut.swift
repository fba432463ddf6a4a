extension BidirectionalCollection where Element == UInt8 {
    /// Where to cut UTF-8 text at most `maxBytes` after `start` without cutting a character
    /// in two: that far on (or the end), moved back to where a character starts.
    func cutIndex(from start: Index, atMostBytes maxBytes: Int) -> Index {
        var end = index(start, offsetBy: maxBytes, limitedBy: endIndex) ?? endIndex
        while end > start, end < endIndex, UTF8.isContinuation(self[end]) { formIndex(before: &end) }
        return end
    }
}
