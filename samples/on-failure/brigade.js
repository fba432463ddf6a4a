// A test job fails and the script does not catch it. As in Brigade, the unhandled
// rejection fires the `error` event once, with the failure in e.cause.reason; the
// error handler turns it into a chat notice, using a project secret. The build still
// fails: `brig run` exits with status 2.
//
//   brig run --project-file samples/on-failure/project.yaml -f samples/on-failure/brigade.js \
//     -e image_push -p samples/on-failure/payload.json
//
// prints (among the worker's lines):
//   testing svendowideit/testhook:latest
//   notice: svendowideit/testhook:latest failed its tests (job test(test-<build ID>): Error: Pod test-<build ID> failed to run to completion)
//   notice sent with token ***
const { events, Job } = require("brigadier");

events.on("image_push", (e, p) => {
  const hook = JSON.parse(e.payload);
  const image = `${hook.repository.repo_name}:${hook.push_data.tag}`;
  console.log(`testing ${image}`);
  const test = new Job("test", image, ["echo running the suite", "exit 3"]);
  test.run(); // not caught: a failure becomes the build's error
});

events.on("error", async (e, p) => {
  const hook = JSON.parse(e.cause.event.payload);
  const image = `${hook.repository.repo_name}:${hook.push_data.tag}`;
  console.log(`notice: ${image} failed its tests (${e.cause.reason.message})`);

  const notify = new Job("notify", "curlimages/curl", ['echo "notice sent with token $CHAT_TOKEN"']);
  notify.env = { CHAT_TOKEN: p.secrets.CHAT_TOKEN };
  console.log((await notify.run()).toString().trim());
});
