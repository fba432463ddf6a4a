// The public JavaScriptCore C API, plus the few functions that
// libjavascriptcoregtk exports without installing a header for them.
#ifndef BRIGANTINE_CJAVASCRIPTCORE_SHIM_H
#define BRIGANTINE_CJAVASCRIPTCORE_SHIM_H

#include <JavaScriptCore/JavaScript.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Called by the watchdog when an entry into the VM has run longer than the limit.
// Return true to terminate the running script; return false to let it go on
// (the limit must then be set again, or the watchdog never fires again).
typedef bool (*JSShouldTerminateCallback)(JSContextRef ctx, void *context);

void JSContextGroupSetExecutionTimeLimit(JSContextGroupRef group, double limitInSeconds,
                                         JSShouldTerminateCallback callback, void *context);
void JSContextGroupClearExecutionTimeLimit(JSContextGroupRef group);

// `function` is called as (promise, reason) for each rejection that has no handler
// when the microtask queue runs dry.
void JSGlobalContextSetUnhandledRejectionCallback(JSGlobalContextRef ctx, JSObjectRef function,
                                                  JSValueRef *exception);

// Takes and lets go of the VM's API lock (recursive, per thread). JSC runs the microtask
// queue when the outermost holder lets go.
void JSLock(JSContextRef ctx);
void JSUnlock(JSContextRef ctx);

JSObjectRef JSGetMemoryUsageStatistics(JSContextRef ctx);
void JSSynchronousGarbageCollectForDebugging(JSContextRef ctx);

// From the GLib API (jsc/jsc-options.h): sets one of JSC's process-wide options by name.
// Must run before the first VM is created. Returns false for an unknown option.
int jsc_options_set_boolean(const char *option, int value);
int jsc_options_get_boolean(const char *option, int *value);
int jsc_options_set_int(const char *option, int value);
int jsc_options_get_int(const char *option, int *value);

#ifdef __cplusplus
}
#endif

#endif
