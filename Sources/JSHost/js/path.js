'use strict';
// POSIX `path`, for npm packages that build file names. Scripts see `/` as the current
// directory: they have no file system of their own to be in.

function assertPath(value) {
  if (typeof value !== 'string') throw new TypeError(`The "path" argument must be of type string. Received ${typeof value}`);
}

function normalizeSegments(path, allowAboveRoot) {
  const out = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (allowAboveRoot) out.push('..');
    } else {
      out.push(segment);
    }
  }
  return out.join('/');
}

function normalize(path) {
  assertPath(path);
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  const trailing = path.endsWith('/');
  let out = normalizeSegments(path, !absolute);
  if (out === '' && !absolute) out = '.';
  if (out !== '' && trailing) out += '/';
  return absolute ? '/' + out : out;
}

function join(...parts) {
  parts.forEach(assertPath);
  const joined = parts.filter((part) => part !== '').join('/');
  return joined === '' ? '.' : normalize(joined);
}

function resolve(...parts) {
  let resolved = '';
  for (let i = parts.length - 1; i >= 0 && !resolved.startsWith('/'); i--) {
    assertPath(parts[i]);
    if (parts[i] !== '') resolved = resolved === '' ? parts[i] : `${parts[i]}/${resolved}`;
  }
  if (!resolved.startsWith('/')) resolved = '/' + resolved;
  return '/' + normalizeSegments(resolved, false);
}

function isAbsolute(path) {
  assertPath(path);
  return path.startsWith('/');
}

function relative(from, to) {
  const fromParts = resolve(from).split('/').filter(Boolean);
  const toParts = resolve(to).split('/').filter(Boolean);
  let common = 0;
  while (common < fromParts.length && common < toParts.length && fromParts[common] === toParts[common]) common++;
  return [...fromParts.slice(common).map(() => '..'), ...toParts.slice(common)].join('/');
}

function dirname(path) {
  assertPath(path);
  if (path === '') return '.';
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const slash = trimmed.lastIndexOf('/');
  if (slash < 0) return '.';
  if (slash === 0) return '/';
  return trimmed.slice(0, slash);
}

function basename(path, ext) {
  assertPath(path);
  const trimmed = path.replace(/\/+$/, '');
  let base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  if (ext !== undefined && base.endsWith(ext) && base !== ext) base = base.slice(0, base.length - ext.length);
  return base;
}

function extname(path) {
  const base = basename(path);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot);
}

function parse(path) {
  const root = path.startsWith('/') ? '/' : '';
  const base = basename(path);
  const ext = extname(path);
  let dir = dirname(path);
  if (dir === '.' && !path.includes('/')) dir = '';
  return { root, dir, base, ext, name: ext ? base.slice(0, base.length - ext.length) : base };
}

function format(parts) {
  const dir = parts.dir || parts.root || '';
  const base = parts.base || `${parts.name || ''}${parts.ext || ''}`;
  if (!dir) return base;
  return dir === parts.root ? `${dir}${base}` : `${dir}/${base}`;
}

const posix = { sep: '/', delimiter: ':', normalize, join, resolve, isAbsolute, relative, dirname, basename, extname, parse, format };
posix.posix = posix;
module.exports = posix;
