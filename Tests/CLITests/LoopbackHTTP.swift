import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport

/// HTTP/1.1 to a server on loopback, one connection per request, on NIO's event loops.
///
/// Not URLSession: on Linux its async `data(for:)` waits for a dispatch queue on the thread
/// of the cooperative pool that called it. The package's tests share that pool (two threads
/// here), so two such waits stalled every other test; and it never returns from a 401 that
/// asks for Basic credentials.
enum LoopbackHTTP {
    struct Reply {
        let status: Int
        let headers: HTTPHeaders
        let body: Data
    }

    /// Sends one request to `127.0.0.1:port` and collects the whole answer; throws when the
    /// connection is refused, or when no full answer came within `timeout` (by default longer
    /// than the API's longest wait, 60 s, and a followed log of a test's build).
    static func send(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [],
                     body: Data? = nil, timeout: TimeAmount = .seconds(90)) async throws -> Reply {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    // Closing ends the answer's stream early: a hung server fails the test, not the run.
                    channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPHeaders([("Host", "127.0.0.1:\(port)"), ("Connection", "close")])
            for (name, value) in headers { head.add(name: name, value: value) }
            if body != nil || !["GET", "HEAD"].contains(method) {
                head.add(name: "Content-Length", value: String(body?.count ?? 0))
            }
            do {
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method),
                                                               uri: path, headers: head)))
                if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
            } catch {
                // A server may answer and close before it has read the whole request (a body
                // over its cap): the answer is still there to read.
            }
            var status = 0
            var answerHeaders = HTTPHeaders()
            var collected = Data()
            for try await part in inbound {
                switch part {
                case .head(let answer):
                    status = Int(answer.status.code)
                    answerHeaders = answer.headers
                case .body(let chunk): collected.append(contentsOf: chunk.readableBytesView)
                case .end: return Reply(status: status, headers: answerHeaders, body: collected)
                }
            }
            throw TestFailure("\(method) \(path): the connection closed before a full answer (status \(status))")
        }
    }
}
