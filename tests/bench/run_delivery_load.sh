#!/usr/bin/env bash
# MLLP in to FHIR delivered: a release gateway takes RDE^O11 over MLLP (durable ACK, conversion and
# validation before it) from N connections for S seconds, spread over P patients, and delivers each
# message's transaction Bundle through the outbox to a FHIR endpoint (tests/bench/fhir_sink.mjs).
# Prints the MLLP figures, then the delivery figures: messages delivered per second over the load
# window, how long the outbox took to drain after it, and repeats (must be 0). ITEMS is the
# destination's items_per_request (messages merged into one transaction per request; 1: each alone).
# KGW_STORE=postgres stores in a throwaway PostgreSQL cluster (tests/integration/pg_cluster.sh).
# BINARY runs that gateway instead of the release build (to alternate two builds: the host's speed
# drifts from minute to minute).
#   tests/bench/run_delivery_load.sh [CONNECTIONS=16] [SECONDS=20] [PATIENTS=2000] [CONCURRENCY=8] [ITEMS=1] [BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
connections=${1:-16}
seconds=${2:-20}
patients=${3:-2000}
concurrency=${4:-8}
items=${5:-1}
binary=${6:-build/release/adapter/cli/ketamine-gateway}
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target ketamine-gateway mllp_load >/dev/null
data=$(mktemp -d "${TMPDIR:-/tmp}/kgw-delivery-XXXXXX")
out=$(mktemp)
sink_out=$(mktemp)
node tests/bench/fhir_sink.mjs >"$sink_out" &
sink=$!
pid=""
. tests/bench/store.sh
trap 'kill $pid $sink 2>/dev/null; wait $pid $sink 2>/dev/null; rm -rf "$data" "$data.json" "$out" "$sink_out"
      bench_store_stop' EXIT
bench_store_start
for _ in $(seq 100); do grep -q "listening http" "$sink_out" && break; sleep 0.1; done
sink_port=$(sed -n 's/^listening http .*:\([0-9]*\)$/\1/p' "$sink_out")
cat > "$data.json" <<JSON
{ "store": $store,
  "routing": {
    "destinations": { "registry": { "type": "fhir", "url": "http://127.0.0.1:$sink_port/fhir", "concurrency": $concurrency, "items_per_request": $items } },
    "routes": [ { "name": "orders", "match": { "message_type": ["RDE^O11"] }, "destinations": ["registry"] } ] } }
JSON
"$binary" serve --config "$data.json" --data-dir "$data" --mllp-port 0 --http-port 0 >"$out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q "listening mllp" "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening mllp .*:\([0-9]*\)$/\1/p' "$out")
start_ms=$(date +%s%3N)
build/release/tests/mllp_load "127.0.0.1:$port" --connections "$connections" --seconds "$seconds" --patients "$patients" \
  --message tests/bench/data/RDE_O11-bench.hl7
load_end_ms=$(date +%s%3N)
stats() { curl -s "http://127.0.0.1:$sink_port/stats"; }
unique_at_load_end=$(stats | sed -n 's/.*"unique":\([0-9]*\).*/\1/p')
stored=$(bench_stored_messages "$data")
# Drain: wait until the sink has every stored message (at most 10 minutes).
for _ in $(seq 6000); do
  unique=$(stats | sed -n 's/.*"unique":\([0-9]*\).*/\1/p')
  [ "$unique" -ge "$stored" ] && break
  sleep 0.1
done
drain_end_ms=$(date +%s%3N)
final=$(stats)
repeated=$(echo "$final" | sed -n 's/.*"repeated":\([0-9]*\).*/\1/p')
awk -v s="$start_ms" -v l="$load_end_ms" -v d="$drain_end_ms" -v at_end="$unique_at_load_end" -v stored="$stored" \
    -v unique="$unique" -v repeated="$repeated" 'BEGIN {
  printf "{\"acked_messages\":%d,\"delivered\":%d,\"repeated\":%d,\"delivered_during_load\":%d,", stored, unique, repeated, at_end;
  printf "\"delivered_per_s_during_load\":%.0f,\"delivered_per_s_overall\":%.0f,\"drain_after_load_s\":%.2f}\n",
    at_end / ((l - s) / 1000), unique / ((d - s) / 1000), (d - l) / 1000 }'
