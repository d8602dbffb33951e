#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS (default 60) from its seed corpus; new inputs go to a
# scratch folder, crashes to tests/fuzz/crashes/ (add a minimised one to the corpus to keep it).
#   cmake --preset fuzz && cmake --build build/fuzz --target fuzz_all && tests/fuzz/run.sh 600
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
seconds=${1:-60}
samples="$root/../shared/samples/hl7v2"
# The same LeakSanitizer suppressions as the asan test preset (cpprestsdk's never-run continuations).
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Undefined behaviour is a finding, not a line in the log: clang's UBSan only prints unless told to
# stop. RapidJSON's one known case is suppressed (tests/sanitizers/ubsan.supp).
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp:halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kgw-fuzz-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p tests/fuzz/crashes
status=0
# Every target has its seed corpus folder (tests/CMakeLists.txt lists the targets and builds them
# as fuzz_all): the folders name the targets here.
for target in $(ls tests/fuzz/corpus); do
  if [ ! -x "build/fuzz/tests/${target}_fuzz" ]; then
    echo "fuzz: $target not built (cmake --build build/fuzz --target fuzz_all)"
    status=1
    continue
  fi
  extra=()
  if [ "$target" = hl7v2_parse ] || [ "$target" = hl7v2_convert ] || [ "$target" = mllp_pipeline ]; then
    [ -d "$samples" ] && extra+=("$samples")
    extra+=(tests/data/hl7v2)
  fi
  [ "$target" = fhir_validate ] && extra+=(fhir-profiles/examples/valid fhir-profiles/examples/invalid)
  [ "$target" = fhir_to_v2 ] && extra+=(fhir-profiles/examples/valid)
  [ "$target" = csv_convert ] && extra+=(tests/data/csv)
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! build/fuzz/tests/${target}_fuzz -max_total_time="$seconds" -max_len=8192 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=tests/fuzz/crashes/${target}- \
      "$scratch/$target" "tests/fuzz/corpus/$target" "${extra[@]}" >"$scratch/$target.log" 2>&1; then
    tail -40 "$scratch/$target.log"
    echo "fuzz: $target FAILED"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$scratch/$target.log" | sed "s/^/fuzz: $target /"
  fi
done
exit $status
