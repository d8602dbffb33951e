#!/usr/bin/env bash
# Parse speed: our parser (Google Benchmark) and @medplum/core's Hl7Message.parse on the same
# 1-2 KB RDE^O11 and ORU^R01 messages, in one run, then the ratio. Needs the release preset.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target hl7v2_parse_bench >/dev/null
ours=$(build/release/tests/hl7v2_parse_bench --benchmark_format=json --benchmark_min_time=1 2>/dev/null)
theirs=$(node tests/bench/medplum_parse_bench.mjs)
echo "$theirs"
node -e '
const ours = JSON.parse(process.argv[1]).benchmarks;
const theirs = process.argv[2].trim().split("\n").map(JSON.parse);
for (const b of ours) {
  const msg = b.name.split("/")[1];
  const m = theirs.find(t => t.message.startsWith(msg));
  const mps = b.items_per_second, mbs = b.bytes_per_second / 1e6;
  const line = {benchmark: b.name, messages_per_second: Math.round(mps), mb_per_second: +mbs.toFixed(1)};
  if (m && b.name.startsWith("BM_Parse")) line.times_medplum = +(mps / m.messages_per_second).toFixed(1);
  console.log(JSON.stringify(line));
}' "$ours" "$theirs"
