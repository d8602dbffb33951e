// Fuzzes JSON Patch (fhir/json_patch.h), what a REST PATCH applies to a stored resource. The input
// is a patch, then an empty line and the document it applies to (a ketamine order when there is
// none). Properties: no crash; a patch either applies or gives an error; what it makes serializes
// to JSON that parses again; and the same patch on a fresh copy makes the same document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/check.h"
#include "fhir/json.h"
#include "fhir/json_patch.h"

namespace {

constexpr std::string_view kOrder =
    R"({"resourceType":"MedicationRequest","id":"o1","status":"active","note":[{"text":"a"},{"text":"b"}],)"
    R"("dosageInstruction":[{"text":"0.5 mg/kg/h","doseAndRate":[{"rateQuantity":{"value":0.5}}]}]})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find("\n\n");
  const std::string_view patch_text = in.substr(0, split);
  const std::string_view doc_text = split == std::string_view::npos ? kOrder : in.substr(split + 2);
  auto patch = ketamine::fhir::ParseJson(patch_text);
  auto doc = ketamine::fhir::ParseJson(doc_text);
  if (!patch.ok() || !doc.ok()) return 0;
  const ketamine::Status applied = ketamine::fhir::ApplyJsonPatch(**patch, **doc);
  if (!applied.ok()) {
    KETAMINE_CHECK(applied.code() == ketamine::StatusCode::kInvalidInput ||
                   applied.code() == ketamine::StatusCode::kConflict);
    return 0;
  }
  const std::string made = ketamine::fhir::ToJson(**doc);
  KETAMINE_CHECK(ketamine::fhir::ParseJson(made, {.max_bytes = 64u << 20, .max_depth = 1 << 20}).ok());
  auto again = ketamine::fhir::ParseJson(doc_text);
  KETAMINE_CHECK(again.ok() && ketamine::fhir::ApplyJsonPatch(**patch, **again).ok());
  KETAMINE_CHECK(ketamine::fhir::ToJson(**again) == made);
  return 0;
}
