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
