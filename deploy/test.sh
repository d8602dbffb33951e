#!/usr/bin/env bash
# Runs the whole test suite from a clean checkout: installs what is missing, then
#   1. the default build: unit tests, integration tests against real peers, fuzz corpus replays;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for FUZZ_SECONDS (default 30) on top of its seed corpus (longer runs:
#      tests/fuzz/run.sh SECONDS).
# Set KETAMINE_SKIP_ASAN=1 or FUZZ_SECONDS=0 to skip a stage while iterating locally.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

bash deploy/setup.sh

stage() { echo; echo "=== $* ==="; }

stage "default build"
cmake --preset default -G Ninja >/dev/null
cmake --build build/default -j"$jobs"
stage "tests (default build)"
ctest --preset default -j"$jobs"

if [ "${KETAMINE_SKIP_ASAN:-0}" != "1" ]; then
  stage "asan build"
  cmake --preset asan -G Ninja >/dev/null
  cmake --build build/asan -j"$jobs"
  stage "tests (asan build)"
  ctest --preset asan -j"$jobs"  # the preset sets ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS
fi

fuzz_seconds=${FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != "0" ]; then
  stage "fuzzing, ${fuzz_seconds} s per target"
  cmake --preset fuzz -G Ninja >/dev/null
  cmake --build build/fuzz -j"$jobs" --target fuzz_all
  bash tests/fuzz/run.sh "$fuzz_seconds"
fi
echo
echo "all test stages passed"
