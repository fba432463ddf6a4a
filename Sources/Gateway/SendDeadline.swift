import BrigantineCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stops taking its answer.
///
/// Hummingbird's idle timeout does not run while an answer is being sent, so a client that
/// asked for a long build log and then read nothing kept its connection, and the megabytes
/// queued for it, for good (seen still open after minutes, with 3.8 MB waiting in the
/// kernel). While the client takes nothing, the channel stays unwritable; past `limit` of
/// that, the connection is closed. A client that reads, however slowly, keeps it writable
/// at times and is not closed; a followed log writes little and never fills the channel.
final class SendDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    private let limit: Duration
    private let logger: Logger
    private let closed: @Sendable () -> Void
    private var timer: Scheduled<Void>?

    init(limit: Duration, logger: Logger, closed: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.logger = logger
        self.closed = closed
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stopTimer()
        } else if timer == nil {
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limit)) { [self] in
                timer = nil
                logger.info("closed a connection whose client took none of its answer for \(NumberBounds.format(limit / .seconds(1))) s")
                closed()
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }
}
