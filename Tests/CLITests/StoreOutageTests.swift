import Foundation
@testable import Gateway
import Logging
import Testing

/// How the gateway tells an outage of the store's writes: once in the log when it begins and
/// once when it ends, and `/readyz`'s answer in between.
@Suite struct StoreOutageTests {
    struct DiskFull: Error, CustomStringConvertible { var description: String { "database or disk is full" } }

    @Test func anOutageIsSaidOnceAndEndsWithAWriteThatLandsAfterItSettled() async throws {
        let said = LogLines()
        let outage = StoreOutage(logger: said.logger, settling: .seconds(1), memory: .seconds(60))
        outage.succeeded()
        #expect(!outage.isFailing && said.lines.withLock { $0 }.isEmpty, "no outage, nothing to say")

        outage.failed(DiskFull(), webhook: true)
        outage.failed(DiskFull(), webhook: false)
        outage.succeeded() // by turns with the failures: not over yet
        outage.failed(DiskFull(), webhook: true)
        #expect(outage.isFailing)
        #expect(said.lines.withLock { $0 } == [
            "warning: the build store refuses writes, so webhooks get 503 until it takes them again: database or disk is full",
        ])

        try await Task.sleep(for: .milliseconds(1_100))
        outage.succeeded()
        #expect(!outage.isFailing)
        let lines = said.lines.withLock { $0 }
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("notice: the build store takes writes again; they failed for 0.") == true, "\(lines)")
        #expect(lines.last?.hasSuffix("s, and 2 webhook(s) were refused") == true, "\(lines)")
    }

    @Test func aFailureWithNothingAfterItCountsOnlySoLong() async throws {
        let outage = StoreOutage(logger: LogLines().logger, settling: .milliseconds(10), memory: .milliseconds(500))
        outage.failed(DiskFull(), webhook: false)
        #expect(outage.isFailing)
        try await Task.sleep(for: .milliseconds(600))
        #expect(!outage.isFailing, "no webhook and no build tried a write since: ready again, to find out")
    }
}
