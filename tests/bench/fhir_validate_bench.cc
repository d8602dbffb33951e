// Validations per second of a ketamine infusion order (fhir-profiles/examples/valid, compact JSON,
// about 1.4 KB) with everything on: JSON parse, base R4 structure, the ketamine profile picked by
// auto-apply, and the clinical limits. One thread.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "fhir/json.h"
#include "profiles/validator.h"

namespace {

using ketamine::profiles::Validator;

std::string CompactExample(const char* name) {
  std::ifstream in(std::string(KETAMINE_PROFILES_DIR) + "/examples/valid/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  auto doc = ketamine::fhir::ParseJson(text.str());
  if (!doc.ok()) std::abort();
  return ketamine::fhir::ToJson(**doc);
}

const Validator& Shared() {
  static auto v = Validator::Load(KETAMINE_PROFILES_DIR);
  if (!v.ok()) std::abort();
  return **v;
}

void BM_ValidateText(benchmark::State& state, const char* file) {
  std::string text = CompactExample(file);
  const Validator& v = Shared();
  for (auto _ : state) {
    auto issues = v.ValidateText(text);
    benchmark::DoNotOptimize(issues);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_ValidateParsed(benchmark::State& state, const char* file) {
  auto doc = ketamine::fhir::ParseJson(CompactExample(file));
  const Validator& v = Shared();
  for (auto _ : state) {
    auto issues = v.Validate(**doc);
    benchmark::DoNotOptimize(issues);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseOnly(benchmark::State& state, const char* file) {
  std::string text = CompactExample(file);
  std::string scratch;
  for (auto _ : state) {
    rapidjson::Document doc;
    benchmark::DoNotOptimize(ketamine::fhir::ParseJsonInto(text, scratch, doc));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK_CAPTURE(BM_ParseOnly, MedicationRequest, "MedicationRequest-ketamine-infusion.json");
BENCHMARK_CAPTURE(BM_ValidateText, MedicationRequest, "MedicationRequest-ketamine-infusion.json");
BENCHMARK_CAPTURE(BM_ValidateParsed, MedicationRequest, "MedicationRequest-ketamine-infusion.json");
BENCHMARK_CAPTURE(BM_ValidateText, PainScore, "Observation-pain-score-before.json");

}  // namespace

BENCHMARK_MAIN();
