import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Raw bytes over a loopback TCP connection: for requests no HTTP library would send.
enum RawHTTP {
    enum Outcome: Equatable {
        /// The status code of the answer's first line.
        case status(Int)
        /// The server closed the connection without answering.
        case closed
        /// Nothing came back in time.
        case timedOut
    }

    /// Sends `chunks` (pausing `pause` between them), optionally closes the writing side,
    /// and reads the answer's status line.
    /// - Parameter source: the loopback address to connect from (`127.0.0.2`: another client).
    static func exchange(port: Int, _ chunks: [[UInt8]], pause: TimeInterval = 0, closeAfterSending: Bool = false,
                         timeout: TimeInterval = 5, from source: String? = nil) -> Outcome {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .closed }
        defer { close(fd) }
        var noSigPipe: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &noSigPipe, socklen_t(MemoryLayout<Int32>.size))
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        // A server that stops reading must not hold the sender forever either.
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        guard connectToLoopback(fd, port: port, from: source) == 0 else { return .closed }
        // A send that fails (the server closed the connection) ends the sending.
        sending: for (index, chunk) in chunks.enumerated() {
            if index > 0, pause > 0 { Thread.sleep(forTimeInterval: pause) }
            var sent = 0
            while sent < chunk.count {
                let written = chunk[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { break sending }
                sent += written
            }
        }
        if closeAfterSending { shutdown(fd, Int32(SHUT_WR)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !answer.contains(0x0A) {
            let read = recv(fd, &buffer, buffer.count, 0)
            if read == 0 { break }
            if read < 0 { return answer.isEmpty ? (errno == EAGAIN || errno == EWOULDBLOCK ? .timedOut : .closed) : .closed }
            answer += buffer[0..<read]
        }
        let line = String(decoding: answer.prefix { $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else { return .closed }
        return .status(code)
    }
}

extension RawHTTP {
    /// Sends `request` from a socket with a small receive buffer, reads nothing for `pause`,
    /// then reads until the server closes the connection or sends nothing for `timeout`:
    /// how many bytes came, and whether the server closed it.
    static func readLate(port: Int, _ request: [UInt8], pause: TimeInterval, timeout: TimeInterval = 5) -> (bytes: Int, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return (0, true) }
        defer { close(fd) }
        var small: Int32 = 4096
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var wait = timeval(tv_sec: Int(timeout), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        guard connectToLoopback(fd, port: port) == 0,
              request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return (0, true) }
        Thread.sleep(forTimeInterval: pause)
        var bytes = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = recv(fd, &buffer, buffer.count, 0)
            if read > 0 { bytes += read; continue }
            return (bytes, read == 0 || errno == ECONNRESET)
        }
    }

    /// A socket with a small receive buffer that has sent `GET path` and reads nothing of
    /// the answer; the caller closes it.
    static func askAndReadNothing(port: Int, path: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(): errno \(errno)") }
        var small: Int32 = 4096
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        guard connectToLoopback(fd, port: port) == 0,
              request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            close(fd)
            throw TestFailure("could not ask for \(path): errno \(errno)")
        }
        return fd
    }

    /// `connect(2)` of `fd` to `127.0.0.1:port`; its result (0, or -1 with `errno`).
    static func connectToLoopback(_ fd: Int32, port: Int, from source: String? = nil) -> Int32 {
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { return bound }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

/// TCP connections to loopback that connect and send nothing, held until `close()`.
/// Non-blocking: past the listen queue a connect would otherwise wait for SYN retries.
final class HeldConnections {
    private var sockets: [Int32] = []
    var count: Int { sockets.count }

    init(port: Int, count: Int) throws {
        for _ in 0..<count {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard socket >= 0 else { close(); throw TestFailure("socket(): errno \(errno)") }
            sockets.append(socket)
            guard RawHTTP.connectToLoopback(socket, port: port) == 0 || errno == EINPROGRESS else {
                close()
                throw TestFailure("connect(): errno \(errno)")
            }
        }
    }

    func close() {
        for socket in sockets { Glibc.close(socket) }
        sockets = []
    }

    deinit { close() }
}
