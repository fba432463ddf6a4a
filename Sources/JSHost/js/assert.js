'use strict';
// Node's `assert`, for scripts that check their inputs the Node way.

const { inspect, isDeepStrictEqual } = require('util');

class AssertionError extends Error {
  constructor(options) {
    super(options.message);
    this.name = 'AssertionError';
    this.code = 'ERR_ASSERTION';
    this.actual = options.actual;
    this.expected = options.expected;
    this.operator = options.operator;
    this.generatedMessage = options.generated;
  }
}

function fail(actual, expected, message, operator, defaultMessage) {
  if (message instanceof Error) throw message;
  throw new AssertionError({
    message: message === undefined ? defaultMessage : String(message),
    actual, expected, operator, generated: message === undefined,
  });
}

function ok(value, message) {
  if (!value) fail(value, true, message, '==', `The expression evaluated to a falsy value:\n\n  assert(${inspect(value)})\n`);
}

const assert = function assert(value, message) { ok(value, message); };

function looseDeepEqual(a, b) {
  // eslint-disable-next-line eqeqeq
  if (a == b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return keysA.length === keysB.length && keysA.every((key) => key in b && looseDeepEqual(a[key], b[key]));
}

function matches(err, expected) {
  if (expected === undefined) return true;
  if (expected instanceof RegExp) return expected.test(String(err));
  if (typeof expected === 'function') {
    if (expected.prototype !== undefined && err instanceof expected) return true;
    if (Error.isPrototypeOf(expected)) return false;
    return expected.call({}, err) === true;
  }
  if (typeof expected === 'object' && expected !== null) {
    return Object.keys(expected).every((key) => (expected[key] instanceof RegExp
      ? expected[key].test(err[key]) : isDeepStrictEqual(err[key], expected[key])));
  }
  return false;
}

Object.assign(assert, {
  AssertionError,
  ok,
  fail(message = 'Failed') { fail(undefined, undefined, message, 'fail', message); },
  // eslint-disable-next-line eqeqeq
  equal(a, b, message) { if (!(a == b)) fail(a, b, message, '==', `${inspect(a)} == ${inspect(b)}`); },
  // eslint-disable-next-line eqeqeq
  notEqual(a, b, message) { if (a == b) fail(a, b, message, '!=', `${inspect(a)} != ${inspect(b)}`); },
  strictEqual(a, b, message) {
    if (!Object.is(a, b)) fail(a, b, message, 'strictEqual', `Expected values to be strictly equal:\n\n${inspect(a)} !== ${inspect(b)}\n`);
  },
  notStrictEqual(a, b, message) {
    if (Object.is(a, b)) fail(a, b, message, 'notStrictEqual', `Expected "actual" to be strictly unequal to: ${inspect(b)}`);
  },
  deepEqual(a, b, message) {
    if (!looseDeepEqual(a, b)) fail(a, b, message, 'deepEqual', `Expected values to be loosely deep-equal:\n\n${inspect(a)}\n\nshould loosely deep-equal\n\n${inspect(b)}`);
  },
  notDeepEqual(a, b, message) {
    if (looseDeepEqual(a, b)) fail(a, b, message, 'notDeepEqual', `${inspect(a)} should not loosely deep-equal ${inspect(b)}`);
  },
  deepStrictEqual(a, b, message) {
    if (!isDeepStrictEqual(a, b)) fail(a, b, message, 'deepStrictEqual', `Expected values to be strictly deep-equal:\n\n${inspect(a)}\n\nshould equal\n\n${inspect(b)}`);
  },
  notDeepStrictEqual(a, b, message) {
    if (isDeepStrictEqual(a, b)) fail(a, b, message, 'notDeepStrictEqual', `${inspect(a)} should not deep-equal ${inspect(b)}`);
  },
  throws(block, expected, message) {
    if (typeof expected === 'string') [message, expected] = [expected, undefined];
    try {
      block();
    } catch (err) {
      if (!matches(err, expected)) throw err;
      return;
    }
    fail(undefined, expected, message, 'throws', 'Missing expected exception.');
  },
  doesNotThrow(block, message) {
    try {
      block();
    } catch (err) {
      fail(err, undefined, message, 'doesNotThrow', `Got unwanted exception.\nActual message: "${err && err.message}"`);
    }
  },
  async rejects(promiseOrFn, expected, message) {
    if (typeof expected === 'string') [message, expected] = [expected, undefined];
    try {
      await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
    } catch (err) {
      if (!matches(err, expected)) throw err;
      return;
    }
    fail(undefined, expected, message, 'rejects', 'Missing expected rejection.');
  },
  match(text, pattern, message) {
    if (!pattern.test(text)) fail(text, pattern, message, 'match', `The input did not match the regular expression ${pattern}. Input:\n\n${inspect(text)}\n`);
  },
});
assert.strict = assert;

module.exports = assert;
