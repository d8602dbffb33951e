#!/usr/bin/env bash
# REST facade load on loopback with wrk: POST of a pain-score Observation (validated, stored with
# an fsync'd group commit, answered 201 after the commit) against a release gateway, and in the
# same run the same POST against a trivial cpprestsdk handler (reads the body, answers 201) as the
# yardstick. The host's speed drifts from minute to minute, so the two take turns for ROUNDS
# rounds (gateway first in odd rounds, the yardstick first in even ones). Prints each round, the
# mean rate of each, the worst p99 and the ratio of the means.
#   tests/bench/run_http_load.sh [CONNECTIONS=32] [SECONDS=10] [THREADS=2] [ROUNDS=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
connections=${1:-32}
seconds=${2:-10}
threads=${3:-2}
rounds=${4:-3}
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target ketamine-gateway http_trivial >/dev/null
data=$(mktemp -d "${TMPDIR:-/tmp}/kgw-http-XXXXXX")
out=$(mktemp)
trivial_out=$(mktemp)
lua=$(mktemp --suffix=.lua)
. tests/bench/wrk_post.sh
wrk_post_observation "$lua"
echo '{}' > "$data.json"
build/release/adapter/cli/ketamine-gateway serve --config "$data.json" --data-dir "$data" --mllp-port 0 --http-port 0 >"$out" 2>/dev/null &
pid=$!
build/release/tests/http_trivial 0 >"$trivial_out" &
trivial=$!
trap 'kill $pid $trivial 2>/dev/null; wait $pid $trivial 2>/dev/null; rm -rf "$data" "$data.json" "$out" "$trivial_out" "$lua"' EXIT
for _ in $(seq 100); do grep -q "listening http" "$out" && grep -q "listening http" "$trivial_out" && break; sleep 0.1; done
port=$(sed -n 's/^listening http .*:\([0-9]*\)$/\1/p' "$out")
trivial_port=$(sed -n 's/^listening http .*:\([0-9]*\)$/\1/p' "$trivial_out")
run() {
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$lua" "$1" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$5}
         END {printf "{\"requests_per_s\":%s,\"p50\":\"%s\",\"p99\":\"%s\",\"non_2xx\":%d}", rps, p50, p99, bad+0}'
}
rounds_json=""
for round in $(seq "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then
    gateway=$(run "http://127.0.0.1:$port/fhir/Observation")
    yardstick=$(run "http://127.0.0.1:$trivial_port/fhir/Observation")
  else
    yardstick=$(run "http://127.0.0.1:$trivial_port/fhir/Observation")
    gateway=$(run "http://127.0.0.1:$port/fhir/Observation")
  fi
  rounds_json="$rounds_json${rounds_json:+,}{\"gateway_post_observation\":$gateway,\"trivial_cpprestsdk_post\":$yardstick}"
done
stored=$(sqlite3 "$data/gateway.db" "SELECT COUNT(*) FROM resources WHERE type = 'Observation'")
python3 - "$rounds_json" "$stored" <<'PY'
import json, sys
rounds = json.loads("[" + sys.argv[1] + "]")
def ms(text):  # wrk prints 850.00us, 3.21ms or 1.02s
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit): return float(text[:-len(unit)]) * f
    return float("nan")
mean = lambda key: sum(r[key]["requests_per_s"] for r in rounds) / len(rounds)
gateway, trivial = mean("gateway_post_observation"), mean("trivial_cpprestsdk_post")
print(json.dumps({
    "rounds": rounds,
    "gateway_requests_per_s": round(gateway),
    "gateway_worst_p99_ms": max(ms(r["gateway_post_observation"]["p99"]) for r in rounds),
    "gateway_non_2xx": sum(r["gateway_post_observation"]["non_2xx"] for r in rounds),
    "trivial_requests_per_s": round(trivial),
    "gateway_share_of_trivial": round(gateway / trivial, 3),
    "stored_observations": int(sys.argv[2]),
}))
PY
