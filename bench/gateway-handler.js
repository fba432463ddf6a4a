// The handler the gateway benchmarks run: parse the Docker Hub payload, run one job
// (the bench project uses the simulate runner, so the job itself costs nothing).
const { events, Job } = require("brigadier");

events.on("image_push", async (e, p) => {
  const hook = JSON.parse(e.payload);
  const job = new Job("test", `${hook.repository.repo_name}:${hook.push_data.tag}`, ["echo testing"]);
  await job.run();
});
