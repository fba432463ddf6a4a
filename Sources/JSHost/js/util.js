'use strict';
// A subset of Node's `util`: enough for console output to look the way Brigade users
// saw it under Node (`util.format` and `util.inspect` rules), plus a few helpers npm
// packages commonly use.

const BREAK_LENGTH = 80;
const MAX_ARRAY_ITEMS = 100;
const MAX_STRING_LENGTH = 10000; // SecretRedactor looks for the cuts it makes in text this long

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const meta = {
  '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '\\': '\\\\', '\v': '\\v',
};

function quote(text) {
  let q = "'";
  if (text.includes("'")) {
    if (!text.includes('"')) q = '"';
    else if (!text.includes('`') && !text.includes('${')) q = '`';
  }
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === q) out += '\\' + ch;
    else if (meta[ch] !== undefined) out += meta[ch];
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0').toUpperCase();
    else out += ch;
  }
  return q + out + q;
}

function formatPrimitive(value) {
  switch (typeof value) {
    case 'string': {
      const shown = value.length > MAX_STRING_LENGTH ? value.slice(0, MAX_STRING_LENGTH) : value;
      const rest = value.length - shown.length;
      return quote(shown) + (rest > 0 ? `... ${rest} more character${rest > 1 ? 's' : ''}` : '');
    }
    case 'number': return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint': return `${value}n`;
    case 'symbol': return value.toString();
    default: return String(value); // undefined, boolean
  }
}

function constructorName(value) {
  let proto = Object.getPrototypeOf(value);
  while (proto !== null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'constructor');
    if (descriptor && typeof descriptor.value === 'function' && descriptor.value.name !== '') {
      return descriptor.value.name;
    }
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function formatFunction(fn) {
  const source = Function.prototype.toString.call(fn);
  if (source.startsWith('class') && /^class\b/.test(source)) {
    const base = Object.getPrototypeOf(fn);
    const extendsPart = base && base.name ? ` extends ${base.name}` : '';
    return `[class ${fn.name || '(anonymous)'}${extendsPart}]`;
  }
  const ctor = constructorName(fn);
  const kind = ctor === 'AsyncFunction' || ctor === 'GeneratorFunction' || ctor === 'AsyncGeneratorFunction'
    ? ctor : 'Function';
  return fn.name ? `[${kind}: ${fn.name}]` : `[${kind} (anonymous)]`;
}

// JSC writes stack frames as `name@file:line:column`; Node as `    at name (file:line:column)`.
function formatStack(err) {
  const head = errorHeader(err);
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const frames = stack.split('\n')
    // Frames in the host's own modules (virtual names, not absolute paths) are left out.
    .filter((line) => line.trim() !== '' && (line.indexOf('@') < 0 || line.slice(line.lastIndexOf('@') + 1).startsWith('/')))
    .map((line) => {
      const at = line.lastIndexOf('@');
      if (at < 0) return `    at ${line}`;
      const name = line.slice(0, at);
      const place = line.slice(at + 1);
      return name && name !== 'global code' && name !== 'module code' ? `    at ${name} (${place})` : `    at ${place}`;
    });
  // A SyntaxError has no frames of its own: where it is comes from its sourceURL and line.
  if (frames.length === 0 && typeof err.sourceURL === 'string' && err.sourceURL.startsWith('/') && err.line !== undefined) {
    frames.push(`    at ${err.sourceURL}:${err.line}`);
  }
  return frames.length ? `${head}\n${frames.join('\n')}` : head;
}

function errorHeader(err) {
  let name;
  let message;
  try {
    name = err.name === undefined ? 'Error' : String(err.name);
    message = err.message === undefined ? '' : String(err.message);
  } catch (_) {
    return '[Error]';
  }
  return message ? `${name}: ${message}` : name;
}

function keyText(key) {
  if (typeof key === 'symbol') return `[${key.toString()}]`;
  return identifier.test(key) ? key : quote(key);
}

function isError(value) {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

function singleLineFits(ctx, output, start) {
  let total = output.length + start;
  if (total + output.length > BREAK_LENGTH) return false;
  for (const entry of output) {
    total += entry.length;
    if (total > BREAK_LENGTH) return false;
  }
  return true;
}

function reduceToString(ctx, output, prefix, braces) {
  const start = output.length + ctx.indentation + braces[0].length + prefix.length + 10;
  if (singleLineFits(ctx, output, start)) {
    const joined = output.join(', ');
    if (!joined.includes('\n')) {
      return `${prefix ? prefix + ' ' : ''}${braces[0]} ${joined} ${braces[1]}`;
    }
  }
  const indent = '\n' + ' '.repeat(ctx.indentation);
  return `${prefix ? prefix + ' ' : ''}${braces[0]}${indent}  ${output.join(',' + indent + '  ')}${indent}${braces[1]}`;
}

function formatProperty(ctx, value, key, depth) {
  const descriptor = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
  let shown;
  if (descriptor.value !== undefined || !('get' in descriptor || 'set' in descriptor)) {
    ctx.indentation += 2;
    shown = formatValue(ctx, descriptor.value, depth + 1);
    ctx.indentation -= 2;
  } else if (descriptor.get && descriptor.set) {
    shown = '[Getter/Setter]';
  } else if (descriptor.get) {
    shown = '[Getter]';
  } else {
    shown = descriptor.set ? '[Setter]' : 'undefined';
  }
  return `${keyText(key)}: ${shown}`;
}

function ownKeys(value) {
  const keys = Object.keys(value);
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol);
  }
  return keys;
}

function formatValue(ctx, value, depth) {
  if (value === null) return 'null';
  if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(value);

  const seenAt = ctx.seen.indexOf(value);
  if (seenAt >= 0) {
    let index = ctx.circular.get(value);
    if (index === undefined) {
      index = ctx.circular.size + 1;
      ctx.circular.set(value, index);
    }
    return `[Circular *${index}]`;
  }

  let custom = value[inspect.custom];
  if (typeof custom === 'function' && custom !== inspect) {
    const replaced = custom.call(value, ctx.depth - depth, { depth: ctx.depth - depth });
    if (replaced !== value) return typeof replaced === 'string' ? replaced : formatValue(ctx, replaced, depth);
  }

  ctx.seen.push(value);
  let text;
  try {
    text = formatObject(ctx, value, depth);
  } finally {
    ctx.seen.pop();
  }
  const index = ctx.circular.get(value);
  return index === undefined ? text : `<ref *${index}> ${text}`;
}

function formatObject(ctx, value, depth) {
  let keys = ownKeys(value);
  const name = constructorName(value);
  let prefix = '';
  let braces = ['{', '}'];
  let entries = null; // preformatted entries (arrays, maps, sets)
  let base = '';

  if (Array.isArray(value)) {
    prefix = name === 'Array' ? '' : `${name || '[Array: null prototype]'}(${value.length})`;
    braces = ['[', ']'];
    if (value.length === 0 && keys.length === 0) return prefix ? `${prefix} []` : '[]';
    if (depth > ctx.depth) return '[Array]';
    entries = formatArrayItems(ctx, value, depth);
    keys = keys.filter((key) => typeof key === 'symbol' || !/^(0|[1-9][0-9]*)$/.test(key));
  } else if (typeof value === 'function') {
    base = formatFunction(value);
    keys = keys.filter((key) => key !== 'prototype');
    if (keys.length === 0) return base;
  } else if (isError(value)) {
    base = formatStack(value);
    keys = keys.filter((key) => key !== 'stack' && key !== 'message' && key !== 'line' && key !== 'column' && key !== 'sourceURL');
    if (keys.length === 0) return base;
  } else if (value instanceof Map) {
    prefix = `${name || 'Map'}(${value.size})`;
    if (value.size === 0 && keys.length === 0) return `${prefix} {}`;
    if (depth > ctx.depth) return `[${name || 'Map'}]`;
    entries = [];
    ctx.indentation += 2;
    for (const [k, v] of value) entries.push(`${formatValue(ctx, k, depth + 1)} => ${formatValue(ctx, v, depth + 1)}`);
    ctx.indentation -= 2;
  } else if (value instanceof Set) {
    prefix = `${name || 'Set'}(${value.size})`;
    if (value.size === 0 && keys.length === 0) return `${prefix} {}`;
    if (depth > ctx.depth) return `[${name || 'Set'}]`;
    entries = [];
    ctx.indentation += 2;
    for (const v of value) entries.push(formatValue(ctx, v, depth + 1));
    ctx.indentation -= 2;
  } else if (value instanceof Date) {
    base = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (keys.length === 0) return base;
  } else if (value instanceof RegExp) {
    base = RegExp.prototype.toString.call(value);
    if (keys.length === 0) return base;
  } else if (value instanceof Promise) {
    prefix = 'Promise';
    if (keys.length === 0) return 'Promise {}';
  } else if (value instanceof WeakMap || value instanceof WeakSet) {
    return `${name} { <items unknown> }`;
  } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    prefix = `${name}(${value.length})`;
    braces = ['[', ']'];
    if (value.length === 0) return `${prefix} []`;
    entries = formatArrayItems(ctx, value, depth);
    keys = [];
  } else if (value instanceof ArrayBuffer) {
    return `ArrayBuffer { byteLength: ${value.byteLength} }`;
  } else if (value instanceof Number || value instanceof String || value instanceof Boolean) {
    const kind = value instanceof Number ? 'Number' : value instanceof String ? 'String' : 'Boolean';
    base = `[${kind}: ${formatPrimitive(value.valueOf())}]`;
    if (value instanceof String) keys = keys.filter((key) => !/^(0|[1-9][0-9]*)$/.test(key));
    if (keys.length === 0) return base;
  } else {
    if (name === null) prefix = '[Object: null prototype]';
    else if (name !== 'Object') prefix = name;
    const tag = value[Symbol.toStringTag];
    if (typeof tag === 'string' && tag !== '' && tag !== name) prefix = `${prefix || 'Object'} [${tag}]`;
    if (keys.length === 0) return prefix ? `${prefix} {}` : '{}';
  }

  if (depth > ctx.depth) return `[${name || 'Object'}]`;

  const output = entries || [];
  for (const key of keys) output.push(formatProperty(ctx, value, key, depth));
  if (base) {
    if (output.length === 0) return base;
    return reduceToString(ctx, output, base, braces);
  }
  return reduceToString(ctx, output, prefix, braces);
}

function formatArrayItems(ctx, array, depth) {
  const output = [];
  const shown = Math.min(array.length, MAX_ARRAY_ITEMS);
  let holes = 0;
  ctx.indentation += 2;
  for (let i = 0; i < shown; i++) {
    if (!Object.prototype.hasOwnProperty.call(array, i)) {
      holes++;
      continue;
    }
    if (holes > 0) {
      output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      holes = 0;
    }
    output.push(formatValue(ctx, array[i], depth + 1));
  }
  ctx.indentation -= 2;
  if (holes > 0) output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
  if (array.length > shown) {
    const rest = array.length - shown;
    output.push(`... ${rest} more item${rest > 1 ? 's' : ''}`);
  }
  return output;
}

function inspect(value, options) {
  let depth = 2;
  if (options !== null && typeof options === 'object' && 'depth' in options) {
    depth = options.depth === null ? Infinity : Number(options.depth);
  }
  const ctx = { depth, seen: [], circular: new Map(), indentation: 0 };
  return formatValue(ctx, value, 0);
}
inspect.custom = Symbol.for('nodejs.util.inspect.custom');

function formatNumber(value, integer) {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return 'NaN';
  const number = integer ? parseInt(value) : Number(value);
  return formatPrimitive(number);
}

function format(...args) {
  const first = args[0];
  let out = '';
  let next = 0;
  if (typeof first === 'string') {
    next = 1;
    if (args.length === 1) return first;
    let last = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (first.charCodeAt(i) !== 37) continue; // '%'
      const spec = first[i + 1];
      if (spec === '%') {
        out += first.slice(last, i) + '%';
        last = i + 2;
        i++;
        continue;
      }
      if (next >= args.length || !'sdifjoOc'.includes(spec)) continue;
      const arg = args[next];
      let text;
      switch (spec) {
        case 's':
          if (typeof arg === 'bigint') text = `${arg}n`;
          else if (typeof arg === 'object' && arg !== null) text = inspect(arg, { depth: 0 });
          else text = typeof arg === 'symbol' ? arg.toString() : String(arg);
          break;
        case 'd': text = formatNumber(arg, false); break;
        case 'i': text = formatNumber(arg, true); break;
        case 'f': text = typeof arg === 'symbol' ? 'NaN' : String(parseFloat(arg)); break;
        case 'j':
          try {
            text = JSON.stringify(arg);
          } catch (err) {
            text = '[Circular]';
          }
          break;
        case 'o': text = inspect(arg, { depth: 4 }); break;
        case 'O': text = inspect(arg); break;
        case 'c': text = ''; break;
      }
      out += first.slice(last, i) + text;
      last = i + 2;
      i++;
      next++;
    }
    out += first.slice(last);
  }
  for (; next < args.length; next++) {
    const arg = args[next];
    out += (out === '' && next === 0 ? '' : ' ') + (typeof arg === 'string' ? arg : inspect(arg));
  }
  return out;
}

function promisify(original) {
  if (typeof original !== 'function') throw new TypeError('The "original" argument must be of type function');
  return function promisified(...args) {
    return new Promise((resolve, reject) => {
      original.call(this, ...args, (err, ...values) => {
        if (err) reject(err);
        else resolve(values.length > 1 ? values : values[0]);
      });
    });
  };
}

function inherits(ctor, superCtor) {
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
  Object.setPrototypeOf(ctor, superCtor);
  ctor.super_ = superCtor;
}

function deprecate(fn) {
  return fn;
}

function isDeepStrictEqual(a, b) {
  return deepEqual(a, b, new Map());
}

function deepEqual(a, b, seen) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Map || a instanceof Set) {
    if (a.size !== b.size) return false;
    if (a instanceof Set) return [...a].every((v) => b.has(v) || [...b].some((w) => deepEqual(v, w, seen)));
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k), seen)) return false;
    return true;
  }
  const keysA = ownKeys(a);
  const keysB = ownKeys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) => Object.prototype.propertyIsEnumerable.call(b, key) && deepEqual(a[key], b[key], seen));
}

const types = {
  isPromise: (value) => value instanceof Promise,
  isDate: (value) => value instanceof Date,
  isRegExp: (value) => value instanceof RegExp,
  isMap: (value) => value instanceof Map,
  isSet: (value) => value instanceof Set,
  isNativeError: isError,
};

module.exports = {
  format, inspect, promisify, inherits, deprecate, isDeepStrictEqual, types,
  isArray: Array.isArray,
  isError,
  isFunction: (value) => typeof value === 'function',
  isString: (value) => typeof value === 'string',
  isNumber: (value) => typeof value === 'number',
  isObject: (value) => value !== null && typeof value === 'object',
  isUndefined: (value) => value === undefined,
  isNullOrUndefined: (value) => value === null || value === undefined,
};
