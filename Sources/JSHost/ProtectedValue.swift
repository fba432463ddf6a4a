import CJavaScriptCore

/// A JS value kept alive while Swift holds it.
///
/// JSC only scans the native stack for roots, so any value stored in Swift heap memory
/// must be protected. The value keeps its context alive, so it is always unprotected
/// against a live VM.
public final class ProtectedValue: @unchecked Sendable {
    public let context: ScriptContext
    public let ref: JSValueRef

    public init(_ ref: JSValueRef, in context: ScriptContext) {
        self.context = context
        self.ref = ref
        JSValueProtect(context.ref, ref)
    }

    deinit {
        JSValueUnprotect(context.ref, ref)
    }

    /// The value as an object, or nil when it is a primitive.
    public var object: JSObjectRef? {
        context.isObject(ref) ? JSValueToObject(context.ref, ref, nil) : nil
    }
}
