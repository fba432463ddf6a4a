'use strict';
// Node's EventEmitter semantics, which Brigade's `events` registry inherits:
// listeners run synchronously in registration order, a throwing listener aborts the
// emit and the exception reaches the emitter's caller, listeners added during an emit
// wait for the next one, and emitting 'error' with no listener throws.

// util loads only when a message needs it.
function inspect(value) { return require('util').inspect(value); }

function checkListener(listener) {
  if (typeof listener !== 'function') {
    throw new TypeError(`The "listener" argument must be of type function. Received ${inspect(listener)}`);
  }
}

function EventEmitter() {
  EventEmitter.init.call(this);
}

EventEmitter.EventEmitter = EventEmitter;
EventEmitter.defaultMaxListeners = 10;
EventEmitter.errorMonitor = Symbol('events.errorMonitor');

EventEmitter.init = function init() {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  }
  this._maxListeners = this._maxListeners || undefined;
};

function listenersOf(emitter, name) {
  const events = emitter._events;
  if (events === undefined) return [];
  const list = events[name];
  return list === undefined ? [] : list;
}

function addListener(emitter, name, listener, prepend) {
  checkListener(listener);
  if (emitter._events === undefined) EventEmitter.init.call(emitter);
  if (emitter._events.newListener !== undefined) {
    emitter.emit('newListener', name, listener.listener ? listener.listener : listener);
  }
  const list = emitter._events[name];
  if (list === undefined) {
    emitter._events[name] = [listener];
    emitter._eventsCount++;
  } else if (prepend) {
    list.unshift(listener);
  } else {
    list.push(listener);
  }
  return emitter;
}

function onceWrapper(emitter, name, listener) {
  const state = { fired: false };
  function wrapped(...args) {
    if (state.fired) return undefined;
    state.fired = true;
    emitter.removeListener(name, wrapped);
    return listener.apply(emitter, args);
  }
  wrapped.listener = listener;
  return wrapped;
}

Object.assign(EventEmitter.prototype, {
  _events: undefined,
  _eventsCount: 0,
  _maxListeners: undefined,

  setMaxListeners(n) {
    this._maxListeners = n;
    return this;
  },
  getMaxListeners() {
    return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners;
  },

  emit(name, ...args) {
    if (name === 'error') {
      const monitors = listenersOf(this, EventEmitter.errorMonitor);
      for (const monitor of monitors.slice()) monitor.apply(this, args);
      if (listenersOf(this, 'error').length === 0) {
        const err = args[0];
        if (err instanceof Error) throw err;
        const wrapper = new Error(`Unhandled error. (${inspect(err)})`);
        wrapper.code = 'ERR_UNHANDLED_ERROR';
        wrapper.context = err;
        throw wrapper;
      }
    }
    const list = listenersOf(this, name);
    if (list.length === 0) return false;
    for (const listener of list.slice()) listener.apply(this, args);
    return true;
  },

  addListener(name, listener) { return addListener(this, name, listener, false); },
  on(name, listener) { return addListener(this, name, listener, false); },
  prependListener(name, listener) { return addListener(this, name, listener, true); },

  once(name, listener) {
    checkListener(listener);
    return addListener(this, name, onceWrapper(this, name, listener), false);
  },
  prependOnceListener(name, listener) {
    checkListener(listener);
    return addListener(this, name, onceWrapper(this, name, listener), true);
  },

  removeListener(name, listener) {
    checkListener(listener);
    const list = listenersOf(this, name);
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        list.splice(i, 1);
        if (list.length === 0) {
          delete this._events[name];
          this._eventsCount--;
        }
        if (this._events.removeListener !== undefined) this.emit('removeListener', name, listener);
        break;
      }
    }
    return this;
  },
  off(name, listener) { return this.removeListener(name, listener); },

  removeAllListeners(name) {
    if (this._events === undefined) return this;
    if (arguments.length === 0) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    } else if (this._events[name] !== undefined) {
      delete this._events[name];
      this._eventsCount--;
    }
    return this;
  },

  listeners(name) {
    return listenersOf(this, name).map((listener) => listener.listener || listener);
  },
  rawListeners(name) {
    return listenersOf(this, name).slice();
  },
  listenerCount(name) {
    return listenersOf(this, name).length;
  },
  eventNames() {
    return this._events === undefined ? [] : Reflect.ownKeys(this._events);
  },
});

EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);

EventEmitter.once = function once(emitter, name) {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      emitter.removeListener(name, onEvent);
      reject(err);
    };
    const onEvent = (...args) => {
      if (name !== 'error') emitter.removeListener('error', onError);
      resolve(args);
    };
    emitter.once(name, onEvent);
    if (name !== 'error') emitter.once('error', onError);
  });
};

module.exports = EventEmitter;
