// The host prelude, evaluated once in every fresh context.
//
// It evaluates to a function that receives the native binding (`host`) and the global
// object, installs what a Node script expects to find (console, timers, process,
// CommonJS modules) and returns the host's internal API. `host` stays inside this
// closure: scripts can reach the host only through what is installed here.
(function installPrelude(host, global) {
  'use strict';

  // ---------------------------------------------------------------- modules

  class Module {
    constructor(filename, parent) {
      this.id = filename;
      this.filename = filename;
      this.loaded = false;
      this.exports = {};
      this.parent = parent;
      this.children = [];
      this.paths = [];
    }
  }

  const builtinModules = new Map(); // virtual filename -> Module
  const moduleCache = Object.create(null); // file path -> Module; exposed as require.cache
  let mainModule;

  function dirname(filename) {
    const slash = filename.lastIndexOf('/');
    return slash <= 0 ? (slash === 0 ? '/' : '.') : filename.slice(0, slash);
  }

  function link(parent, child) {
    if (parent && !parent.children.includes(child)) parent.children.push(child);
  }

  function makeRequire(module, isBuiltin) {
    function require(request) {
      if (typeof request !== 'string' || request === '') {
        throw new TypeError(`require() needs a non-empty string, got ${inspect(request)}`);
      }
      return loadModule(request, module, isBuiltin);
    }
    require.resolve = function resolve(request) {
      const where = host.resolve(String(request), module.filename, isBuiltin);
      return where.file !== undefined ? where.file : String(request);
    };
    require.cache = moduleCache;
    require.main = mainModule;
    return require;
  }

  // `body` is the module compiled by the host, a function of Node's module parameters.
  function runModule(module, body, isBuiltin, binding) {
    body.call(module.exports, module.exports, makeRequire(module, isBuiltin), module,
      module.filename, dirname(module.filename), binding);
  }

  function loadBuiltin(filename) {
    let module = builtinModules.get(filename);
    if (module) return module;
    module = new Module(filename, undefined);
    builtinModules.set(filename, module);
    let loaded = false;
    try {
      runModule(module, host.compileBuiltin(filename), true, host.builtinBinding(filename));
      loaded = true;
    } finally {
      if (!loaded) builtinModules.delete(filename);
    }
    module.loaded = true;
    return module;
  }

  function loadFile(filename, parent) {
    const cached = moduleCache[filename];
    if (cached) {
      link(parent, cached);
      return cached;
    }
    const module = new Module(filename, parent);
    moduleCache[filename] = module;
    link(parent, module);
    let loaded = false;
    try {
      if (filename.endsWith('.json')) {
        const source = host.readSource(filename);
        try {
          module.exports = JSON.parse(source.charCodeAt(0) === 0xfeff ? source.slice(1) : source);
        } catch (err) {
          err.message = `${filename}: ${err.message}`;
          throw err;
        }
      } else {
        runModule(module, host.compileFile(filename), false);
      }
      loaded = true;
    } finally {
      if (!loaded) delete moduleCache[filename];
    }
    module.loaded = true;
    return module;
  }

  function loadModule(request, parent, parentIsBuiltin) {
    const where = host.resolve(request, parent.filename, parentIsBuiltin);
    if (where.builtin !== undefined) return loadBuiltin(where.builtin).exports;
    return loadFile(where.file, parent).exports;
  }

  function loadMain(filename, source) {
    mainModule = new Module(filename, null);
    mainModule.id = '.';
    process.mainModule = mainModule;
    process.argv[1] = filename;
    moduleCache[filename] = mainModule;
    let loaded = false;
    try {
      runModule(mainModule, host.compileFile(filename, source, source !== undefined), false);
      loaded = true;
    } finally {
      if (!loaded) delete moduleCache[filename];
    }
    mainModule.loaded = true;
    return mainModule.exports;
  }

  // util loads on first use: a build whose console output is plain strings never needs it.
  let utilExports;
  function util() {
    if (utilExports === undefined) utilExports = loadBuiltin('node/util.js').exports;
    return utilExports;
  }
  function inspect(value, options) { return util().inspect(value, options); }
  /** `util.format(...args)`; plain strings without a format directive are only joined. */
  function format(args) {
    if (args.every((arg) => typeof arg === 'string') && !(args.length > 0 && args[0].includes('%'))) {
      return args.join(' ');
    }
    return util().format.apply(null, args);
  }
  const EventEmitter = loadBuiltin('node/events.js').exports;

  // ---------------------------------------------------------------- output

  // Output is line based; partial lines written with process.stdout.write wait here.
  const pending = { stdout: '', stderr: '' };

  function writeText(stream, text) {
    const buffered = pending[stream] + text;
    const lastBreak = buffered.lastIndexOf('\n');
    if (lastBreak < 0) {
      pending[stream] = buffered;
      return;
    }
    pending[stream] = buffered.slice(lastBreak + 1);
    host.write(stream === 'stderr', buffered.slice(0, lastBreak));
  }

  function flushOutput() {
    for (const stream of ['stdout', 'stderr']) {
      if (pending[stream] !== '') {
        host.write(stream === 'stderr', pending[stream]);
        pending[stream] = '';
      }
    }
  }

  // ---------------------------------------------------------------- console

  let groupIndent = '';
  const counters = new Map();
  const timeLabels = new Map();

  function print(stream, args) {
    let text = format(args);
    if (groupIndent) text = groupIndent + text.split('\n').join('\n' + groupIndent);
    writeText(stream, text + '\n');
  }

  const console = {
    log(...args) { print('stdout', args); },
    info(...args) { print('stdout', args); },
    debug(...args) { print('stdout', args); },
    warn(...args) { print('stderr', args); },
    error(...args) { print('stderr', args); },
    trace(...args) {
      const err = new Error(format(args));
      err.name = 'Trace';
      print('stderr', [inspect(err)]);
    },
    dir(value, options) { print('stdout', [inspect(value, options)]); },
    table(value) { print('stdout', [value]); },
    assert(condition, ...args) {
      if (!condition) print('stderr', args.length ? ['Assertion failed:', ...args] : ['Assertion failed']);
    },
    count(label = 'default') {
      const count = (counters.get(String(label)) || 0) + 1;
      counters.set(String(label), count);
      print('stdout', [`${label}: ${count}`]);
    },
    countReset(label = 'default') { counters.delete(String(label)); },
    time(label = 'default') { timeLabels.set(String(label), host.now()); },
    timeLog(label = 'default', ...args) { reportTime(label, args, false); },
    timeEnd(label = 'default') { reportTime(label, [], true); },
    group(...args) {
      if (args.length) print('stdout', args);
      groupIndent += '  ';
    },
    groupEnd() { groupIndent = groupIndent.slice(2); },
  };
  console.groupCollapsed = console.group;

  function reportTime(label, args, end) {
    const started = timeLabels.get(String(label));
    if (started === undefined) {
      print('stderr', [`Warning: No such label '${label}' for console.time${end ? 'End' : 'Log'}()`]);
      return;
    }
    if (end) timeLabels.delete(String(label));
    const ms = host.now() - started;
    print('stdout', [`${label}: ${ms < 1000 ? ms.toFixed(3) + 'ms' : (ms / 1000).toFixed(3) + 's'}`, ...args]);
  }

  // ---------------------------------------------------------------- timers

  const TIMEOUT_MAX = 2147483647;
  const timers = new Map(); // id -> Timeout | Immediate
  let nextTimerId = 1;

  function checkCallback(callback) {
    if (typeof callback !== 'function') {
      throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(callback)}`);
    }
  }

  class Timeout {
    constructor(callback, delay, args, repeat) {
      delay = Number(delay);
      if (!(delay >= 1 && delay <= TIMEOUT_MAX)) delay = 1;
      this._id = nextTimerId++;
      this._onTimeout = callback;
      this._idleTimeout = delay;
      this._repeat = repeat ? delay : null;
      this._args = args;
      this._referenced = true;
    }
    ref() {
      this._referenced = true;
      host.timerRef(this._id, true);
      return this;
    }
    unref() {
      this._referenced = false;
      host.timerRef(this._id, false);
      return this;
    }
    hasRef() { return this._referenced; }
    refresh() {
      if (timers.get(this._id) === this) host.timerSet(this._id, this._idleTimeout, this._referenced);
      return this;
    }
    close() {
      clearTimeout(this);
      return this;
    }
    [Symbol.toPrimitive]() { return this._id; }
  }

  class Immediate {
    constructor(callback, args) {
      this._id = nextTimerId++;
      this._onImmediate = callback;
      this._args = args;
    }
    ref() { return this; }
    unref() { return this; }
    hasRef() { return true; }
  }

  function timerFor(handle) {
    if (handle === null || handle === undefined) return undefined;
    const id = typeof handle === 'object' ? handle._id : Number(handle);
    return timers.get(id);
  }

  function setTimeout(callback, delay, ...args) {
    checkCallback(callback);
    const timer = new Timeout(callback, delay, args, false);
    timers.set(timer._id, timer);
    host.timerSet(timer._id, timer._idleTimeout, true);
    return timer;
  }

  function setInterval(callback, delay, ...args) {
    checkCallback(callback);
    const timer = new Timeout(callback, delay, args, true);
    timers.set(timer._id, timer);
    host.timerSet(timer._id, timer._idleTimeout, true);
    return timer;
  }

  function clearTimeout(handle) {
    const timer = timerFor(handle);
    if (!(timer instanceof Timeout)) return;
    timers.delete(timer._id);
    host.timerClear(timer._id);
  }

  function setImmediate(callback, ...args) {
    checkCallback(callback);
    const immediate = new Immediate(callback, args);
    timers.set(immediate._id, immediate);
    host.immediate(immediate._id);
    return immediate;
  }

  function clearImmediate(handle) {
    const immediate = timerFor(handle);
    if (!(immediate instanceof Immediate)) return;
    timers.delete(immediate._id);
    host.immediateClear(immediate._id);
  }

  function dispatchTimer(id) {
    const timer = timers.get(id);
    if (timer === undefined) return;
    if (timer instanceof Immediate) {
      timers.delete(id);
      timer._onImmediate.apply(undefined, timer._args);
      return;
    }
    // An interval is re-armed before its callback runs, so the callback may clear it.
    if (timer._repeat !== null) host.timerSet(id, timer._repeat, timer._referenced);
    else timers.delete(id);
    timer._onTimeout.apply(timer, timer._args);
  }

  function queueMicrotask(callback) {
    checkCallback(callback);
    Promise.resolve().then(() => callback());
  }

  // ---------------------------------------------------------------- process

  // Scripts get a process object without the host's environment, arguments or exit:
  // `process.env` is empty, and `exit` ends the build, not the host.
  const process = new EventEmitter();
  Object.assign(process, {
    title: 'brigantine',
    // The version of Node that Brigade's worker ran scripts with.
    version: 'v12.22.7',
    versions: { node: '12.22.7', brigantine: '1' },
    platform: 'linux',
    arch: 'x64',
    pid: 1,
    argv: ['brigantine', ''],
    execArgv: [],
    env: {},
    exitCode: undefined,
    mainModule: undefined,
    cwd() { return '/'; },
    exit(code) {
      if (code !== undefined) process.exitCode = code;
      host.exit(Number(process.exitCode) || 0);
      throw new Error('process.exit() ends the build');
    },
    nextTick(callback, ...args) {
      checkCallback(callback);
      Promise.resolve().then(() => callback(...args));
    },
    hrtime(previous) {
      const ms = host.now();
      let seconds = Math.floor(ms / 1000);
      let nanos = Math.floor((ms % 1000) * 1e6);
      if (previous) {
        seconds -= previous[0];
        nanos -= previous[1];
        if (nanos < 0) {
          seconds -= 1;
          nanos += 1e9;
        }
      }
      return [seconds, nanos];
    },
    uptime() { return host.now() / 1000; },
    emitWarning(warning) { print('stderr', [`(brigantine) Warning: ${warning instanceof Error ? warning.message : warning}`]); },
    stdout: { write(text) { writeText('stdout', String(text)); return true; }, isTTY: false },
    stderr: { write(text) { writeText('stderr', String(text)); return true; }, isTTY: false },
  });
  process.hrtime.bigint = () => BigInt(Math.floor(host.now() * 1e6));

  // ---------------------------------------------------------------- globals

  const globals = {
    global, console, process, setTimeout, setInterval, clearTimeout, clearInterval: clearTimeout,
    setImmediate, clearImmediate, queueMicrotask,
  };
  for (const name of Object.keys(globals)) {
    Object.defineProperty(global, name, { value: globals[name], writable: true, configurable: true, enumerable: false });
  }
  // Buffer and the text codecs load on first use: most builds never touch them.
  for (const name of ['Buffer', 'TextEncoder', 'TextDecoder', 'atob', 'btoa']) {
    Object.defineProperty(global, name, {
      configurable: true,
      enumerable: false,
      get() {
        const value = loadBuiltin('node/buffer.js').exports[name];
        Object.defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
        return value;
      },
      set(value) {
        Object.defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
      },
    });
  }
  if (typeof Error.captureStackTrace !== 'function') {
    // V8's API, used by many npm packages; JSC fills in `stack` by itself.
    Error.captureStackTrace = function captureStackTrace(target) {
      if (target !== null && typeof target === 'object' && !('stack' in target)) {
        target.stack = new Error().stack;
      }
    };
  }

  return {
    loadMain,
    requireBuiltin(filename) { return loadBuiltin(filename).exports; },
    dispatchTimer,
    inspect,
    flushOutput,
    exitCode() { return process.exitCode; },
  };
})
