'use strict';
// Brigade's event registry: a Node EventEmitter with `has` and `fire`, and a built-in
// `ping` handler. Handlers run synchronously in registration order; a handler's returned
// promise is not awaited.

const EventEmitter = require('events');

class EventRegistry extends EventEmitter {
  constructor() {
    super();
    this.on('ping', () => {
      console.log('ping');
    });
  }

  /** Whether any handler is registered for `name`. */
  has(name) {
    return this.listenerCount(name) > 0;
  }

  /** Runs the handlers for `e.type` with `(e, p)`. */
  fire(e, p) {
    this.emit(e.type, e, p);
  }
}

/** The shape of an event, with Brigade's defaults; the worker builds plain objects. */
class BrigadeEvent {
  constructor() {
    this.type = 'unknown';
    this.logLevel = 0;
  }
}

/** The shape of a project, with Brigade's defaults. */
class Project {
  constructor() {
    this.secrets = {};
    this.allowPrivilegedJobs = false;
    this.allowHostMounts = false;
  }
}

module.exports = { EventRegistry, BrigadeEvent, Project };
