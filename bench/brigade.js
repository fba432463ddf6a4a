// The script every per-build benchmark runs: a Brigade-style image_push handler that
// parses the Docker Hub payload, logs, and awaits two jobs in turn, plus an after handler.
const { events, Job } = require("brigadier");

events.on("image_push", async (e, p) => {
  const hook = JSON.parse(e.payload);
  const image = `${hook.repository.repo_name}:${hook.push_data.tag}`;
  console.log(`pushed ${image} by ${hook.push_data.pusher}`);

  const test = new Job("test", image, ["echo testing"]);
  test.env = { IMAGE: image };
  await test.run();
  console.log(`tested ${image}`);

  const deploy = new Job("deploy", "alpine:3.18", ["echo deploying"]);
  deploy.env = { IMAGE: image, REF: e.revision.ref };
  await deploy.run();
  console.log(`deployed ${image}`);
});

events.on("after", (e) => console.log(`build ${e.buildID} done: ${e.cause.trigger}`));
