// A pipeline on a Docker Hub push: three jobs run one after another with
// Group.runEach and pass files on through the build's shared storage
// (storage.enabled, mounted at /mnt/brigade/share).
//
//   brig run -f samples/pipeline/brigade.js -e image_push -p samples/pipeline/payload.json
//
// prints:
//   fetch: wrote the image name
//   test: tested svendowideit/testhook:latest
//   report: svendowideit/testhook:latest passed on master
const { events, Job, Group } = require("brigadier");

events.on("image_push", (e, p) => {
  const hook = JSON.parse(e.payload);
  const image = `${hook.repository.repo_name}:${hook.push_data.tag}`;

  const fetch = new Job("fetch", image, [
    'echo "$IMAGE" > /mnt/brigade/share/image',
    "echo wrote the image name",
  ]);
  const test = new Job("test", image, [
    'echo "tested $(cat /mnt/brigade/share/image)"',
    'echo passed > /mnt/brigade/share/result',
  ]);
  const report = new Job("report", "alpine:3.18", [
    'echo "$(cat /mnt/brigade/share/image) $(cat /mnt/brigade/share/result) on $REF"',
  ]);
  const jobs = [fetch, test, report];
  for (const job of jobs) {
    job.storage.enabled = true;
    job.env = { IMAGE: image, REF: e.revision.ref };
  }

  return Group.runEach(jobs).then((results) => {
    results.forEach((result, i) => console.log(`${jobs[i].name}: ${result.toString().trim()}`));
  });
});
