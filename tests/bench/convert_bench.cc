// Full HL7 v2 -> FHIR conversion of a realistic 2 KB RDE^O11 (parse, map, serialize the Bundle),
// and the same plus validation of the Bundle (what `serve` does before the ACK). One thread.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "bench_files.h"
#include "fhir/json.h"
#include "mapping/converter.h"
#include "profiles/validator.h"

namespace {

using namespace ketamine;

std::string Load(const std::string& file) { return ketamine::bench::LoadOrAbort(file); }

const mapping::Converter& Converter() {
  static auto c = mapping::Converter::Load({std::string(KETAMINE_SOURCE_DIR) + "/mappings"});
  if (!c.ok()) std::abort();
  return **c;
}

const profiles::Validator& Validator() {
  static auto v = profiles::Validator::Load(std::string(KETAMINE_SOURCE_DIR) + "/fhir-profiles");
  if (!v.ok()) std::abort();
  return **v;
}

void BM_Convert(benchmark::State& state, const char* file, bool validate) {
  std::string text = Load(file);
  const auto& converter = Converter();
  const auto& validator = Validator();
  mapping::ConvertOptions options;
  options.default_timezone = "-05:00";
  size_t out_bytes = 0;
  for (auto _ : state) {
    auto msg = hl7v2::Parse(std::string_view(text));
    auto result = converter.ToFhir(*msg, options);
    std::string json = fhir::ToJson(*result->bundle);
    out_bytes += json.size();
    if (validate) benchmark::DoNotOptimize(validator.Validate(*result->bundle));
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bundle_bytes"] = static_cast<double>(out_bytes) / static_cast<double>(state.iterations());
}

BENCHMARK_CAPTURE(BM_Convert, RDE_O11, KETAMINE_SOURCE_DIR "/tests/bench/data/RDE_O11-bench.hl7", false);
BENCHMARK_CAPTURE(BM_Convert, RDE_O11_and_validate, KETAMINE_SOURCE_DIR "/tests/bench/data/RDE_O11-bench.hl7", true);
BENCHMARK_CAPTURE(BM_Convert, ORU_R01, KETAMINE_SOURCE_DIR "/tests/bench/data/ORU_R01-bench.hl7", false);

}  // namespace

BENCHMARK_MAIN();
