'use strict';
// What a registry webhook says of its images, whatever the registry: `e.image` and `e.images`
// (additions of Brigantine's; Brigade left every script to tell Docker Hub from ACR from
// Harbor). Loaded the first time a script reads either, which parses `e.payload` then.
//
//   { format, action, registry, repository, tag, digest, mediaType, pusher, reference }
//
// `e.images` is every image the webhook names: a distribution registry's envelope may carry
// several events, a Quay push several tags, a Harbor event several artifacts. `e.image` is
// the first of them that was pushed, else the first; `null` (and `[]`) when the payload is
// not a registry event this knows.
//
// `action` is `push`, `delete` or `pull` where the registry's word means one of them (ACR's
// `chart_push` stays as it is); fields a format does not carry are null. `reference` is what
// a job's `image` takes: `registry/repository:tag`, or `@digest` without a tag.

function text(value) {
  return typeof value === 'string' && value !== '' ? value : null;
}

function object(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
}

function image(format, action, registry, repository, tag, digest, mediaType, pusher) {
  const described = {
    format,
    action: text(action),
    registry: text(registry),
    repository: text(repository),
    tag: text(tag),
    digest: text(digest),
    mediaType: text(mediaType),
    pusher: text(pusher),
    reference: null,
  };
  if (described.repository !== null) {
    const name = described.registry === null ? described.repository : `${described.registry}/${described.repository}`;
    if (described.tag !== null) described.reference = `${name}:${described.tag}`;
    else if (described.digest !== null) described.reference = `${name}@${described.digest}`;
    else described.reference = name;
  }
  return described;
}

/** `pushed`, `PUSH_ARTIFACT`, `harbor.artifact.pulled`, `published` → `push`, `pull`, …; other words as they are. */
function action(word) {
  if (typeof word !== 'string') return null;
  const lower = word.toLowerCase();
  if (/(^|[._])push/.test(lower) || lower === 'published') return 'push';
  if (/(^|[._])pull/.test(lower)) return 'pull';
  if (/(^|[._])delet/.test(lower)) return 'delete';
  return word;
}

/** The host of a URL or of an image reference (`host/namespace/name:tag`). */
function host(reference) {
  if (typeof reference !== 'string') return null;
  const withoutScheme = reference.replace(/^[a-z]+:\/\//, '');
  const slash = withoutScheme.indexOf('/');
  return slash > 0 ? withoutScheme.slice(0, slash) : (withoutScheme || null);
}

// Each format gives the list of images its body names, or null when the body is not of it.

function dockerHub(body) {
  const push = object(body.push_data);
  const repository = object(body.repository);
  if (push === null || repository === null) return null;
  return [image('dockerhub', 'push', 'docker.io', repository.repo_name, push.tag, null, push.media_type, push.pusher)];
}

/** Docker's distribution envelope (also GitLab's registry): the events of its manifests. */
function distribution(body) {
  if (!Array.isArray(body.events)) return null;
  const events = body.events.map(object).filter((event) => event !== null && object(event.target) !== null);
  const isManifest = (event) => /manifest/.test(event.target.mediaType ?? '') || /\/manifests\//.test(event.target.url ?? '');
  // Blob uploads and downloads come in the same envelope: they are not images.
  const images = events.filter(isManifest).map(({ action: word, target, request, actor }) =>
    image('distribution', action(word), object(request)?.host ?? host(target.url), target.repository,
      target.tag, target.digest, target.mediaType, object(actor)?.name));
  return images.length === 0 ? null : images;
}

function acr(body) {
  const target = object(body.target);
  if (target === null || typeof body.action !== 'string') return null;
  // ACR's own words: push, delete, chart_push, chart_delete, quarantine.
  return [image('acr', body.action, object(body.request)?.host, target.repository, target.tag, target.digest,
    target.mediaType, null)];
}

/** Harbor's event (its own format, or a CloudEvent's data): an image per resource. */
function harbor(format, type, data, operator) {
  const listed = (Array.isArray(data.resources) ? data.resources : []).map(object).filter((resource) => resource !== null);
  return (listed.length === 0 ? [{}] : listed).map((resource) => {
    const tag = typeof resource.tag === 'string' && resource.tag.startsWith('sha256:') ? null : resource.tag;
    return image(format, action(type), host(resource.resource_url), object(data.repository)?.repo_full_name, tag,
      resource.digest, null, operator);
  });
}

function cloudEvent(body) {
  if (typeof body.specversion !== 'string' || typeof body.type !== 'string') return null;
  const data = object(body.data) ?? {};
  if (body.type.startsWith('harbor.')) return harbor('cloudevent', body.type, data, body.operator);
  if (body.type.startsWith('com.amazon.ecr.')) {
    // source: urn:aws:ecr:<region>:<account>:repository/<name>
    const [, , , region, account] = String(body.source).split(':');
    const registry = region && account ? `${account}.dkr.ecr.${region}.amazonaws.com` : null;
    return [image('cloudevent', action(body.type), registry, data.repositoryName, data.imageTag, data.imageDigest,
      null, null)];
  }
  return null;
}

/** Quay's push: `updated_tags` is a list of tags, or (in its early shape) an object of tag → image id. */
function quay(body) {
  if (typeof body.docker_url !== 'string') return null;
  const byTag = object(body.updated_tags);
  const tags = Array.isArray(body.updated_tags) ? body.updated_tags : byTag === null ? null : Object.keys(byTag);
  if (tags === null) return null;
  return (tags.length === 0 ? [null] : tags).map((tag) =>
    image('quay', 'push', host(body.docker_url), body.repository, tag, null, null, null));
}

function artifactory(body) {
  const data = object(body.data);
  if (body.domain !== 'docker' || data === null) return null;
  return [image('artifactory', action(body.event_type ?? data.event_type), host(body.jpd_origin), data.image_name,
    data.tag, text(data.sha256) === null ? null : `sha256:${data.sha256}`, null, null)];
}

/** GitHub's `package` and `registry_package` events for container images (GHCR). */
function ghcr(body) {
  const pkg = object(body.package) ?? object(body.registry_package);
  if (pkg === null || !['docker', 'container'].includes(String(pkg.ecosystem ?? pkg.package_type).toLowerCase())) return null;
  const version = object(pkg.package_version) ?? {};
  const metadata = object(version.container_metadata) ?? {};
  const url = String(version.package_url ?? '');
  const name = url.includes(':') ? url.slice(0, url.lastIndexOf(':')) : url;
  const repository = name.slice(name.indexOf('/') + 1).toLowerCase() || null;
  return [image('ghcr', action(body.action), host(name) ?? 'ghcr.io', repository, object(metadata.tag)?.name,
    object(metadata.tag)?.digest ?? object(metadata.manifest)?.digest, object(metadata.manifest)?.media_type,
    object(body.sender)?.login)];
}

const formats = [dockerHub, distribution, acr, cloudEvent, quay, artifactory, ghcr];

/** Every image a registry webhook's body names, in its order; [] when it names none. */
function describeAll(payload) {
  let body;
  try {
    body = JSON.parse(payload);
  } catch (error) {
    return [];
  }
  if (object(body) === null) return [];
  if (typeof body.type === 'string' && object(body.event_data) !== null) {
    return harbor('harbor', body.type, body.event_data, body.operator);
  }
  for (const format of formats) {
    const described = format(body);
    if (described !== null) return described;
  }
  return [];
}

/** Of a webhook's images, the one it is about: the first pushed, else the first; null if none. */
function pick(images) {
  return images.find((described) => described.action === 'push') ?? images[0] ?? null;
}

/** The image a registry webhook's body is about, or null. */
function describe(payload) {
  return pick(describeAll(payload));
}

module.exports = { describe, describeAll, pick };
