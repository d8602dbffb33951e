#!/usr/bin/env bash
# Where a REST write's CPU goes: a release gateway under wrk (POST of the pain-score Observation,
# as run_http_load.sh) for SECONDS, measured in the middle of the run. Prints the requests stored
# per second, the machine's busy share (and how much of the rest waited on I/O), the store's mean
# group size, and the CPU per stored request of each gateway thread (by name) and of wrk, in µs.
# The host's speed drifts from minute to minute: compare builds by alternating runs.
#   tests/bench/run_http_profile.sh [CONNECTIONS=32] [SECONDS=8] [BINARY=build/release/.../ketamine-gateway]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
connections=${1:-32}
seconds=${2:-8}
binary=${3:-}
if [ -z "$binary" ]; then
  cmake --preset release >/dev/null
  cmake --build build/release -j"$(nproc)" --target ketamine-gateway >/dev/null
  binary=build/release/adapter/cli/ketamine-gateway
fi
data=$(mktemp -d "${TMPDIR:-/tmp}/kgw-profile-XXXXXX")
out="$data.out"
lua="$data.lua"
. tests/bench/wrk_post.sh
wrk_post_observation "$lua"
echo '{}' > "$data.json"
KETAMINE_PROFILES_DIR="$root/fhir-profiles" "$binary" serve --config "$data.json" --data-dir "$data" \
  --mllp-port 0 --http-port 0 >"$out" 2>/dev/null &
pid=$!
wrk_pid=""
trap 'kill $pid $wrk_pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.json" "$out" "$lua"' EXIT
for _ in $(seq 100); do grep -q "listening http" "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening http .*:\([0-9]*\)$/\1/p' "$out")
wrk -t2 -c"$connections" -d"$((seconds + 4))s" -s "$lua" "http://127.0.0.1:$port/fhir/Observation" >/dev/null &
wrk_pid=$!
sleep 2
# One snapshot: CPU ticks of each gateway thread (by name) and of wrk, the machine's counters, and
# the store's commits and appends.
# Threads that kept the process's name are the main thread and cpprestsdk's pool (the HTTP work).
unnamed=$(basename "$binary" | cut -c1-15)
snapshot() {
  for task in /proc/"$pid"/task/*; do
    name=$(tr ' ' _ < "$task/comm")
    [ "$name" = "$unnamed" ] && name=http-pool-and-main
    echo "thread $name $(awk '{print $14 + $15}' "$task/stat")"
  done
  echo "thread wrk $(awk '{print $14 + $15}' /proc/"$wrk_pid"/stat)"
  head -1 /proc/stat
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^ketamine_store_(commits|appends)_total '
}
before=$(snapshot)
sleep "$seconds"
after=$(snapshot)
wait "$wrk_pid" 2>/dev/null || true
wrk_pid=""
python3 - "$before" "$after" "$seconds" "$(getconf CLK_TCK)" <<'PY'
import json, sys
def parse(text):
    threads, cpu, store = {}, None, {}
    for line in text.splitlines():
        f = line.split()
        if f[0] == "thread":
            threads[f[1]] = threads.get(f[1], 0) + int(f[2])
        elif f[0] == "cpu":
            cpu = [int(x) for x in f[1:8]]  # user nice system idle iowait irq softirq
        else:
            store[f[0]] = float(f[1])
    return threads, cpu, store
(t0, c0, s0), (t1, c1, s1) = parse(sys.argv[1]), parse(sys.argv[2])
seconds, tick = float(sys.argv[3]), float(sys.argv[4])
stored = s1["ketamine_store_appends_total"] - s0["ketamine_store_appends_total"]
commits = s1["ketamine_store_commits_total"] - s0["ketamine_store_commits_total"]
d = [b - a for a, b in zip(c0, c1)]
total = sum(d)
per_request = {name: round((t1[name] - t0.get(name, 0)) / tick / stored * 1e6, 1)
               for name in sorted(t1) if t1[name] > t0.get(name, 0)}
print(json.dumps({
    "stored_per_s": round(stored / seconds),
    "group_size": round(stored / commits, 1) if commits else None,
    "machine_busy": round(1 - (d[3] + d[4]) / total, 3),
    "machine_iowait": round(d[4] / total, 3),
    "cpu_us_per_request": per_request,
}))
PY
