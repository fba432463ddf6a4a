// An Azure Container Registry webhook. ACR posts one JSON document per event and says
// what happened in `action` (push, delete, chart_push, ...); the pushed tag is in
// `target.tag`. Brigade delivered these as `image_push` too.
//
//   brig run -f samples/acr/brigade.js -e image_push -p samples/acr/payload.json
//
// prints:
//   ACR push of myregistry.azurecr.io/hello-world:v1
//   digest sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d
//   smoke test: hello-world:v1 answers
//
// and with -p samples/acr/payload-delete.json (a delete names the digest, not a tag):
//   ignoring ACR delete of hello-world@sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d
const { events, Job } = require("brigadier");

events.on("image_push", async (e, p) => {
  const hook = JSON.parse(e.payload);
  const tag = hook.target.tag
    ? `${hook.target.repository}:${hook.target.tag}`
    : `${hook.target.repository}@${hook.target.digest}`;
  if (hook.action !== "push") {
    console.log(`ignoring ACR ${hook.action} of ${tag}`);
    return;
  }
  console.log(`ACR push of ${hook.request.host}/${tag}`);
  console.log(`digest ${hook.target.digest}`);

  const smoke = new Job("smoke-test", `${hook.request.host}/${tag}`, [`echo "${tag} answers"`]);
  const result = await smoke.run();
  console.log(`smoke test: ${result.toString().trim()}`);
});
