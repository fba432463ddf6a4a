-- wrk: POST the Docker Hub sample payload.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open("samples/dockerhub/payload.json", "rb")
wrk.body = file:read("*a")
file:close()
