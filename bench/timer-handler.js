// The handler of the memory benchmark: a build that stays alive for 30 s awaiting a
// timer, with the parsed payload held in its context.
const { events } = require("brigadier");

events.on("image_push", async (e, p) => {
  const hook = JSON.parse(e.payload);
  await new Promise((resolve) => setTimeout(resolve, 30000));
  console.log(`held ${hook.repository.repo_name}`);
});
