// One script for every registry. `e.image` (Brigantine's, not Brigade's) says what a
// registry webhook is about in one shape — Docker Hub, ACR, Harbor, Quay, GHCR, GitLab,
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
// and with -p samples/any-registry/harbor-pulled.json (a pull is no reason to test anything):
//   ignoring cloudevent pull of harbor.dev/library/busybox@sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c
const { events, Job } = require("brigadier");

events.on("image_push", async (e) => {
  const image = e.image;
  if (image === null) {
    console.log("not a registry event");
    return;
  }
  if (image.action !== "push") {
    console.log(`ignoring ${image.format} ${image.action} of ${image.reference}`);
    return;
  }
  console.log(`${image.format} push of ${image.reference}${image.pusher ? ` by ${image.pusher}` : ""}`);

  const smoke = new Job("smoke-test", image.reference, [`echo "${image.reference} answers"`]);
  const result = await smoke.run();
  console.log(`smoke test: ${result.toString().trim()}`);
});
