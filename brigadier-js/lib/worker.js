'use strict';
// The script side of the worker lifecycle (Sources/Worker drives it): builds the event
// and project objects scripts see, fires the main, `after` and `error` events the way
// Brigade's worker did, and notices handlers whose promise never settles.

const state = require('./state');
const { LOG } = require('./job');

const INFO = 2;
const ERROR = 4;

let mainEvent;
let project;
const handlerResults = []; // { type, settled } for each promise a handler returned

/**
 * The main event, keys in Brigade's order; `payload` is the raw body, never parsed. `image`
 * and `images` (ours) are not among the keys, so `Object.keys(e)` and `JSON.stringify(e)` stay
 * Brigade's: the payload is parsed the first time a script reads either (see image.js).
 */
function makeEvent(buildID, workerID, type, provider, commit, ref, cloneURL, logLevel, payload) {
  const e = { buildID, workerID, type, provider, cloneURL, revision: { commit, ref }, logLevel };
  if (payload !== undefined) e.payload = payload;
  let images; // the payload's images, parsed once for both properties
  const describeAll = () => {
    if (images === undefined) images = payload === undefined ? [] : require('./image').describeAll(payload);
    return images;
  };
  lazyProperty(e, 'image', () => require('./image').pick(describeAll()));
  lazyProperty(e, 'images', describeAll);
  return e;
}

/** A property that is not among the object's keys, computed when first read; a script may set it. */
function lazyProperty(object, name, compute) {
  const settle = (value) => {
    Object.defineProperty(object, name, { value, writable: true, configurable: true, enumerable: false });
    return value;
  };
  Object.defineProperty(object, name, { configurable: true, enumerable: false, get: () => settle(compute()), set: settle });
}

/** The project, keys in Brigade's order (spec 2.3). */
function makeProject(fields) {
  const k = fields.kubernetes;
  return {
    id: fields.id,
    name: fields.name,
    repo: { name: fields.repo.name, cloneURL: fields.repo.cloneURL, initGitSubmodules: fields.repo.initGitSubmodules },
    kubernetes: {
      namespace: k.namespace,
      buildStorageSize: k.buildStorageSize,
      vcsSidecar: k.vcsSidecar,
      vcsSidecarResourcesLimitsCPU: '',
      vcsSidecarResourcesLimitsMemory: '',
      vcsSidecarResourcesRequestsCPU: '',
      vcsSidecarResourcesRequestsMemory: '',
      cacheStorageClass: k.cacheStorageClass,
      buildStorageClass: k.buildStorageClass,
    },
    secrets: fields.secrets,
    allowPrivilegedJobs: fields.allowPrivilegedJobs,
    allowHostMounts: fields.allowHostMounts,
  };
}

function lifecycleEvent(type, cause) {
  return {
    buildID: mainEvent.buildID,
    workerID: mainEvent.workerID,
    type,
    provider: 'brigade',
    revision: mainEvent.revision,
    logLevel: mainEvent.logLevel,
    cause,
  };
}

function track(result, type) {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return;
  if (typeof result.then !== 'function') return;
  const entry = { type, settled: false };
  handlerResults.push(entry);
  // The rejection is passed on, so an async handler that fails is still an unhandled rejection.
  result.then(() => {
    entry.settled = true;
  }, (reason) => {
    entry.settled = true;
    throw reason;
  });
}

/**
 * The module-level `fire` of brigadier, watching what each handler returns. Dispatch is
 * EventEmitter's: a snapshot of the listeners, in order, a throw stops the rest.
 */
function fireWatched(e, p) {
  state.currentEvent = e;
  state.currentProject = p;
  for (const listener of state.events.rawListeners(e.type)) {
    track(listener.call(state.events, e, p), e.type);
  }
}

module.exports = {
  makeEvent,
  makeProject,

  /** Registers the worker's own handlers (after the script's) and fires the main event. */
  start(e, p) {
    mainEvent = e;
    project = p;
    state.events.once('error', () => {
      binding.log(LOG, 'app', 'error handler is cleaning up');
    });
    state.events.once('after', () => {
      binding.log(INFO, 'app', 'after: default event handler fired');
    });
    fireWatched(e, p);
  },

  hasHandler(type) {
    return state.events.has(type);
  },

  fireAfter(trigger) {
    fireWatched(lifecycleEvent('after', { event: mainEvent, trigger }), project);
  },

  fireError(reason, trigger) {
    fireWatched(lifecycleEvent('error', { event: mainEvent, reason, trigger }), project);
  },

  /** Logs a failure as `[brigade:app] <reason>` (errors with their stack). */
  logFailure(prefix, reason) {
    binding.log(ERROR, 'app', prefix + require('util').inspect(reason));
  },

  /** Event types whose handler returned a promise that has not settled. */
  unsettledHandlerTypes() {
    return [...new Set(handlerResults.filter((entry) => !entry.settled).map((entry) => entry.type))];
  },
};
