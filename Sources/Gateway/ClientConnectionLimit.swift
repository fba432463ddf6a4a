import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How many connections each client address holds open (`--max-connections-per-client`).
///
/// The request and send deadlines free a connection held by a slow client within seconds,
/// but one address that opens connections faster than they free can still take every one
/// the gateway keeps (`--max-connections`). Off by default: behind a proxy every client has
/// the proxy's address.
final class ClientConnectionCounts: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a connection from `address`, unless it has `limit` open already.
    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            guard counts[address, default: 0] < limit else { return false }
            counts[address, default: 0] += 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            counts[address, default: 1] -= 1
            if counts[address] == 0 { counts[address] = nil }
        }
    }
}

/// Closes a new connection whose address has its share open already.
final class ClientConnectionLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    private let counts: ClientConnectionCounts
    private let logger: Logger
    private let refused: @Sendable () -> Void
    /// The address this connection is counted under, once admitted.
    private var counted: String?
    private var decided = false

    init(counts: ClientConnectionCounts, logger: Logger, refused: @escaping @Sendable () -> Void) {
        self.counts = counts
        self.logger = logger
        self.refused = refused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { decide(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        decide(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func decide(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        guard let address = context.channel.remoteAddress?.ipAddress else { return }
        if counts.admit(address) {
            counted = address
        } else {
            logger.info("closed a connection from \(address): it has \(counts.limit) open already (--max-connections-per-client)")
            refused()
            context.close(promise: nil)
        }
    }

    private func release() {
        if let counted { counts.release(counted) }
        counted = nil
    }
}
