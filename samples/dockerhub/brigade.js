// A Docker Hub push webhook: Brigade's `image_push` event, with the registry's JSON
// body as e.payload (a string, exactly as Docker Hub sent it).
//
//   brig run -f samples/dockerhub/brigade.js -e image_push -p samples/dockerhub/payload.json
//
// prints:
//   pushed svendowideit/testhook:latest by trustedbuilder
//   testing svendowideit/testhook:latest
//   test job said: image under test: svendowideit/testhook:latest
const { events, Job } = require("brigadier");

events.on("image_push", (e, p) => {
  var docker = JSON.parse(e.payload);
  var image = docker.repository.repo_name + ":" + docker.push_data.tag;
  console.log("pushed " + image + " by " + docker.push_data.pusher);

  // Run the new image's tests. With --runner local the tasks run here with /bin/sh;
  // the container runner runs them inside the image itself.
  var test = new Job("test-image", image);
  test.env = { IMAGE: image };
  test.tasks = [
    "echo image under test: $IMAGE",
  ];
  console.log("testing " + image);
  return test.run().then((result) => {
    console.log("test job said: " + result.toString().trim());
  });
});
