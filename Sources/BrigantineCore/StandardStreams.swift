import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard output and error that never stop the process.
///
/// `FileHandle.write(_:)` stops the process with a trap when the write fails, and a write to
/// a pipe whose reader has gone fails (EPIPE) once SIGPIPE is ignored, as it is in the
/// gateway (SwiftNIO ignores it): a log shipper that exits would take the gateway down
/// with it. Here what cannot be written is dropped instead — a lost log line, not a lost
/// server.
public enum StandardStreams {
    public static func write(_ data: Data, to descriptor: Int32) {
        data.withUnsafeBytes { bytes in
            guard var next = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let written = Glibc.write(descriptor, next, left)
                if written > 0 {
                    next += written
                    left -= written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return // the reader is gone (EPIPE), or the descriptor is closed
                }
            }
        }
    }

    public static func writeOutput(_ text: String) { write(Data(text.utf8), to: STDOUT_FILENO) }
    public static func writeError(_ text: String) { write(Data(text.utf8), to: STDERR_FILENO) }
}
