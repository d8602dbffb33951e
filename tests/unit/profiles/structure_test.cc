#include <gtest/gtest.h>

#include "fhir/operation_outcome.h"
#include "profiles/validator.h"
#include "shared_validator.h"

namespace ketamine::profiles {
namespace {


std::vector<std::string> Codes(const Issues& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues.items()) {
    if (i.severity == Severity::kError) out.push_back(i.code + "@" + i.location.ToString());
  }
  return out;
}

TEST(StructureTest, LocationsAreFhirPathsWithIndexes) {
  auto issues = Shared()->ValidateText(R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
    "component":[{"code":{"text":"a"}},{"code":{"text":"b"},"valueQuantity":{"value":"x"}}]})");
  EXPECT_EQ(Codes(issues), std::vector<std::string>{"type-mismatch@Observation.component[1].valueQuantity.value"});
}

TEST(StructureTest, PrimitiveExtensionsAndNullAlignment) {
  auto ok = Shared()->ValidateText(R"({"resourceType":"Patient","given":null,
    "name":[{"given":["A",null],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}]})");
  EXPECT_EQ(Codes(ok), std::vector<std::string>{"unknown-element@Patient.given"});
  auto mismatch = Shared()->ValidateText(R"({"resourceType":"Patient","name":[{"given":["A"],"_given":[null,null]}]})");
  EXPECT_EQ(Codes(mismatch), std::vector<std::string>{"structure-primitive-extension@Patient.name[0].given"});
  auto status_only_extension = Shared()->ValidateText(R"({"resourceType":"MedicationRequest","_status":{"extension":[{"url":"http://x","valueCode":"a"}]},
    "intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"}})");
  EXPECT_TRUE(Codes(status_only_extension).empty());
}

TEST(StructureTest, BadDocumentsAreIssuesNotCrashes) {
  EXPECT_EQ(Shared()->ValidateText("{").items().front().code, "json-invalid");
  EXPECT_EQ(Shared()->ValidateText("{} trailing").items().front().code, "json-invalid");
  EXPECT_EQ(Shared()->ValidateText(std::string(100000, '[')).items().front().code, "too-large");  // refused before parsing
  EXPECT_EQ(Shared()->ValidateText(std::string(100, '[') + std::string(100, ']')).items().front().code, "too-large");
  EXPECT_EQ(Shared()->ValidateText("[1,2]").items().front().code, "structure-not-object");
  EXPECT_EQ(Shared()->ValidateText(R"({"hello":"world"})").items().front().code, "structure-resource-type");
  EXPECT_EQ(Shared()->ValidateText(R"({"resourceType":"Spaceship"})").items().front().code, "unsupported-resource-type");
  EXPECT_EQ(Shared()->ValidateText("\"\xff\xfe\"").items().front().code, "json-invalid");
  // Found by the fuzzer: a number where the pain profile slices extensions by url.
  auto number_extension = Shared()->ValidateText(R"({"resourceType":"Observation","status":"final","extension":[7],
    "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"72514-3"}]},"subject":{"reference":"Patient/p"},
    "effectiveDateTime":"2026-11-23T08:55:00-05:00","valueInteger":8})");
  EXPECT_EQ(Codes(number_extension), std::vector<std::string>{"type-mismatch@Observation.extension[0]"});
}

TEST(StructureTest, BundleEntriesAreValidatedAsResources) {
  auto issues = Shared()->ValidateText(R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient","birthDate":"1979-13-01"}}]})");
  EXPECT_EQ(Codes(issues), std::vector<std::string>{"format-date@Bundle.entry[0].resource.birthDate"});
}

TEST(StructureTest, OperationOutcomeCarriesExpressionAndRule) {
  auto issues = Shared()->ValidateText(R"({"resourceType":"MedicationRequest","status":"bogus","intent":"order",
    "medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"}})");
  std::string oo = fhir::OperationOutcomeJson(issues);
  EXPECT_NE(oo.find(R"("expression":["MedicationRequest.status"])"), std::string::npos) << oo;
  EXPECT_NE(oo.find(R"("code":"code-invalid")"), std::string::npos) << oo;
  EXPECT_NE(oo.find(R"("code":"binding-required")"), std::string::npos) << oo;
}

}  // namespace
}  // namespace ketamine::profiles
