'use strict';
// What the parts of brigadier share: the one event registry of this build, and the
// event and project that `Job.run()` uses (set by the module-level `fire`).

const { EventRegistry } = require('./events');

module.exports = {
  events: new EventRegistry(),
  currentEvent: undefined,
  currentProject: undefined,
};
