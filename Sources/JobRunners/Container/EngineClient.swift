import BrigantineCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Docker Engine HTTP API over its unix socket; Podman's compatible service speaks it too.
///
/// One connection per call: the socket is local and the calls are few per job.
struct EngineClient: Sendable {
    static let apiVersion = "v1.41"

    let socketPath: String

    struct Reply: Sendable {
        let status: Int
        let body: Data

        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        /// The engine's error text (`{"message": …}`), or the body.
        var message: String {
            (json as? [String: Any])?["message"] as? String ?? String(decoding: body, as: UTF8.self)
        }
        var isSuccess: Bool { (200..<300).contains(status) }
    }

    /// Sends a request and collects the whole answer.
    func send(_ method: HTTPMethod, _ path: String, json: Any? = nil, body: Data? = nil,
              contentType: String? = nil, headers extra: [(String, String)] = []) async throws -> Reply {
        var collected = Data()
        let status = try await stream(method, path, json: json, body: body, contentType: contentType, headers: extra) { chunk in
            collected.append(contentsOf: chunk.readableBytesView)
        }
        return Reply(status: status, body: collected)
    }

    /// Sends a request and hands the answer's body to `onChunk` as it arrives; returns the status.
    func stream(_ method: HTTPMethod, _ path: String, json: Any? = nil, body: Data? = nil, contentType: String? = nil,
                headers extra: [(String, String)] = [], onChunk: (ByteBuffer) async throws -> Void) async throws -> Int {
        var payload = body
        var type = contentType
        if let json {
            payload = try JSONSerialization.data(withJSONObject: json)
            type = "application/json"
        }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw EngineUnavailable(socketPath: socketPath)
        }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders([("Host", "engine"), ("Connection", "close")])
            if let type { headers.add(name: "Content-Type", value: type) }
            for (name, value) in extra { headers.add(name: name, value: value) }
            headers.add(name: "Content-Length", value: String(payload?.count ?? 0))
            do {
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method,
                                                               uri: "/\(Self.apiVersion)\(path)", headers: headers)))
                if let payload, !payload.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: payload)))) }
                try await outbound.write(.end(nil))
            } catch {
                // The engine may answer and close before the request is fully written
                // (a pull that fails at once, say): the answer is still there to read.
            }
            var status = 0
            for try await part in inbound {
                switch part {
                case .head(let head): status = Int(head.status.code)
                case .body(let chunk): try await onChunk(chunk)
                case .end: return status
                }
            }
            return status
        }
    }

    /// Whether an engine answers on the socket.
    func ping() async -> Bool {
        (try? await send(.GET, "/_ping").isSuccess) ?? false
    }
}

/// No container engine answers on the socket.
struct EngineUnavailable: TransientError, CustomStringConvertible {
    let socketPath: String
    var description: String {
        "no container engine answers at \(socketPath) (start dockerd, or `podman system service`, or pass its socket)"
    }
}

/// The engine took longer than a call may take (a kill, a log read) and was left waiting.
struct EngineUnresponsive: Error, CustomStringConvertible {
    var description: String { "the container engine did not answer in time" }
}

/// Splits the engine's multiplexed log stream (8-byte frame headers: stream, 3 zero bytes,
/// big-endian length) into the bytes of the frames, in order.
struct LogDemultiplexer {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        pending.append(contentsOf: bytes)
        var output: [UInt8] = []
        var offset = 0
        while pending.count - offset >= 8 {
            let length = pending[offset + 4..<offset + 8].reduce(0) { $0 << 8 | Int($1) }
            guard pending.count - offset - 8 >= length else { break }
            output.append(contentsOf: pending[offset + 8..<offset + 8 + length])
            offset += 8 + length
        }
        pending.removeFirst(offset)
        return output
    }
}
