import BrigantineCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection that does not deliver a whole request in time.
///
/// The idle timeout is reset by every byte, so a client that sends a byte every few seconds
/// ("slowloris") kept its connection for good, and a few of them held every connection the
/// gateway keeps open (`--max-connections`): webhooks then waited in the kernel's queue for
/// as long as those clients went on. With a deadline per request, a connection held that way
/// comes free within the deadline, and the connections queued behind it are accepted in turn.
///
/// The deadline runs from when the connection is ready for a request (opened, TLS included,
/// or its last response sent) until that request's end has been read; not while an answer
/// is being made or sent, so a followed log stays open for as long as it runs.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limit: Duration
    private let logger: Logger
    private let closed: @Sendable () -> Void
    private var timer: Scheduled<Void>?
    // Counts rather than a state, because an answer may end before its request has been
    // read (a refusal sent while the body still arrives).
    private var headsRead = 0
    private var requestsRead = 0
    private var answersSent = 0
    /// Waiting for a request, with the deadline running since it began to.
    private var ready = false

    init(limit: Duration, logger: Logger, closed: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.logger = logger
        self.closed = closed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { update(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
    }

    func channelActive(context: ChannelHandlerContext) {
        update(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: headsRead += 1
        case .body: break
        case .end: requestsRead += 1
        }
        update(context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answersSent += 1
            update(context)
        }
        context.write(data, promise: promise)
    }

    /// Runs the deadline while the connection owes the gateway a request (it is reading one,
    /// or has no answer coming), afresh each time it becomes ready for the next one, and
    /// stops it while an answer is being made.
    private func update(_ context: ChannelHandlerContext) {
        let reading = headsRead > requestsRead
        let answerComing = requestsRead > answersSent
        let nowReady = !reading && !answerComing
        defer { ready = nowReady }
        if !reading && answerComing { return stopTimer() }
        if nowReady && !ready { stopTimer() }
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limit)) { [self] in
            timer = nil
            let seconds = NumberBounds.format(limit / .seconds(1))
            // Only a request cut short is the client's doing; a connection idle between
            // requests (a keep-alive pool's) is closed as a matter of course.
            if headsRead > requestsRead {
                logger.info("closed a connection whose request did not arrive whole within \(seconds) s")
                closed()
            } else {
                logger.debug("closed a connection that sent no request within \(seconds) s")
            }
            context.close(promise: nil)
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }
}
