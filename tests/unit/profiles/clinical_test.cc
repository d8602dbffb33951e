#include "profiles/clinical.h"

#include <gtest/gtest.h>

#include "fhir/json.h"
#include "profiles/validator.h"
#include "shared_validator.h"

namespace ketamine::profiles {
namespace {


// A ketamine order in a Bundle with an 80 kg body weight, given one doseAndRate.
std::string Order(const std::string& dose_and_rate, const std::string& duration = "4", const std::string& unit = "h") {
  return R"({"resourceType":"Bundle","type":"collection","entry":[
    {"fullUrl":"http://x/fhir/Observation/w","resource":{"resourceType":"Observation","id":"w","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
      "valueQuantity":{"value":80,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}},
    {"resource":{"resourceType":"MedicationRequest","status":"active","intent":"order",
      "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"238082"}]},
      "subject":{"reference":"Patient/p"},"authoredOn":"2026-11-23","requester":{"reference":"Practitioner/d"},
      "dosageInstruction":[{"extension":[{"url":"http://fhir.ketamine-gateway.org/StructureDefinition/dosing-weight",
        "valueReference":{"reference":"Observation/w"}}],
        "timing":{"repeat":{"duration":)" + duration + R"(,"durationUnit":")" + unit + R"("}},
        "route":{"coding":[{"system":"http://snomed.info/sct","code":"47625008"}]},
        "doseAndRate":[)" + dose_and_rate + R"(],
        "maxDosePerAdministration":{"value":100,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}}]})";
}

std::string Rate(double value, const std::string& code) {
  return R"({"rateQuantity":{"value":)" + std::to_string(value) + R"(,"unit":")" + code +
         R"(","system":"http://unitsofmeasure.org","code":")" + code + R"("}})";
}

std::vector<std::string> Findings(const Issues& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues.items()) {
    if (i.code.rfind("clinical", 0) == 0) out.push_back(std::string(SeverityName(i.severity)) + " " + i.code);
  }
  return out;
}

TEST(ClinicalTest, PaperScenariosOf80KgPatient) {
  // domain.md section 8: 0.35 mg/kg/h x 4 h = 112 mg passes; 1.2 mg/kg/h is an error.
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(0.35, "mg/kg/h")))), std::vector<std::string>{});
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(1.2, "mg/kg/h"), "3"))),
            (std::vector<std::string>{"error clinical-rate", "warning clinical-total", "warning clinical-total"}));
  // 28 mg/h for 80 kg is 0.35 mg/kg/h: fine; 90 mg/h is 1.125 mg/kg/h: error on the per-kg limit.
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(28, "mg/h")))), std::vector<std::string>{});
  auto fast = Findings(Shared()->ValidateText(Order(Rate(90, "mg/h"), "1")));
  EXPECT_NE(std::find(fast.begin(), fast.end(), "error clinical-rate"), fast.end());
}

TEST(ClinicalTest, AWeightOutsideTheBundleIsAskedOfTheLookup) {
  // The order alone (no Bundle): its dosing weight "Observation/w" comes from the lookup, as the REST
  // facade reads it from the store; 90 mg/h for 80 kg is then over the per-kg limit.
  auto bundle = fhir::ParseJson(Order(Rate(90, "mg/h"), "1"));
  ASSERT_TRUE(bundle.ok());
  const rapidjson::Value& weight = (**bundle)["entry"][0]["resource"];
  const rapidjson::Value& order = (**bundle)["entry"][1]["resource"];
  std::vector<std::string> asked;
  ReferenceLookup lookup = [&](std::string_view reference) -> const rapidjson::Value* {
    asked.emplace_back(reference);
    return reference == "Observation/w" ? &weight : nullptr;
  };
  auto with = Findings(Shared()->Validate(order, nullptr, &lookup));
  EXPECT_NE(std::find(with.begin(), with.end(), "error clinical-rate"), with.end());
  EXPECT_EQ(asked, std::vector<std::string>{"Observation/w"});
  // Without it, or when it has no such resource, only the mg/h limits apply and the order says why.
  for (const ReferenceLookup* none : {static_cast<const ReferenceLookup*>(nullptr), static_cast<const ReferenceLookup*>(&lookup)}) {
    rapidjson::Document other;
    other.CopyFrom(order, other.GetAllocator());
    other["dosageInstruction"][0]["extension"][0]["valueReference"]["reference"].SetString("Observation/gone");
    auto without = Findings(Shared()->Validate(other, nullptr, none));
    EXPECT_EQ(std::find(without.begin(), without.end(), "error clinical-rate"), without.end());
    EXPECT_NE(std::find(without.begin(), without.end(), "information clinical-weight-unresolved"), without.end());
  }
}

TEST(ClinicalTest, BolusAndUnitSlips) {
  std::string bolus = R"({"doseQuantity":{"value":0.5,"unit":"mg/kg","system":"http://unitsofmeasure.org","code":"mg/kg"}})";
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(bolus))), std::vector<std::string>{"warning clinical-dose"});
  std::string slip = R"({"doseQuantity":{"value":40,"unit":"mg/kg","system":"http://unitsofmeasure.org","code":"mg/kg"}})";
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(slip))), std::vector<std::string>{"error clinical-dose"});
  std::string in_mg = R"({"doseQuantity":{"value":100,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}})";
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(in_mg))), std::vector<std::string>{"error clinical-dose"});  // 1.25 mg/kg
}

TEST(ClinicalTest, DurationAndNonUcumUnits) {
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(0.35, "mg/kg/h"), "10", "min"))),
            std::vector<std::string>{"warning clinical-duration"});
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(0.1, "mg/kg/h"), "2", "d"))),
            (std::vector<std::string>{"error clinical-duration", "error clinical-total", "warning clinical-total"}));
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(0.35, "mg/kg/hr")))),
            std::vector<std::string>{"warning clinical-unit-normalised"});
  EXPECT_EQ(Findings(Shared()->ValidateText(Order(Rate(3, "gtt/min")))),
            std::vector<std::string>{"error clinical-unit-unknown"});
}

TEST(ClinicalTest, LimitsComeFromTheFile) {
  auto strict = ClinicalRules::FromJson(R"({"rateWeightBased":{"warning":0.2,"error":0.3}})");
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(*(*strict)->limits().rate_weight_based.error, 0.3);
  EXPECT_FALSE((*strict)->limits().rate_absolute.configured);
  EXPECT_FALSE(ClinicalRules::FromJson(R"({"rateWeightBased":{"error":"high"}})").ok());
  EXPECT_FALSE(ClinicalRules::FromJson(R"({"allowedRoutes":{"codes":"47625008"}})").ok());
}

}  // namespace
}  // namespace ketamine::profiles
