'use strict';
// Brigade's Job: a named unit of work (an image and tasks) that `run()` hands to the
// host's job runner. Fields, defaults and checks are Brigade v1's; `binding` is the
// native half (Sources/Brigadier).

const state = require('./state');

const MAX_JOB_NAME_LENGTH = 36;
const JOB_NAME_PATTERN = /^(([a-z0-9][-a-z0-9.]*)?[a-z0-9])+$/;
const LOG = 1;
const WARN = 3;

/** A warning under the runner's name, `[brigade:<runner>] …`. */
function warn(message) {
  binding.log(WARN, null, message);
}

/** Lower-case letters, digits, `-` and `.`; starts and ends alphanumeric; at most 36. */
function jobNameIsValid(name) {
  return name.length <= MAX_JOB_NAME_LENGTH && JOB_NAME_PATTERN.test(name);
}

class JobCache {
  constructor() {
    this.enabled = false;
    this.size = '5Mi';
    this.path = '/mnt/brigade/cache';
  }
}

class JobStorage {
  constructor() {
    this.enabled = false;
    this.path = '/mnt/brigade/share';
  }
}

class JobHost {
  constructor() {
    this.nodeSelector = new Map();
  }
}

class JobDockerMount {
  constructor() {
    this.enabled = false;
  }
}

class JobResourceRequest {}
class JobResourceLimit {}

/** A job's outcome: `toString()` is everything the job wrote. */
class Result {
  constructor(data) {
    this.data = data;
  }

  toString() {
    return this.data;
  }
}

const INVALID_NAME = "job name must be lowercase letters, numbers, and '-', and must not start or end with '-', having max length 36";

class Job {
  constructor(name, image, tasks, imageForcePull = false) {
    if (!jobNameIsValid(name)) throw new Error(INVALID_NAME);
    this.name = name.toLocaleLowerCase();
    this.shell = '/bin/sh';
    this.tasks = tasks || [];
    this.args = [];
    this.env = {};
    // Brigade's effective default image is the empty string (its declared default is overwritten).
    this.image = image || '';
    this.imageForcePull = imageForcePull;
    this.imagePullSecrets = [];
    this.mountPath = '/src';
    this.timeout = 900000;
    this.useSource = true;
    this.privileged = false;
    this.host = new JobHost();
    this.cache = new JobCache();
    this.storage = new JobStorage();
    this.docker = new JobDockerMount();
    this.resourceRequests = new JobResourceRequest();
    this.resourceLimits = new JobResourceLimit();
    this.volumes = [];
    this.volumeMounts = [];
    this.annotations = {};
    this.streamLogs = false;
    this._podName = '';
  }

  /** `<name>-<buildID>` once `run()` was called; a property, not a method. */
  get podName() {
    return this._podName;
  }

  /**
   * Runs the job and resolves with its Result. Problems Brigade found before starting
   * anything (an undefined env value, a forbidden host volume, a mount of an undefined
   * volume) are thrown synchronously, as Brigade did; failures of the job itself reject
   * with `job <name>(<pod>): Error: <reason>`.
   */
  run() {
    const e = state.currentEvent;
    const p = state.currentProject || {};
    if (e === undefined || e === null || e.revision === undefined || e.revision === null) {
      throw new TypeError('Job.run() needs the current event to have a revision; '
        + 'was brigadier.fire() called with a hand-built event?');
    }
    const spec = jobSpec(this, e, p);
    this._podName = spec.podName;
    const name = this.name;
    const podName = this._podName;
    const failed = (err) => {
      console.error(err);
      throw new Error(`job ${name}(${podName}): ${String(err)}`);
    };
    if (spec.rejection !== undefined) return Promise.reject(new Error(spec.rejection)).catch(failed);
    return binding.runJob(JSON.stringify(spec)).then((output) => new Result(output), failed);
  }

  /** The job's output, after `run()`. */
  logs() {
    if (this._podName === '') {
      throw new TypeError(`job ${this.name} has not been run: call run() before logs()`);
    }
    return binding.jobLogs(this._podName);
  }
}
Job.MAX_JOB_NAME_LENGTH = MAX_JOB_NAME_LENGTH;

function stringList(value) {
  return Array.isArray(value) ? value.map(String) : [];
}

function resources(value) {
  const out = {};
  if (value && value.cpu !== undefined && value.cpu !== null) out.cpu = String(value.cpu);
  if (value && value.memory !== undefined && value.memory !== null) out.memory = String(value.memory);
  return out;
}

/** Resolves `job.env` by Brigade's rules into name/value pairs, in insertion order. */
function environment(job, p, policy, spec) {
  const env = [];
  for (const key of Object.keys(job.env || {})) {
    const value = job.env[key];
    if (value === undefined) {
      throw new TypeError(`job ${job.name}: environment variable ${key} is undefined (is a project secret missing?)`);
    }
    if (value === null) {
      env.push({ name: key, value: '' });
    } else if (typeof value === 'string') {
      env.push({ name: key, value });
    } else if (typeof value === 'object' && value.secretKeyRef) {
      if (!policy.allowSecretKeyRef) {
        warn(`Using secretKeyRef is not allowed in this project, not setting environment variable ${key}`);
        continue;
      }
      const secretName = value.secretKeyRef.key;
      const secret = p.secrets ? p.secrets[secretName] : undefined;
      if (secret === undefined || secret === null) {
        throw new TypeError(`job ${job.name}: environment variable ${key} refers to project secret ${secretName}, which is not set`);
      }
      env.push({ name: key, value: String(secret) });
    } else if (typeof value === 'object') {
      const kind = Object.keys(value)[0] || 'an object';
      warn(`${kind} needs Kubernetes, which this runner does not use; not setting environment variable ${key}`);
    } else if (spec.rejection === undefined) {
      spec.rejection = `environment variable ${key} must be a string, not a ${typeof value}`;
    }
  }
  return env;
}

/** Brigade's checks on volumes and mounts, which it made before starting anything. */
function checkVolumes(job, policy) {
  const names = new Set();
  for (const volume of job.volumes || []) {
    if (volume && volume.hostPath && !policy.allowHostMounts) {
      throw new Error(`allowHostMounts is false in this project, not mounting ${volume.hostPath.path}`);
    }
    if (volume && volume.name !== undefined) names.add(volume.name);
  }
  for (const mount of job.volumeMounts || []) {
    if (!mount || !names.has(mount.name)) {
      throw new Error(`volume ${mount && mount.name} referenced in volume mount is not defined`);
    }
  }
  if ((job.volumes || []).length > 0) {
    warn(`job ${job.name}: volumes and volumeMounts are Kubernetes objects; this runner does not mount them`);
  }
}

/**
 * What the runner receives: the job after Brigade's rules and the project's policy. The
 * policy comes from the host, not from `p`, which the script could change.
 */
function jobSpec(job, e, p) {
  // Brigade checked the name only in the constructor; it names files and containers, so again here.
  if (typeof job.name !== 'string' || !jobNameIsValid(job.name)) throw new Error(INVALID_NAME);
  const policy = binding.policy();
  checkVolumes(job, policy);
  const spec = { rejection: undefined };
  const env = environment(job, p, policy, spec);
  let privileged = Boolean(job.privileged);
  if (privileged && !policy.allowPrivilegedJobs) {
    warn(`job ${job.name} asks to be privileged, which this project does not allow; it runs unprivileged`);
    privileged = false;
  }
  let dockerSocket = Boolean(job.docker && job.docker.enabled);
  if (dockerSocket && !policy.allowHostMounts) {
    warn(`job ${job.name} asks for the Docker socket, which needs allowHostMounts in this project; it runs without it`);
    dockerSocket = false;
  }
  const host = job.host || {};
  const annotations = {};
  for (const key of Object.keys(job.annotations || {})) annotations[key] = String(job.annotations[key]);
  return Object.assign(spec, {
    name: String(job.name),
    podName: `${job.name}-${e.buildID}`,
    image: String(job.image || ''),
    imageForcePull: Boolean(job.imageForcePull),
    imagePullSecrets: stringList(job.imagePullSecrets),
    tasks: stringList(job.tasks),
    args: stringList(job.args),
    shell: String(job.shell === undefined || job.shell === null ? '/bin/sh' : job.shell),
    env,
    timeout: Number(job.timeout) || 60000,
    privileged,
    serviceAccount: job.serviceAccount === undefined ? undefined : String(job.serviceAccount),
    resourceRequests: resources(job.resourceRequests),
    resourceLimits: resources(job.resourceLimits),
    host: {
      os: host.os === undefined ? undefined : String(host.os),
      name: host.name === undefined ? undefined : String(host.name),
      // Brigade read only a Map here; a plain object was ignored.
      nodeSelector: host.nodeSelector instanceof Map ? [...host.nodeSelector].map(([k, v]) => [String(k), String(v)]) : [],
    },
    cache: {
      enabled: Boolean(job.cache && job.cache.enabled),
      size: String((job.cache && job.cache.size) || '5Mi'),
      path: String((job.cache && job.cache.path) || '/mnt/brigade/cache'),
    },
    storage: {
      enabled: Boolean(job.storage && job.storage.enabled),
      path: String((job.storage && job.storage.path) || '/mnt/brigade/share'),
    },
    dockerSocket,
    annotations,
    streamLogs: Boolean(job.streamLogs),
    mountPath: String(job.mountPath || '/src'),
    useSource: job.useSource !== false,
  });
}

module.exports = {
  Job, Result, JobCache, JobStorage, JobHost, JobDockerMount, JobResourceRequest, JobResourceLimit,
  jobNameIsValid, MAX_JOB_NAME_LENGTH, LOG, WARN,
};
