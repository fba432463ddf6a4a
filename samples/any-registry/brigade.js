// One script for every registry. `e.image` and `e.images` (Brigantine's, not Brigade's) say
// what a registry webhook is about in one shape — Docker Hub, ACR, Harbor, Quay, GHCR, GitLab,
// Artifactory, a distribution registry, ECR's CloudEvents — where Brigade left each script
// to parse each registry's format from `e.payload` itself.
//
//   brig run -f samples/any-registry/brigade.js -e image_push -p samples/any-registry/harbor-push.json
//
// prints:
//   harbor push of hub.harbor.com/test-webhook/debian:latest by admin
//   smoke test: hub.harbor.com/test-webhook/debian:latest answers
//
// with -p samples/any-registry/quay-push.json:
//   quay push of quay.io/dgangaia/test:latest
//   smoke test: quay.io/dgangaia/test:latest answers
//
// with -p samples/any-registry/registry-envelope.json (a distribution registry's envelope
// of two pushes; e.images names both, e.image only the first):
//   distribution push of registry:5000/jplock/zookeeper@sha256:55d2be3e…
//   smoke test: registry:5000/jplock/zookeeper@sha256:55d2be3e… answers
//   distribution push of registry:5000/ubuntu@sha256:2dbe4abf…
//   smoke test: registry:5000/ubuntu@sha256:2dbe4abf… answers
//
// and with -p samples/any-registry/harbor-pulled.json (a pull is no reason to test anything):
//   ignoring cloudevent pull of harbor.dev/library/busybox@sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c
const { events, Job } = require("brigadier");

events.on("image_push", async (e) => {
  if (e.image === null) {
    console.log("not a registry event");
    return;
  }
  const pushed = e.images.filter((image) => image.action === "push");
  if (pushed.length === 0) {
    console.log(`ignoring ${e.image.format} ${e.image.action} of ${e.image.reference}`);
    return;
  }
  // One webhook can name several images: each is tested, one after another.
  for (const [n, image] of pushed.entries()) {
    console.log(`${image.format} push of ${image.reference}${image.pusher ? ` by ${image.pusher}` : ""}`);
    const smoke = new Job(`smoke-test-${n + 1}`, image.reference, [`echo "${image.reference} answers"`]);
    const result = await smoke.run();
    console.log(`smoke test: ${result.toString().trim()}`);
  }
});
