#!/usr/bin/env bash
# Validation speed: our validator (Google Benchmark, profile and clinical rules included) and
# Medplum's validateResource on the same resources, in one run, then the ratio.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target fhir_validate_bench >/dev/null
ours=$(build/release/tests/fhir_validate_bench --benchmark_format=json --benchmark_min_time=1 2>/dev/null)
theirs=$(node tests/bench/medplum_validate_bench.mjs)
echo "$theirs"
node -e '
const ours = JSON.parse(process.argv[1]).benchmarks;
const theirs = process.argv[2].trim().split("\n").map(JSON.parse);
for (const b of ours) {
  const which = b.name.includes("PainScore") ? "Observation" : "MedicationRequest";
  const m = theirs.find(t => t.resource.startsWith(which));
  const line = {benchmark: b.name, validations_per_second: Math.round(b.items_per_second)};
  if (m && b.name.startsWith("BM_ValidateText")) line.times_medplum = +(b.items_per_second / m.validations_per_second).toFixed(1);
  console.log(JSON.stringify(line));
}' "$ours" "$theirs"
