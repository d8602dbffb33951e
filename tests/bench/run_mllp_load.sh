#!/usr/bin/env bash
# MLLP with durable ACK on loopback: starts a release gateway on a fresh data folder and port 0,
# drives it with N connections for S seconds, prints the figures, stops the gateway.
#   tests/bench/run_mllp_load.sh [CONNECTIONS=16] [SECONDS=10] [MESSAGE=tests/bench/data/RDE_O11-bench.hl7]
# KGW_CONVERT=0 measures the durable-ACK path alone (no conversion and validation before the ACK).
# KGW_STORE=postgres stores in a throwaway PostgreSQL cluster (tests/integration/pg_cluster.sh)
# instead of SQLite.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
connections=${1:-16}
seconds=${2:-10}
message=${3:-tests/bench/data/RDE_O11-bench.hl7}
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target ketamine-gateway mllp_load >/dev/null
data=$(mktemp -d "${TMPDIR:-/tmp}/kgw-load-XXXXXX")
out=$(mktemp)
config="$data.json"
convert=true
if [ "${KGW_CONVERT:-1}" = "0" ]; then convert=false; fi
. tests/bench/store.sh
bench_store_start
echo "{\"convert_and_validate\": $convert, \"store\": $store}" > "$config"
build/release/adapter/cli/ketamine-gateway serve --config "$config" --data-dir "$data" --mllp-port 0 --http-port 0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out" "$config"; bench_store_stop' EXIT
for _ in $(seq 100); do grep -q "listening mllp" "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening mllp .*:\([0-9]*\)$/\1/p' "$out")
build/release/tests/mllp_load "127.0.0.1:$port" --connections "$connections" --seconds "$seconds" --message "$message"
stored=$(bench_stored_messages "$data")
echo "{\"stored_messages\":$stored}"
