import CJavaScriptCore

/// A JS value kept alive while Swift holds it.
///
/// JSC only scans the native stack for roots, so any value stored in Swift heap memory
/// must be protected. The value retains its JSC context (not the `ScriptContext`, which
/// often holds protected values itself: that would be a cycle, and contexts would never
/// be freed), so it is always unprotected against a live VM.
public final class ProtectedValue: @unchecked Sendable {
    private let contextRef: JSGlobalContextRef
    public let ref: JSValueRef

    public init(_ ref: JSValueRef, in context: ScriptContext) {
        contextRef = JSGlobalContextRetain(context.ref)
        self.ref = ref
        JSValueProtect(contextRef, ref)
    }

    deinit {
        JSValueUnprotect(contextRef, ref)
        JSGlobalContextRelease(contextRef)
    }

    /// The value as an object, or nil when it is a primitive.
    public var object: JSObjectRef? {
        JSValueIsObject(contextRef, ref) ? JSValueToObject(contextRef, ref, nil) : nil
    }
}
