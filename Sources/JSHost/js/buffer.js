'use strict';
// Node's Buffer for the common cases of Brigade scripts: bytes from and to strings in
// utf8, base64, base64url, hex, latin1 and ascii; concat, compare, slice. Also the text
// encoders and atob/btoa, which JavaScriptCore does not provide on its own.

function utf8Encode(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  }
  return bytes;
}

// Decodes UTF-8 as Node (and the WHATWG Encoding standard) do: an invalid byte, or the
// longest valid start of a sequence that breaks off, becomes one U+FFFD.
function utf8Decode(bytes, start, end) {
  let out = '';
  let i = start;
  while (i < end) {
    const lead = bytes[i];
    if (lead < 0x80) {
      out += String.fromCharCode(lead);
      i += 1;
      continue;
    }
    let need;
    let code;
    if (lead >= 0xc2 && lead <= 0xdf) [need, code] = [1, lead & 0x1f];
    else if (lead >= 0xe0 && lead <= 0xef) [need, code] = [2, lead & 0x0f];
    else if (lead >= 0xf0 && lead <= 0xf4) [need, code] = [3, lead & 0x07];
    else {
      out += '\ufffd';
      i += 1;
      continue;
    }
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    let lower = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    let upper = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    let k = 1;
    while (k <= need && i + k < end && bytes[i + k] >= lower && bytes[i + k] <= upper) {
      code = (code << 6) | (bytes[i + k] & 0x3f);
      [lower, upper] = [0x80, 0xbf];
      k += 1;
    }
    if (k <= need) {
      out += '\ufffd';
      i += k;
      continue;
    }
    out += String.fromCodePoint(code);
    i += need + 1;
  }
  return out;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUES = new Map([...BASE64].map((ch, i) => [ch, i]).concat([['-', 62], ['_', 63]]));

function base64Encode(bytes, start, end, url) {
  let out = '';
  for (let i = start; i < end; i += 3) {
    const n = (bytes[i] << 16) | ((i + 1 < end ? bytes[i + 1] : 0) << 8) | (i + 2 < end ? bytes[i + 2] : 0);
    out += BASE64[(n >> 18) & 63] + BASE64[(n >> 12) & 63];
    out += i + 1 < end ? BASE64[(n >> 6) & 63] : (url ? '' : '=');
    out += i + 2 < end ? BASE64[n & 63] : (url ? '' : '=');
  }
  return url ? out.replace(/\+/g, '-').replace(/\//g, '_') : out;
}

function base64Decode(text) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const digit = BASE64_VALUES.get(ch);
    if (digit === undefined) {
      if (ch === '=') break;
      continue; // Node skips whitespace and other characters
    }
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  return bytes;
}

function normalizeEncoding(encoding) {
  const name = String(encoding === undefined ? 'utf8' : encoding).toLowerCase();
  switch (name) {
    case 'utf8': case 'utf-8': return 'utf8';
    case 'base64': case 'base64url': case 'hex': case 'ascii': return name;
    case 'latin1': case 'binary': return 'latin1';
    default: throw new TypeError(`Unknown encoding: ${encoding}`);
  }
}

function bytesOf(text, encoding) {
  switch (normalizeEncoding(encoding)) {
    case 'utf8': return utf8Encode(text);
    case 'base64': case 'base64url': return base64Decode(text);
    case 'hex': {
      const bytes = [];
      for (let i = 0; i + 1 < text.length; i += 2) {
        const byte = parseInt(text.slice(i, i + 2), 16);
        if (Number.isNaN(byte)) break;
        bytes.push(byte);
      }
      return bytes;
    }
    default: return Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
  }
}

class Buffer extends Uint8Array {
  static from(value, encodingOrOffset, length) {
    if (typeof value === 'string') return Buffer._of(bytesOf(value, encodingOrOffset));
    if (value instanceof ArrayBuffer) {
      return new Buffer(value, encodingOrOffset || 0, length === undefined ? value.byteLength - (encodingOrOffset || 0) : length);
    }
    if (ArrayBuffer.isView(value) || Array.isArray(value)) return Buffer._of(value);
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer._of(value.data);
    throw new TypeError('The first argument must be a string, Buffer, ArrayBuffer, Array, or array-like object');
  }

  static _of(bytes) {
    const buffer = new Buffer(bytes.length);
    buffer.set(bytes);
    return buffer;
  }

  static alloc(size, fill) {
    const buffer = new Buffer(size);
    if (fill !== undefined) buffer.fill(typeof fill === 'string' ? bytesOf(fill)[0] || 0 : fill);
    return buffer;
  }

  static allocUnsafe(size) { return new Buffer(size); }
  static isBuffer(value) { return value instanceof Buffer; }
  static isEncoding(encoding) {
    try {
      normalizeEncoding(encoding);
      return true;
    } catch (_) {
      return false;
    }
  }

  static byteLength(value, encoding) {
    return typeof value === 'string' ? bytesOf(value, encoding).length : value.byteLength;
  }

  static concat(list, totalLength) {
    const length = totalLength === undefined ? list.reduce((sum, item) => sum + item.length, 0) : totalLength;
    const buffer = Buffer.alloc(length);
    let offset = 0;
    for (const item of list) {
      if (offset >= length) break;
      buffer.set(item.subarray(0, length - offset), offset);
      offset += item.length;
    }
    return buffer;
  }

  static compare(a, b) { return a.compare(b); }

  toString(encoding, start = 0, end = this.length) {
    start = Math.max(0, start);
    end = Math.min(this.length, end);
    switch (normalizeEncoding(encoding)) {
      case 'utf8': return utf8Decode(this, start, end);
      case 'base64': return base64Encode(this, start, end, false);
      case 'base64url': return base64Encode(this, start, end, true);
      case 'hex': {
        let out = '';
        for (let i = start; i < end; i++) out += this[i].toString(16).padStart(2, '0');
        return out;
      }
      case 'ascii': {
        let out = '';
        for (let i = start; i < end; i++) out += String.fromCharCode(this[i] & 0x7f);
        return out;
      }
      default: {
        let out = '';
        for (let i = start; i < end; i++) out += String.fromCharCode(this[i]);
        return out;
      }
    }
  }

  toJSON() { return { type: 'Buffer', data: Array.from(this) }; }

  equals(other) { return this.compare(other) === 0; }

  compare(other) {
    const length = Math.min(this.length, other.length);
    for (let i = 0; i < length; i++) if (this[i] !== other[i]) return this[i] < other[i] ? -1 : 1;
    return this.length === other.length ? 0 : this.length < other.length ? -1 : 1;
  }

  write(text, offset = 0, encoding) {
    const bytes = bytesOf(text, encoding).slice(0, Math.max(0, this.length - offset));
    this.set(bytes, offset);
    return bytes.length;
  }

  slice(start, end) { return this.subarray(start, end); }

  subarray(start, end) {
    const view = Uint8Array.prototype.subarray.call(this, start, end);
    return new Buffer(view.buffer, view.byteOffset, view.length);
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    const shown = Array.from(this.subarray(0, 50), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    return `<Buffer${shown ? ' ' + shown : ''}${this.length > 50 ? ` ... ${this.length - 50} more bytes` : ''}>`;
  }
}

class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(text = '') { return Uint8Array.from(utf8Encode(String(text))); }
}

class TextDecoder {
  constructor(label = 'utf-8') {
    if (!/^utf-?8$/i.test(label)) throw new RangeError(`The "${label}" encoding is not supported`);
  }
  get encoding() { return 'utf-8'; }
  decode(input) {
    if (input === undefined) return '';
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return utf8Decode(bytes, start, bytes.length);
  }
}

function btoa(text) {
  text = String(text);
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 255) throw new Error('Invalid character');
  }
  return Buffer.from(text, 'latin1').toString('base64');
}

function atob(text) {
  return Buffer.from(String(text), 'base64').toString('latin1');
}

module.exports = { Buffer, TextEncoder, TextDecoder, atob, btoa, kMaxLength: 2 ** 32 - 1 };
