/// A server a test starts for itself (a database, an engine, a registry), which must be
/// stopped however the test ends.
public protocol TestServer {
    func stop() async
}

extension TestServer {
    /// Runs `body` with this server, then stops it, whether `body` returned or threw.
    public func use<T>(_ body: (Self) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}
