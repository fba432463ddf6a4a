'use strict';
// The `brigadier` module a brigade.js gets from require('brigadier') (also 'brigade' and
// '@brigadecore/brigadier'): exactly the five exports of Brigade v1's worker.

const state = require('./state');
const { Job } = require('./job');
const { Group } = require('./group');

/** An error report for `error` handlers; Brigade never fills one in itself. */
class ErrorReport {}

/**
 * Fires an event at the registered handlers, and makes it the event that later
 * `Job.run()` calls belong to (unlike `events.fire`, which leaves that alone).
 */
function fire(e, p) {
  state.currentEvent = e;
  state.currentProject = p;
  state.events.fire(e, p);
}

module.exports = { events: state.events, fire, Job, Group, ErrorReport };
