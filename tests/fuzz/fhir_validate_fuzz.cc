// Fuzzes the FHIR JSON reader and the whole validator (structure, profiles, clinical rules).
// Properties: no crash, no hang; every issue has a rule code; the OperationOutcome is valid JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "profiles/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto validator = ketamine::profiles::Validator::Load(KETAMINE_PROFILES_DIR);
  KETAMINE_CHECK(validator.ok());
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ketamine::Issues issues = (*validator)->ValidateText(in);
  for (const auto& issue : issues.items()) KETAMINE_CHECK(!issue.code.empty());
  std::string outcome = ketamine::fhir::OperationOutcomeJson(issues);
  KETAMINE_CHECK(ketamine::fhir::ParseJson(outcome).ok());
  return 0;
}
