// Clinical rules for ketamine infusions, driven by fhir-profiles/limits.json: dose per kg against
// the patient's weight, rate (weight-based and absolute), infusion duration from the Timing or
// the effective period, total per session, allowed routes, pain-score range, vital-sign units.
// Every number is a setting in the limits file; nothing clinical is in the code.
//   auto rules = ClinicalRules::Load("fhir-profiles/limits.json");
//   (*rules)->CheckMedicationRequest(mr, "MedicationRequest", context, issues);
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/issue.h"

namespace ketamine::profiles {

struct Limit {
  std::optional<double> warning_below, warning, error;
  bool configured = false;
};

struct Limits {
  Limit dose_bolus_per_kg;        // mg/kg
  Limit rate_weight_based;        // mg/kg/h
  Limit rate_absolute;            // mg/h
  Limit total_per_session_per_kg; // mg/kg
  Limit total_per_session;        // mg
  Limit session_duration_min;     // minutes
  bool duration_error_unless_inpatient = true;
  Limit body_weight_kg;
  std::vector<std::string> allowed_route_codes;
  std::string allowed_route_system;
  Severity route_severity = Severity::kError;
  double pain_min = 0, pain_max = 10;
  std::map<std::string, std::string> vital_units;  // LOINC code -> UCUM unit
};

// A resource by its reference ("Observation/weight-1") from outside what is validated (the REST
// facade reads it from the store); nullptr when there is none. What it returns must outlive the
// validation.
using ReferenceLookup = std::function<const rapidjson::Value*(std::string_view reference)>;

// Where referenced resources can be found: the resource's contained, the Bundle it came in, then
// the lookup (may be null).
struct ResourceContext {
  const rapidjson::Value* bundle = nullptr;
  const ReferenceLookup* lookup = nullptr;
  const rapidjson::Value* Resolve(const rapidjson::Value& from, std::string_view reference) const;
};

class ClinicalRules {
 public:
  static Result<std::shared_ptr<const ClinicalRules>> Load(const std::filesystem::path& limits_json);
  static Result<std::shared_ptr<const ClinicalRules>> FromJson(std::string_view text);

  void CheckMedicationRequest(const rapidjson::Value& mr, const std::string& location,
                              const ResourceContext& context, Issues& issues) const;
  void CheckMedicationAdministration(const rapidjson::Value& ma, const std::string& location,
                                     const ResourceContext& context, Issues& issues) const;
  void CheckPainScore(const rapidjson::Value& obs, const std::string& location, Issues& issues) const;
  void CheckVitalSign(const rapidjson::Value& obs, const std::string& location, Issues& issues) const;

  const Limits& limits() const { return limits_; }

 private:
  Limits limits_;
};


}  // namespace ketamine::profiles
