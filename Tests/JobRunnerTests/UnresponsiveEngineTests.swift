import BrigantineCore
import Foundation
@testable import JobRunners
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// The container runner against an engine that stops answering part of the way: its jobs
/// still end, with their output, instead of waiting on the engine for ever.
@Suite struct UnresponsiveEngineTests {
    /// Podman's compatible service sometimes never ends a followed log when the container
    /// exits as the log attaches; the runner reads the log again and keeps only what is new.
    @Test(.timeLimit(.minutes(3))) func aLogStreamThatNeverEndsIsReadAgain() async throws {
        try await onOwnThread { try await FakeEngine(.init(followedLogNeverEnds: true)).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            let output = try await runner.run(makeJob("quick", tasks: ["echo hello", "echo world"]), in: scratch.context())
            #expect(output == JobOutput(output: "hello\nworld\n", exitCode: 0), "the followed part is not repeated")
            #expect(engine.requests.contains("GET /v1.41/containers/fake-1/logs?stdout=1&stderr=1"), "\(engine.requests)")
            #expect(engine.requests.last == "DELETE /v1.41/containers/fake-1?force=true&v=true", "the container is removed")
        } }
    }

    /// An engine that never reports the exit and ignores the kill: the job still ends at its
    /// timeout (plus the engine's allowance), as timed out, with what it wrote.
    @Test(.timeLimit(.minutes(3))) func aTimeoutEndsTheJobWhenTheEngineNoLongerAnswers() async throws {
        try await onOwnThread { try await FakeEngine(.init(followedLogNeverEnds: true, waitNeverAnswers: true, killNeverAnswers: true)).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            // Long enough for the image check, create and start to answer on a loaded machine
            // (5 s was not, once, in CI's busiest minute).
            let job = makeJob("stuck", tasks: ["echo hello", "sleep 1000"]) { $0.timeout = 10_000 }
            await #expect {
                _ = try await runner.run(job, in: scratch.context())
            } throws: { error in
                guard case JobFailure.timedOut(let milliseconds, let output) = error else { return false }
                return milliseconds == 10_000 && output == "hello\nworld\n"
            }
            #expect(engine.requests.contains("POST /v1.41/containers/fake-1/kill"), "\(engine.requests)")
            #expect(scratch.logText.contains("stuck-b1 ran past its timeout and was killed"), "\(scratch.logText)")
        } }
    }

    /// The timeout counts from the job's start, as Brigade's did while the pod was pending:
    /// a pull that never ends times the job out, and no container is made.
    @Test(.timeLimit(.minutes(3))) func aPullThatNeverEndsIsTheJobsTimeout() async throws {
        try await onOwnThread { try await FakeEngine(.init(imageMissing: true, pullNeverEnds: true)).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            await #expect {
                _ = try await runner.run(makeJob("pulling", tasks: ["true"]) { $0.timeout = 300 }, in: scratch.context())
            } throws: { error in
                guard case JobFailure.timedOut(300, "") = error else { return false }
                return true
            }
            #expect(scratch.logText.contains("pulling-b1 ran past its timeout while its image alpine:3.18 was being pulled"),
                    "\(scratch.logText)")
            #expect(!engine.requests.contains { $0.contains("/containers/create") })
        } }
    }

    /// An engine that never answers the create: the job times out, and whatever container
    /// the engine makes later with the job's labels is looked for, to be removed.
    @Test(.timeLimit(.minutes(3))) func aCreateThatNeverAnswersIsTheJobsTimeout() async throws {
        try await onOwnThread { try await FakeEngine(.init(createNeverAnswers: true)).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            await #expect {
                // Long enough for the image check on a loaded machine.
                _ = try await runner.run(makeJob("making", tasks: ["true"]) { $0.timeout = 5000 }, in: scratch.context())
            } throws: { error in
                guard case JobFailure.timedOut(5000, "") = error else { return false }
                return true
            }
            #expect(scratch.logText.contains("making-b1 ran past its timeout while the engine made its container"), "\(scratch.logText)")
            let lookup = "GET /v1.41/containers/json?all=1&filters=" + ContainerRunner.query(#"{"label":["brigantine.pod=making-b1"]}"#)
            for _ in 0..<1200 where !engine.requests.contains(lookup) { try await Task.sleep(for: .milliseconds(50)) }
            #expect(engine.requests.contains(lookup), "\(engine.requests)")
        } }
    }
}

extension UnresponsiveEngineTests {
    /// The removal after a job is not answered: the job still ends, and the build's end
    /// removes what carries the build's label.
    @Test(.timeLimit(.minutes(3))) func aRemovalThatNeverAnswersIsRetriedWhenTheBuildEnds() async throws {
        try await onOwnThread { try await FakeEngine(.init(firstRemovalNeverAnswers: true)).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            let context = scratch.context()
            #expect(try await runner.run(makeJob("quick", tasks: ["true"]), in: context).output == "hello\nworld\n")
            await runner.buildFinished(context)
            let lookup = "GET /v1.41/containers/json?all=1&filters=" + ContainerRunner.query(#"{"label":["brigantine.build=b1"]}"#)
            #expect(engine.requests.contains(lookup), "\(engine.requests)")
            #expect(engine.requests.filter { $0 == "DELETE /v1.41/containers/fake-1?force=true&v=true" }.count == 2)
        } }
    }
}

/// What a script sets that the engine cannot apply stops the job with the reason, before a container is made.
@Suite struct ContainerJobSettingsTests {
    @Test func aLimitThatIsNotAQuantityStopsTheJob() async throws {
        try await onOwnThread { try await FakeEngine(.init()).use { engine in
            let scratch = try Scratch()
            let runner = engine.runner()
            for (memory, cpu, resource) in [("1e300Gi", "1", "memory"), ("64Mi", "1e300", "cpu")] {
                let job = makeJob("limited", tasks: ["true"]) { $0.resourceLimits = .init(cpu: cpu, memory: memory) }
                await #expect {
                    _ = try await runner.run(job, in: scratch.context())
                } throws: { error in
                    "\(error)".hasPrefix("job limited's resourceLimits.\(resource) is \"\(resource == "cpu" ? cpu : memory)\", which is not a quantity")
                }
            }
            let empty = makeJob("unlimited", tasks: ["true"]) { $0.resourceLimits = .init(cpu: "", memory: "") }
            #expect(try await runner.run(empty, in: scratch.context()).exitCode == 0, "an empty limit is none, as in Brigade")
            #expect(engine.requests.filter { $0.contains("/containers/create") }.count == 1)
        } }
    }
}

/// Runs `body` and the tasks it makes on a thread of its own, not Swift's shared pool: the
/// rest of the suite starts hundreds of tests at once on that pool's two threads, which
/// held these tests' tasks up for 25 s — longer than the timeouts they are about.
func onOwnThread<T>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(OwnThreadExecutor.shared) { try await body() }
}

/// A thread that runs the jobs given to it in order (not a dispatch queue: those share a pool too).
final class OwnThreadExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = OwnThreadExecutor()
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`

    private init() {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        thread.name = "fake-engine-tests"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }
}

/// Just enough of the Docker Engine API, on a unix socket, to run one container that writes
/// "hello" then "world"; each part of it can be told never to answer.
final class FakeEngine: TestServer, Sendable {
    struct Behaviour: Sendable {
        /// A followed log sends "hello" and then nothing more, never ending.
        var followedLogNeverEnds = false
        var waitNeverAnswers = false
        var killNeverAnswers = false
        /// The engine does not have the image; pulling it reports progress and never ends.
        var imageMissing = false
        var pullNeverEnds = false
        var createNeverAnswers = false
        /// The first removal of a container is never answered.
        var firstRemovalNeverAnswers = false
    }

    let socketPath: String
    private let channel: any Channel
    private let received = RequestLog()

    /// "METHOD URI" of every request, in order of arrival.
    var requests: [String] { received.lines.withLock { $0 } }

    private final class RequestLog: Sendable {
        let lines = Mutex<[String]>([])
        func count(of request: String) -> Int { lines.withLock { $0.filter { $0 == request }.count } }
    }

    init(_ behaviour: Behaviour) async throws {
        socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString.prefix(8)).sock").path
        let received = received
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(behaviour: behaviour) { request in
                        received.lines.withLock { $0.append(request) }
                        return received.count(of: request)
                    })
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
    }

    /// A container runner that talks to this engine.
    func runner() -> ContainerRunner {
        ContainerRunner(socketPath: socketPath, allowNetwork: false, maxRunning: 2, maxRunningPerBuild: 2, maxOutputBytes: 1 << 20)
    }

    func stop() async {
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    /// One log frame of stdout, as the engine multiplexes it.
    static func frame(_ text: String) -> ByteBuffer {
        let bytes = Array(text.utf8)
        var buffer = ByteBuffer(bytes: [1, 0, 0, 0])
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let behaviour: Behaviour
        /// Records a request; returns how many times it has come, this one included.
        let record: @Sendable (String) -> Int
        private var head: HTTPRequestHead?

        init(behaviour: Behaviour, record: @escaping @Sendable (String) -> Int) {
            self.behaviour = behaviour
            self.record = record
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                let times = record("\(head.method.rawValue) \(head.uri)")
                answer(head, times: times, context: context)
            }
        }

        private func answer(_ head: HTTPRequestHead, times: Int, context: ChannelHandlerContext) {
            let path = head.uri.drop { $0 != "/" }.dropFirst().drop { $0 != "/" }  // without the API version
            switch (head.method, path) {
            case (.POST, "/containers/create"):
                if !behaviour.createNeverAnswers { send(201, #"{"Id":"fake-1"}"#, context: context) }
            case (.GET, _) where path.hasPrefix("/containers/json?"): send(200, #"[{"Id":"fake-1","Labels":{}}]"#, context: context)
            case (.POST, "/containers/fake-1/start"): send(204, "", context: context)
            case (.POST, "/containers/fake-1/wait"):
                if !behaviour.waitNeverAnswers { send(200, #"{"StatusCode":0}"#, context: context) }
            case (.POST, "/containers/fake-1/kill"):
                if !behaviour.killNeverAnswers { send(204, "", context: context) }
            case (.GET, "/containers/fake-1/logs?follow=1&stdout=1&stderr=1"):
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(FakeEngine.frame("hello\n")))), promise: nil)
                if !behaviour.followedLogNeverEnds {
                    context.write(wrapOutboundOut(.body(.byteBuffer(FakeEngine.frame("world\n")))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            case (.GET, "/containers/fake-1/logs?stdout=1&stderr=1"):
                var both = FakeEngine.frame("hello\n")
                var second = FakeEngine.frame("world\n")
                both.writeBuffer(&second)
                send(200, both, context: context)
            case (.GET, _) where path.hasPrefix("/images/"):
                behaviour.imageMissing ? send(404, #"{"message":"no such image"}"#, context: context) : send(200, "{}", context: context)
            case (.POST, _) where path.hasPrefix("/images/create"):
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: #"{"status":"Pulling"}"# + "\n")))), promise: nil)
                if !behaviour.pullNeverEnds { context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
            case (.DELETE, _):
                if !(behaviour.firstRemovalNeverAnswers && times == 1 && path.hasPrefix("/containers/")) { send(204, "", context: context) }
            default: send(404, #"{"message":"not in the fake engine"}"#, context: context)
            }
        }

        private func send(_ status: Int, _ body: String, context: ChannelHandlerContext) {
            send(status, ByteBuffer(string: body), context: context)
        }

        private func send(_ status: Int, _ body: ByteBuffer, context: ChannelHandlerContext) {
            let headers = HTTPHeaders([("Content-Length", String(body.readableBytes)), ("Connection", "close")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status),
                                                                 headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            // The client closes the connection once it has the answer.
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
