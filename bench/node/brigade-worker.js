// Brigade's model for comparison: one Node process per build, like Brigade v1's worker.
// It provides a `brigadier` like the worker's (EventEmitter events, Job.run() resolving a
// simulated Result), loads the script with require, fires the event with the payload,
// and fires `after` when the process goes idle (`beforeExit`), as Brigade's worker did.
//
//   node bench/node/brigade-worker.js bench/brigade.js samples/dockerhub/payload.json
const Module = require('module');
const EventEmitter = require('events');
const fs = require('fs');
const path = require('path');

class EventRegistry extends EventEmitter {
  constructor() { super(); this.on('ping', () => console.log('ping')); }
  has(name) { return this.listenerCount(name) > 0; }
  fire(e, p) { this.emit(e.type, e, p); }
}
const events = new EventRegistry();
let current;
class Job {
  constructor(name, image, tasks) {
    this.name = name; this.image = image || ''; this.tasks = tasks || []; this.env = {}; this._podName = '';
  }
  get podName() { return this._podName; }
  run() {
    this._podName = `${this.name}-${current.buildID}`;
    const spec = JSON.stringify({ name: this.name, image: this.image, tasks: this.tasks, env: this.env });
    return new Promise((resolve) => setImmediate(() => resolve({ data: `simulated ${spec.length}`, toString() { return this.data; } })));
  }
}
class Group {}
class ErrorReport {}
function fire(e, p) { current = e; events.fire(e, p); }
const brigadier = { events, fire, Job, Group, ErrorReport };

const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'brigadier' ? brigadier : load.call(this, request, ...rest);
};

// Output is counted, not printed, as in brig-bench (whose log discards lines).
let lines = 0;
console.log = () => { lines += 1; };

const [script, payloadFile] = process.argv.slice(2);
require(path.resolve(script));
const buildID = '01' + Date.now().toString(32);
const e = {
  buildID, workerID: `brigade-worker-${buildID}`, type: 'image_push', provider: 'dockerhub',
  revision: { commit: '', ref: 'master' }, logLevel: 1, payload: fs.readFileSync(payloadFile, 'utf8'),
};
let afterFired = false;
process.on('beforeExit', () => {
  if (afterFired) return;
  afterFired = true;
  fire({ buildID, workerID: e.workerID, type: 'after', provider: 'brigade', revision: e.revision, cause: { event: e, trigger: 'success' } }, {});
});
fire(e, { name: 'bench', secrets: {} });
