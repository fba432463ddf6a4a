import BrigantineCore
import CJavaScriptCore
import Foundation

/// Where console output goes: Node writes log/info to stdout and warn/error to stderr.
public enum ConsoleStream: Sendable {
    case stdout, stderr
}

/// One isolated JavaScript global context with its event loop, console and module system.
///
/// Threading: all JavaScript runs on the thread that calls `run(...)`/`evaluate(...)`;
/// other threads only post work to the `loop`. The class is `@unchecked Sendable` so that
/// such posted closures can carry it back to that thread.
public final class ScriptContext: @unchecked Sendable {
    public let runtime: JSRuntime
    let ref: JSGlobalContextRef
    public let loop = EventLoop()
    public let modules: ModuleSystem

    /// Receives every line the script writes through `console`.
    public var onOutput: (ConsoleStream, String) -> Void = { stream, text in
        StandardStreams.write(Data((text + "\n").utf8), to: stream == .stdout ? STDOUT_FILENO : STDERR_FILENO)
    }

    /// Rejections JSC reported as unhandled since the host last looked, oldest first.
    public private(set) var unhandledRejections: [ProtectedValue] = []
    /// Set by `process.exit(code)`.
    public private(set) var exitRequest: Int32?
    /// How long one entry into this context may run, in seconds, when it is not the
    /// runtime's limit (a project with a limit of its own, in a VM shared with others).
    public var entryTimeLimit: Double?
    /// Stops the script in the middle of an entry, from any thread.
    public let interruption = ScriptInterruption()

    /// The prelude's internal API (module loading, timer dispatch, inspect).
    private var internals: ProtectedValue!
    private var functionPrototype: JSValueRef?
    private var hostOperations: [Int: Task<Void, Never>] = [:]
    /// Each running operation's resolve and reject functions, kept here (on the script's
    /// thread) rather than in the operation's task: see `promise(for:)`.
    private var settlements: [Int: (resolve: ProtectedValue, reject: ProtectedValue)] = [:]
    private var nextOperationID = 0

    /// Creates a context with the host's globals (console, timers, process, require).
    ///
    /// - Parameter roots: directories that `require` may load files from.
    public init(runtime: JSRuntime, moduleRoots roots: [String] = [], builtins: [BuiltinModule] = []) throws {
        self.runtime = runtime
        ref = JSGlobalContextCreateInGroup(runtime.group, globalObjectClass)
        modules = ModuleSystem(roots: roots)
        for builtin in HostBuiltins.all + builtins {
            modules.register(builtin)
        }
        JSObjectSetPrivate(JSContextGetGlobalObject(ref), Unmanaged.passUnretained(self).toOpaque())
        try entry {
            functionPrototype = evaluateQuietly("Function.prototype")
            try installPrelude()
            try installRejectionTracker()
        }
    }

    deinit {
        for task in hostOperations.values { task.cancel() }
        internals = nil
        unhandledRejections = []
        detachRejectionTracker()
        JSObjectSetPrivate(JSContextGetGlobalObject(ref), nil)
        JSGlobalContextRelease(ref)
    }

    /// Lets the context be collected: see `JSRuntime.detachedRejectionCallback`.
    private func detachRejectionTracker() {
        JSGlobalContextSetUnhandledRejectionCallback(ref, runtime.detachedRejectionCallback, nil)
    }

    /// The ScriptContext whose global object is reachable from `ctx`.
    static func owning(_ ctx: JSContextRef) -> ScriptContext {
        let pointer = JSObjectGetPrivate(JSContextGetGlobalObject(ctx))!
        return Unmanaged<ScriptContext>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: Entering the VM

    /// Runs one entry into JavaScript and reports what it threw.
    ///
    /// An outermost entry runs the microtasks it queued before it returns, within the
    /// watchdog's limit (`JSRuntime.enter`); only it restarts the watchdog's clock, so a
    /// script cannot reset it by calling back into the host (require, say). A termination
    /// by the watchdog may surface as an ordinary return, so the runtime's flag is checked.
    func enter<Result>(_ body: (UnsafeMutablePointer<JSValueRef?>) -> Result) throws -> Result {
        var exception: JSValueRef?
        let result = try entry { body(&exception) }
        if let exception { throw JSException(exception, in: self) }
        return result
    }

    /// Runs `body`, which may make several calls into JSC, as one entry (see `enter`):
    /// what they queue runs once, at the end. Throws what ended the script.
    private func entry<Result>(_ body: () throws -> Result) throws -> Result {
        if let code = exitRequest { throw ScriptExited(code: code) }
        let result = try runtime.enter(ref, timeLimit: entryTimeLimit, interruption: interruption, body)
        if let termination = runtime.termination { throw ScriptTerminated(termination: termination) }
        if let code = exitRequest { throw ScriptExited(code: code) }
        return result
    }

    /// A call into JSC that may run the script's code (a getter, `toString`, `toJSON`, a
    /// proxy's trap): an entry of its own when the script is not already running, so what
    /// it queues runs within the limits too.
    private func runsScript<Result>(_ body: () -> Result) -> Result {
        runtime.enter(ref, timeLimit: entryTimeLimit, interruption: interruption, body)
    }

    /// Evaluates a script in the global scope.
    @discardableResult
    public func evaluate(_ source: String, sourceURL: String = "<eval>", line: Int = 1) throws -> JSValueRef {
        try withJSString(source) { script in
            try withJSString(sourceURL) { url in
                try enter { JSEvaluateScript(ref, script, nil, url, Int32(line), $0) }
            }
        }!
    }

    /// Calls `function` with `this` and arguments as one entry into the VM.
    @discardableResult
    public func call(_ function: JSValueRef, this: JSValueRef? = nil, _ arguments: [JSValueRef] = []) throws -> JSValueRef {
        guard let object = JSValueToObject(ref, function, nil), JSObjectIsFunction(ref, object) else {
            throw NativeError("not a function", kind: .typeError)
        }
        let thisObject = this.flatMap { isObject($0) ? JSValueToObject(ref, $0, nil) : nil }
        let arguments: [JSValueRef?] = arguments
        return try arguments.withUnsafeBufferPointer { buffer in
            try enter { JSObjectCallAsFunction(ref, object, thisObject, buffer.count, buffer.baseAddress, $0) }
        } ?? undefined
    }

    /// Calls the method `name` of `object`.
    @discardableResult
    public func call(method name: String, of object: JSValueRef, _ arguments: [JSValueRef] = []) throws -> JSValueRef {
        try entry { try call(property(object, name), this: object, arguments) }
    }

    /// Evaluates source made once for many contexts.
    @discardableResult
    public func evaluate(_ source: ScriptSource) throws -> JSValueRef {
        try withJSString(source.url) { url in
            try enter { JSEvaluateScript(ref, source.string, nil, url, 1, $0) }
        }!
    }

    private func evaluateQuietly(_ source: String) -> JSValueRef? {
        withJSString(source) { JSEvaluateScript(ref, $0, nil, nil, 1, nil) }
    }

    // MARK: The prelude

    private func installPrelude() throws {
        let factory = try evaluate(HostBuiltins.prelude.get())
        let api = try call(factory, [makeHostBinding(), JSContextGetGlobalObject(ref)])
        internals = ProtectedValue(api, in: self)
    }

    private func installRejectionTracker() throws {
        let tracker = makeFunction("unhandledRejection") { call in
            call.context.unhandledRejections.append(ProtectedValue(call[1], in: call.context))
            return nil
        }
        var exception: JSValueRef?
        JSGlobalContextSetUnhandledRejectionCallback(ref, tracker, &exception)
        if let exception { throw JSException(exception, in: self) }
    }

    /// Hands over and forgets the unhandled rejections recorded so far.
    public func takeUnhandledRejections() -> [ProtectedValue] {
        defer { unhandledRejections = [] }
        return unhandledRejections
    }

    func requestExit(_ code: Int32) {
        if exitRequest == nil { exitRequest = code }
    }

    // MARK: Modules

    /// Loads `path` as the main module (CommonJS, sloppy mode) and returns its exports.
    /// With `source`, that text is the module and `path` only names it (for `require`s
    /// relative to it and for error locations).
    @discardableResult
    public func loadMainModule(_ path: String, source: String? = nil) throws -> JSValueRef {
        var arguments: [() -> JSValueRef] = [{ self.makeString(path) }]
        if let source { arguments.append { self.makeString(source) } }
        return try withValues(arguments) { try call(method: "loadMain", of: internals.ref, $0) }
    }

    /// Returns the exports of a builtin module, loading it on first use.
    public func requireBuiltin(_ name: String) throws -> JSValueRef {
        let filename = modules.builtinFilename(named: name) ?? name
        return try call(method: "requireBuiltin", of: internals.ref, [makeString(filename)])
    }

    // MARK: Timers

    func dispatchTimer(_ id: Int) throws {
        try call(method: "dispatchTimer", of: internals.ref, [makeNumber(Double(id))])
    }

    /// Runs the event loop: timers, immediates and host operations, until it is idle,
    /// the deadline passes or the loop is stopped.
    public func runLoop(
        until deadline: ContinuousClock.Instant? = nil,
        afterTask: () throws -> Void = {},
        onError: (any Error) throws -> Void = { throw $0 }
    ) throws -> EventLoop.StopReason {
        try loop.run(until: deadline, fire: { try dispatchTimer($0) }, afterTask: afterTask, onError: onError)
    }

    /// Runs one round of what is ready, without sleeping: for a lane, which runs the loops
    /// of many contexts on one thread.
    public func runReady(
        afterTask: () throws -> Void = {},
        onError: (any Error) throws -> Void = { throw $0 }
    ) throws -> EventLoop.Progress {
        try loop.runReady(fire: { try dispatchTimer($0) }, afterTask: afterTask, onError: onError)
    }

    /// Writes out a line the script left unfinished with `process.stdout.write`.
    public func flushOutput() {
        _ = try? call(method: "flushOutput", of: internals.ref)
    }

    /// `process.exitCode` as the script left it.
    public func scriptExitCode() -> Int32? {
        guard let value = try? call(method: "exitCode", of: internals.ref), JSValueIsNumber(ref, value) else {
            return nil
        }
        let code = number(from: value)
        return code.isFinite ? Int32(clamping: Int(code)) : nil
    }

    // MARK: Host operations

    /// Starts `work` off the JavaScript thread and returns a promise that settles with its
    /// outcome on the loop thread. The loop stays busy until it has settled.
    ///
    /// The operation's task holds nothing of JavaScriptCore's, not even this context
    /// strongly: what a task holds is let go on whichever thread it ends on, and a JS value
    /// or context let go there calls into the VM from that thread (which JSC then counts
    /// among the VM's threads, to suspend and scan at every collection). Resolve and reject
    /// stay here and are let go on the script's thread.
    public func promise(for work: @escaping @Sendable () async throws -> HostValue) -> JSObjectRef {
        var resolve: JSObjectRef?
        var reject: JSObjectRef?
        let promise = JSObjectMakeDeferredPromise(ref, &resolve, &reject, nil)!
        nextOperationID += 1
        let id = nextOperationID
        settlements[id] = (ProtectedValue(resolve!, in: self), ProtectedValue(reject!, in: self))
        let token = loop.beginOperation()
        let loop = self.loop
        hostOperations[id] = Task.detached { [weak self] in
            let outcome: Result<HostValue, any Error>
            do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
            loop.complete(token) { [weak self] in try self?.settle(id, outcome) }
        }
        return promise
    }

    /// A promise already rejected with `error`, for an operation refused before it started.
    public func rejectedPromise(_ error: any Error) -> JSObjectRef {
        var reject: JSObjectRef?
        let promise = JSObjectMakeDeferredPromise(ref, nil, &reject, nil)!
        _ = try? call(reject!, [makeError(error)])
        return promise
    }

    /// Settles operation `id`'s promise (on the script's thread).
    private func settle(_ id: Int, _ outcome: Result<HostValue, any Error>) throws {
        hostOperations[id] = nil
        guard let settlement = settlements.removeValue(forKey: id) else { return }
        switch outcome {
        case .success(let value):
            _ = try call(settlement.resolve.ref, [makeValue(value)])
        case .failure(let error):
            _ = try call(settlement.reject.ref, [makeError(error)])
        }
    }

    /// Blocks the calling thread until `tasks` (host operations a context abandoned: a
    /// cancelled job kills its processes) are done or `grace` seconds have passed.
    public static func wait(for tasks: [Task<Void, Never>], grace: Double) {
        guard !tasks.isEmpty else { return }
        let finished = DispatchSemaphore(value: 0)
        for task in tasks {
            Task.detached {
                await task.value
                finished.signal()
            }
        }
        let deadline = DispatchTime.now() + grace
        for _ in tasks where finished.wait(timeout: deadline) == .timedOut { break }
    }

    /// Cancels host operations still running and returns them, for the caller to wait on
    /// where waiting blocks nobody. Their promises never settle.
    public func abandonHostOperations() -> [Task<Void, Never>] {
        let tasks = Array(hostOperations.values)
        for task in tasks { task.cancel() }
        return tasks
    }

    /// Ends this context's use: pending work is dropped (releasing what it holds) and
    /// operations finishing later are ignored.
    public func close() {
        _ = abandonHostOperations()
        loop.close()
        hostOperations = [:]
        settlements = [:]
        unhandledRejections = []
    }

    // MARK: Making values

    public var undefined: JSValueRef { JSValueMakeUndefined(ref) }
    public var null: JSValueRef { JSValueMakeNull(ref) }
    public var globalObject: JSObjectRef { JSContextGetGlobalObject(ref) }

    public func makeString(_ text: String) -> JSValueRef {
        withJSString(text) { JSValueMakeString(ref, $0) }
    }

    public func makeNumber(_ number: Double) -> JSValueRef { JSValueMakeNumber(ref, number) }
    public func makeBool(_ value: Bool) -> JSValueRef { JSValueMakeBoolean(ref, value) }

    /// Makes several values, each kept alive while the next ones are made, and passes them
    /// to `body`. JSC finds the values Swift holds only on the native stack: values waiting
    /// in a Swift array are not found, so making the next one could collect them, and a
    /// collected value handed to a script later crashes the collector (seen under load).
    public func withValues<Result>(_ makers: [() -> JSValueRef], _ body: ([JSValueRef]) throws -> Result) rethrows -> Result {
        var kept: [ProtectedValue] = []
        kept.reserveCapacity(makers.count)
        for make in makers { kept.append(ProtectedValue(make(), in: self)) }
        defer { withExtendedLifetime(kept) {} }
        return try body(kept.map(\.ref))
    }

    /// Parses JSON text; malformed JSON is an error (JSC itself just returns NULL).
    public func parseJSON(_ text: String) throws -> JSValueRef {
        guard let value = withJSString(text, { JSValueMakeFromJSONString(ref, $0) }) else {
            throw NativeError("invalid JSON", kind: .error)
        }
        return value
    }

    public func makeObject() -> JSObjectRef { JSObjectMake(ref, nil, nil) }

    /// A JS function backed by a Swift closure.
    public func makeFunction(_ name: String, _ body: @escaping NativeFunctionBody) -> JSObjectRef {
        let box = Unmanaged.passRetained(NativeFunctionBox(body)).toOpaque()
        let function = JSObjectMake(ref, nativeFunctionClass, box)!
        if let functionPrototype { JSObjectSetPrototype(ref, function, functionPrototype) }
        setProperty(function, "name", makeString(name), attributes: JSPropertyAttributes(kJSPropertyAttributeDontEnum))
        return function
    }

    /// An object whose properties are the given native functions.
    public func makeNativeObject(_ functions: [String: NativeFunctionBody]) -> JSObjectRef {
        let object = makeObject()
        for (name, body) in functions.sorted(by: { $0.key < $1.key }) {
            setProperty(object, name, makeFunction(name, body))
        }
        return object
    }

    public func makeValue(_ value: HostValue) throws -> JSValueRef {
        switch value {
        case .undefined: return undefined
        case .null: return null
        case .bool(let flag): return makeBool(flag)
        case .number(let number): return makeNumber(number)
        case .string(let text): return makeString(text)
        case .json(let text): return try parseJSON(text)
        }
    }

    /// `new Error(message)` (or TypeError/RangeError), with `code` when given.
    public func makeError(_ error: NativeError) -> JSValueRef {
        let constructor = property(globalObject, error.kind.rawValue)
        let created = (try? construct(constructor, [makeString(error.message)])) ?? makeString(error.message)
        if let code = error.code, let object = JSValueToObject(ref, created, nil) {
            setProperty(object, "code", makeString(code))
        }
        return created
    }

    func makeError(_ error: any Error) -> JSValueRef {
        switch error {
        case let thrown as JSException: return thrown.thrown.ref
        case let native as NativeError: return makeError(native)
        default: return makeError(NativeError(String(describing: error)))
        }
    }

    func construct(_ constructor: JSValueRef, _ arguments: [JSValueRef]) throws -> JSValueRef {
        guard let object = JSValueToObject(ref, constructor, nil) else {
            throw NativeError("not a constructor", kind: .typeError)
        }
        var exception: JSValueRef?
        let arguments: [JSValueRef?] = arguments
        let made = arguments.withUnsafeBufferPointer { buffer in
            runsScript { JSObjectCallAsConstructor(ref, object, buffer.count, buffer.baseAddress, &exception) }
        }
        if let exception { throw JSException(exception, in: self) }
        return made!
    }

    // MARK: Reading values

    public func isObject(_ value: JSValueRef) -> Bool { JSValueIsObject(ref, value) }
    public func isUndefined(_ value: JSValueRef) -> Bool { JSValueIsUndefined(ref, value) }
    public func isNull(_ value: JSValueRef) -> Bool { JSValueIsNull(ref, value) }
    public func isString(_ value: JSValueRef) -> Bool { JSValueIsString(ref, value) }

    /// `String(value)`, never throwing (a throwing `toString` gives a placeholder).
    public func string(from value: JSValueRef) -> String {
        var exception: JSValueRef?
        guard let string = runsScript({ JSValueToStringCopy(ref, value, &exception) }), exception == nil else {
            return "[value that cannot be converted to a string]"
        }
        defer { JSStringRelease(string) }
        return String(jsString: string)
    }

    public func number(from value: JSValueRef) -> Double {
        runsScript { JSValueToNumber(ref, value, nil) }
    }

    /// JSON text of `value` (nil for undefined, functions and values JSON cannot express).
    public func jsonString(_ value: JSValueRef) throws -> String? {
        var exception: JSValueRef?
        let json = runsScript { JSValueCreateJSONString(ref, value, 0, &exception) }
        if let exception { throw JSException(exception, in: self) }
        guard let json else { return nil }
        defer { JSStringRelease(json) }
        return String(jsString: json)
    }

    public func property(_ object: JSValueRef, _ name: String) -> JSValueRef {
        guard let target = JSValueToObject(ref, object, nil) else { return undefined }
        return withJSString(name) { name in runsScript { JSObjectGetProperty(ref, target, name, nil) } } ?? undefined
    }

    public func setProperty(_ object: JSObjectRef, _ name: String, _ value: JSValueRef,
                            attributes: JSPropertyAttributes = JSPropertyAttributes(kJSPropertyAttributeNone)) {
        withJSString(name) { name in runsScript { JSObjectSetProperty(ref, object, name, value, attributes, nil) } }
    }

    /// A string property, or nil when it is missing or not a string.
    public func stringProperty(_ object: JSValueRef, _ name: String) -> String? {
        let value = property(object, name)
        return isString(value) ? string(from: value) : nil
    }

    /// A number property, or nil when it is missing or not a number.
    public func numberProperty(_ object: JSValueRef, _ name: String) -> Double? {
        let value = property(object, name)
        return JSValueIsNumber(ref, value) ? number(from: value) : nil
    }

    /// JavaScript's truthiness of `value`.
    public func isTruthy(_ value: JSValueRef) -> Bool { JSValueToBoolean(ref, value) }

    /// The elements of an array, as strings.
    public func arrayStrings(_ array: JSValueRef) -> [String] {
        let count = Int(numberProperty(array, "length") ?? 0)
        return (0..<count).map { string(from: property(array, String($0))) }
    }

    /// The object's own enumerable string keys, in JavaScript's order.
    public func ownKeys(_ object: JSValueRef) -> [String] {
        guard let target = JSValueToObject(ref, object, nil) else { return [] }
        let names = runsScript { JSObjectCopyPropertyNames(ref, target) }
        defer { JSPropertyNameArrayRelease(names) }
        return (0..<JSPropertyNameArrayGetCount(names)).map {
            String(jsString: JSPropertyNameArrayGetNameAtIndex(names, $0))
        }
    }

    /// A one-line description of any thrown or rejected value, with its location.
    public func describe(_ value: JSValueRef) -> String {
        JSException(value, in: self).description
    }

    /// Node's `util.inspect(value)`: how console.log shows a value.
    public func inspect(_ value: JSValueRef) -> String {
        guard let internals else { return string(from: value) }
        let inspect = property(internals.ref, "inspect")
        guard let function = JSValueToObject(ref, inspect, nil) else { return string(from: value) }
        var exception: JSValueRef?
        let arguments: [JSValueRef?] = [value]
        let result = arguments.withUnsafeBufferPointer { buffer in
            runsScript { JSObjectCallAsFunction(ref, function, nil, 1, buffer.baseAddress, &exception) }
        }
        guard exception == nil, let result else { return string(from: value) }
        return string(from: result)
    }
}

/// A value produced off the JS thread, turned into a JS value on it.
public enum HostValue: Sendable, Equatable {
    case undefined
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    /// JSON text, parsed on arrival.
    case json(String)
}

// The global object's class exists only so the global can carry a private pointer
// back to its ScriptContext (JSC refuses private data on class-less objects).
nonisolated(unsafe) let globalObjectClass: JSClassRef = {
    var definition = kJSClassDefinitionEmpty
    definition.className = UnsafePointer(strdup("global"))
    return JSClassCreate(&definition)
}()
