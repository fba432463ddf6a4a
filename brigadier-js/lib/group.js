'use strict';
// Brigade's Group: run jobs one after another (`runEach`) or all at once (`runAll`).

class Group {
  /** Keeps the given array itself, as Brigade did: `add` also grows the caller's array. */
  constructor(jobs) {
    this.jobs = jobs || [];
  }

  add(...jobs) {
    for (const job of jobs) this.jobs.push(job);
  }

  /** A method, not a property, in Brigade. */
  length() {
    return this.jobs.length;
  }

  /**
   * Runs the jobs in order, each after the previous one succeeded. The first failure
   * (a rejection, or a throw from `run()`) rejects with its reason; later jobs never start.
   */
  runEach() {
    const jobs = this.jobs.slice();
    const results = [];
    let chain = Promise.resolve();
    for (const job of jobs) {
      chain = chain.then(() => job.run()).then((result) => {
        results.push(result);
      });
    }
    return chain.then(() => results);
  }

  /**
   * Starts every job now, in order, and resolves with their results in the same order.
   * Fails fast: the first rejection rejects, while the other jobs go on running. A throw
   * from some `run()` leaves this call synchronously, after the earlier jobs started.
   */
  runAll() {
    return Promise.all(this.jobs.map((job) => job.run()));
  }

  static runEach(jobs) {
    return new Group(jobs).runEach();
  }

  static runAll(jobs) {
    return new Group(jobs).runAll();
  }
}

module.exports = { Group };
