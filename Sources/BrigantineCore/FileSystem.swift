import Foundation

/// What went wrong with a file operation, as the system says it ("No space left on device"),
/// rather than Foundation's `Error Domain=NSCocoaErrorDomain Code=640 … UserInfo={…}`.
public func fileErrorReason(_ error: any Error) -> String {
    let error = error as NSError
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? any Error,
       case let posix = underlying as NSError, posix.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(posix.code)))
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    return error.localizedDescription
}

/// `mkdir -p`: the directory and any missing parents. Foundation's `createDirectory` says
/// only "NSCocoaErrorDomain error 512" when it fails here; this keeps the system's reason.
public func makeDirectories(_ directory: URL) throws {
    let path = directory.path
    func make() -> Int32? {
        if mkdir(path, 0o755) == 0 { return nil }
        let failure = errno
        var isDirectory: ObjCBool = false
        if failure == EEXIST, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return nil }
        return failure
    }
    var failure = make()
    if failure == ENOENT, directory.pathComponents.count > 1 {
        try makeDirectories(directory.deletingLastPathComponent())
        failure = make()
    }
    if let failure { throw NSError(domain: NSPOSIXErrorDomain, code: Int(failure), userInfo: [NSFilePathErrorKey: path]) }
}

/// Why a file given to `readRegularFile` was not read; `reason` is what the system said
/// ("No such file or directory", "Permission denied") or what the file is instead.
public struct FileReadError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// The bytes of a regular file, and where it really is.
public struct RegularFile: Sendable {
    public let data: Data
    /// The file's path with every symbolic link on the way followed: the file that was read,
    /// which is what a check of where it lies has to look at.
    public let realPath: String
}

/// Reads `path` if it is a regular file of at most `limit` bytes.
///
/// A FIFO, a device such as /dev/zero or a file larger than any sensible script or
/// configuration would otherwise block the reader or fill its memory; here they are
/// errors. The checks and the read go through one descriptor, so a file swapped in
/// between them cannot slip past.
public func readRegularFile(_ path: String, atMost limit: Int) throws(FileReadError) -> RegularFile {
    func failure(_ reason: String) -> FileReadError { FileReadError(path: path, reason: reason) }
    func systemReason(_ code: Int32) -> String { String(cString: strerror(code)) }
    // O_NONBLOCK: opening a FIFO for reading waits for a writer otherwise.
    let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure(systemReason(errno)) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw failure(systemReason(errno)) }
    switch status.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw failure("is a directory, not a file")
    case S_IFIFO: throw failure("is a FIFO, not a regular file")
    case S_IFCHR, S_IFBLK: throw failure("is a device, not a regular file")
    case S_IFSOCK: throw failure("is a socket, not a regular file")
    default: throw failure("is not a regular file")
    }
    guard Int(status.st_size) <= limit else {
        throw failure("is \(status.st_size) bytes, more than the \(limit) read from such a file")
    }
    var data = Data(count: Int(status.st_size))
    var filled = 0
    // Read to the end even if the file grew since fstat, up to the limit.
    while true {
        if filled == data.count {
            guard data.count < limit else { break }
            data.count = min(limit, max(data.count * 2, 4096))
        }
        let count = data.withUnsafeMutableBytes { buffer in
            read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
        }
        if count < 0, errno == EINTR { continue }
        guard count >= 0 else { throw failure(systemReason(errno)) }
        if count == 0 { break }
        filled += count
    }
    if filled == limit {
        var probe: UInt8 = 0
        if read(descriptor, &probe, 1) > 0 { throw failure("grew past the \(limit) bytes read from such a file") }
    }
    data.count = filled
    return RegularFile(data: data, realPath: openedPath(descriptor) ?? realPath(path) ?? path)
}

/// The path of what `descriptor` has open, from /proc (exact even if links changed since).
private func openedPath(_ descriptor: Int32) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `realpath(3)`: `path` with every symbolic link followed, if it exists.
public func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// Copies the tree at `source` to `destination` (which must not exist): directories,
/// regular files (with their permissions) and symbolic links, as links. A FIFO, socket or
/// device in the tree has no content to copy; it is left out and its path (relative to
/// `source`) returned. (Foundation's `copyItem` opens a FIFO to read it, and waited there
/// for a writer for good.)
public func copyTree(from source: URL, to destination: URL) throws -> [String] {
    let files = FileManager.default
    try files.createDirectory(at: destination, withIntermediateDirectories: false)
    guard let walk = files.enumerator(atPath: source.path) else {
        throw NSError(domain: NSPOSIXErrorDomain, code: Int(ENOENT), userInfo: [NSFilePathErrorKey: source.path])
    }
    var leftOut: [String] = []
    while let relative = walk.nextObject() as? String {
        let from = source.appendingPathComponent(relative).path
        let to = destination.appendingPathComponent(relative).path
        var status = stat()
        guard lstat(from, &status) == 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: from])
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR:
            try files.createDirectory(atPath: to, withIntermediateDirectories: false,
                                      attributes: [.posixPermissions: Int(status.st_mode & 0o7777)])
        case S_IFREG:
            try files.copyItem(atPath: from, toPath: to)
        case S_IFLNK:
            try files.createSymbolicLink(atPath: to, withDestinationPath: files.destinationOfSymbolicLink(atPath: from))
        default:
            leftOut.append(relative)
        }
    }
    return leftOut
}
