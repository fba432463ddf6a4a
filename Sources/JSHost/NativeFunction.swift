import CJavaScriptCore
import Foundation

/// What a native function receives when JavaScript calls it.
public struct NativeCall {
    public let context: ScriptContext
    public let this: JSObjectRef?
    public let arguments: [JSValueRef]

    /// The argument at `index`, or `undefined` when the caller passed fewer.
    public subscript(index: Int) -> JSValueRef {
        index < arguments.count ? arguments[index] : JSValueMakeUndefined(context.ref)
    }

    public func string(_ index: Int) -> String { context.string(from: self[index]) }
    public func number(_ index: Int) -> Double { context.number(from: self[index]) }
    public func bool(_ index: Int) -> Bool { JSValueToBoolean(context.ref, self[index]) }
}

/// The Swift side of a JS function; returning nil means `undefined`.
public typealias NativeFunctionBody = (NativeCall) throws -> JSValueRef?

/// An error a native function reports to its JavaScript caller as `new <name>(message)`.
public struct NativeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case error = "Error", typeError = "TypeError", rangeError = "RangeError" }
    public let kind: Kind
    public let message: String
    /// Node-style `code` property (for example MODULE_NOT_FOUND), when there is one.
    public let code: String?

    public init(_ message: String, kind: Kind = .error, code: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

final class NativeFunctionBox {
    let body: NativeFunctionBody
    init(_ body: @escaping NativeFunctionBody) { self.body = body }
}

// Native functions are instances of one JSClass whose private slot holds the Swift
// closure: the C callback has no user-data argument of its own. Their prototype is
// set to Function.prototype so that `call`, `apply` and `bind` work on them.
nonisolated(unsafe) let nativeFunctionClass: JSClassRef = {
    var definition = kJSClassDefinitionEmpty
    definition.className = UnsafePointer(strdup("NativeFunction"))
    definition.callAsFunction = nativeFunctionCall
    definition.finalize = nativeFunctionFinalize
    return JSClassCreate(&definition)
}()

private func nativeFunctionFinalize(_ object: JSObjectRef?) {
    guard let pointer = JSObjectGetPrivate(object) else { return }
    Unmanaged<NativeFunctionBox>.fromOpaque(pointer).release()
}

private func nativeFunctionCall(
    _ ctx: JSContextRef?, _ function: JSObjectRef?, _ this: JSObjectRef?,
    _ argumentCount: Int, _ arguments: UnsafePointer<JSValueRef?>?,
    _ exception: UnsafeMutablePointer<JSValueRef?>?
) -> JSValueRef? {
    guard let ctx, let pointer = JSObjectGetPrivate(function) else { return nil }
    let box = Unmanaged<NativeFunctionBox>.fromOpaque(pointer).takeUnretainedValue()
    let context = ScriptContext.owning(ctx)
    var values: [JSValueRef] = []
    values.reserveCapacity(argumentCount)
    for index in 0..<argumentCount {
        values.append(arguments?[index] ?? JSValueMakeUndefined(ctx))
    }
    do {
        return try context.runtime.nativeCall { try box.body(NativeCall(context: context, this: this, arguments: values)) }
            ?? JSValueMakeUndefined(ctx)
    } catch let thrown as JSException {
        exception?.pointee = thrown.thrown.ref
    } catch let error as NativeError {
        exception?.pointee = context.makeError(error)
    } catch {
        exception?.pointee = context.makeError(NativeError(String(describing: error)))
    }
    return nil
}
