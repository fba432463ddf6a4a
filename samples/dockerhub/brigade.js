// A Docker Hub push webhook: Brigade's `image_push` event, with the registry's JSON
// body in e.payload (a string, exactly as Docker Hub sent it). The handler tests the
// image that was just pushed.
//
//   brig run -f samples/dockerhub/brigade.js -e image_push -p samples/dockerhub/payload.json
//
// prints:
//   pushed svendowideit/testhook:latest by trustedbuilder
//   test-image: testing svendowideit/testhook:latest
//   test-image: 2 checks passed
const { events, Job } = require("brigadier");

events.on("image_push", (e, p) => {
  var docker = JSON.parse(e.payload);
  var image = docker.repository.repo_name + ":" + docker.push_data.tag;
  console.log("pushed " + image + " by " + docker.push_data.pusher);

  // The tasks run inside the pushed image with the container runner; with the local
  // runner (the default of `brig run`) they run here with /bin/sh.
  var test = new Job("test-image", image);
  test.env = { IMAGE: image };
  test.tasks = [
    "echo testing $IMAGE",
    'test -n "$IMAGE"',
    'case "$IMAGE" in *:*) ;; *) echo "no tag in $IMAGE"; exit 1 ;; esac',
    "echo 2 checks passed",
  ];
  return test.run().then((result) => {
    for (const line of result.toString().trim().split("\n")) {
      console.log(test.name + ": " + line);
    }
  });
});
