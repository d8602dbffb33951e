# Sourced by the REST load scripts (with $root set): writes the wrk script that POSTs the pain-score
# Observation example as application/fhir+json.
#   wrk_post_observation FILE
wrk_post_observation() {
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
local f = io.open("$root/fhir-profiles/examples/valid/Observation-pain-score-before.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA
}
