#include "profiles/clinical.h"

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/file.h"
#include "fhir/json.h"

namespace ketamine::profiles {
namespace {

using rapidjson::Value;
constexpr const char* kDosingWeightUrl = "http://fhir.ketamine-gateway.org/StructureDefinition/dosing-weight";

std::string_view Str(const Value& v, const char* key) { return fhir::StringMemberView(v, key); }

const Value* Member(const Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::optional<double> Number(const Value* v) {
  if (v == nullptr || !v->IsNumber()) return std::nullopt;
  return v->GetDouble();
}

std::string Format(double v) {
  std::ostringstream out;
  out << std::round(v * 1000) / 1000;
  return out.str();
}

// A quantity in a canonical unit: mg, mg/kg, mg/h, mg/kg/h. Non-UCUM spellings that HL7 v2 feeds
// carry are read with a warning; anything else is unknown.
struct Amount {
  enum Kind { kUnknown, kMg, kMgPerKg, kMgPerH, kMgPerKgPerH } kind = kUnknown;
  double value = 0;
  bool normalised = false;  // the unit was not UCUM as written
};

Amount ReadAmount(const Value& q) {
  Amount a;
  auto value = Number(Member(q, "value"));
  if (!value) return a;
  std::string_view code = Str(q, "code");
  if (code.empty()) code = Str(q, "unit");
  struct Unit {
    std::string_view code;
    Amount::Kind kind;
    double factor;
    bool ucum;
  };
  static const Unit kUnits[] = {
      {"mg", Amount::kMg, 1, true},           {"ug", Amount::kMg, 0.001, true},
      {"g", Amount::kMg, 1000, true},         {"mcg", Amount::kMg, 0.001, false},
      {"mg/kg", Amount::kMgPerKg, 1, true},   {"ug/kg", Amount::kMgPerKg, 0.001, true},
      {"mg/h", Amount::kMgPerH, 1, true},     {"mg/min", Amount::kMgPerH, 60, true},
      {"ug/min", Amount::kMgPerH, 0.06, true}, {"mg/hr", Amount::kMgPerH, 1, false},
      {"mg/kg/h", Amount::kMgPerKgPerH, 1, true}, {"mg/kg/min", Amount::kMgPerKgPerH, 60, true},
      {"ug/kg/min", Amount::kMgPerKgPerH, 0.06, true}, {"ug/kg/h", Amount::kMgPerKgPerH, 0.001, true},
      {"mg/kg/hr", Amount::kMgPerKgPerH, 1, false},
  };
  for (const Unit& u : kUnits) {
    if (code == u.code) {
      a.kind = u.kind;
      a.value = *value * u.factor;
      a.normalised = !u.ucum;
      break;
    }
  }
  return a;
}

std::optional<double> Minutes(double value, std::string_view unit) {
  if (unit == "s") return value / 60;
  if (unit == "min") return value;
  if (unit == "h") return value * 60;
  if (unit == "d") return value * 1440;
  if (unit == "wk") return value * 10080;
  return std::nullopt;
}

class Checker {
 public:
  Checker(const Limits& limits, Issues& issues) : limits_(limits), issues_(issues) {}

  // Compares against a limit; above error -> error, above warning (or below warning_below) -> warning.
  void Compare(const Limit& limit, double value, const std::string& code, const std::string& location,
               const std::string& what, const std::string& unit) {
    if (!limit.configured) return;
    auto shown = [&] { return Format(value) + " " + unit; };
    if (limit.error && value > *limit.error) {
      issues_.Error(code, Location(location), what + " " + shown() + " is over the limit of " + Format(*limit.error) + " " + unit);
    } else if (limit.warning && value > *limit.warning) {
      issues_.Warning(code, Location(location), what + " " + shown() + " is over the warning level of " + Format(*limit.warning) + " " + unit);
    } else if (limit.warning_below && value < *limit.warning_below) {
      issues_.Warning(code, Location(location), what + " " + shown() + " is under the warning level of " + Format(*limit.warning_below) + " " + unit);
    }
  }

  std::optional<double> WeightKg(const Value& dosage, const Value& resource, const ResourceContext& context,
                                 const std::string& location) {
    const Value* extensions = Member(dosage, "extension");
    if (extensions == nullptr || !extensions->IsArray()) return std::nullopt;
    for (const auto& ext : extensions->GetArray()) {
      if (Str(ext, "url") != kDosingWeightUrl) continue;
      const Value* value_reference = Member(ext, "valueReference");
      std::string_view ref = value_reference != nullptr ? Str(*value_reference, "reference") : std::string_view{};
      const Value* obs = context.Resolve(resource, ref);
      if (obs == nullptr) {
        issues_.Add({Severity::kInformation, "clinical-weight-unresolved", Location(location),
                     "the body weight " + std::string(ref) + " was not found (in this Bundle" +
                         (context.lookup != nullptr ? " or the store" : "") +
                         "); per-kg limits were checked only on mg/kg values"});
        return std::nullopt;
      }
      const Value* q = Member(*obs, "valueQuantity");
      auto value = q != nullptr ? Number(Member(*q, "value")) : std::nullopt;
      if (!value) return std::nullopt;
      std::string_view unit = Str(*q, "code");
      double kg = unit == "g" ? *value / 1000 : unit == "[lb_av]" ? *value * 0.45359237 : *value;
      Compare(limits_.body_weight_kg, kg, "clinical-weight", location, "body weight", "kg");
      if (kg <= 0) return std::nullopt;
      return kg;
    }
    return std::nullopt;
  }

  void Route(const Value& dosage, const std::string& location) {
    const Value* route = Member(dosage, "route");
    const Value* codings = route != nullptr ? Member(*route, "coding") : nullptr;
    if (codings == nullptr || !codings->IsArray()) return;
    for (const auto& c : codings->GetArray()) {
      if (Str(c, "system") != limits_.allowed_route_system) continue;
      std::string code(Str(c, "code"));
      bool allowed = false;
      for (const auto& a : limits_.allowed_route_codes) allowed = allowed || a == code;
      if (!allowed) {
        issues_.Add({limits_.route_severity, "clinical-route", Location(location + ".route"),
                     "route " + code + " is not allowed for ketamine at this site (limits.json allowedRoutes)"});
      }
    }
  }

  void UnitNote(const Amount& a, const Value& q, const std::string& location) {
    if (a.kind == Amount::kUnknown && Number(Member(q, "value"))) {
      std::string code(Str(q, "code").empty() ? Str(q, "unit") : Str(q, "code"));
      issues_.Error("clinical-unit-unknown", Location(location), "unit '" + code + "' is not a dose or rate unit the gateway can check");
    } else if (a.normalised) {
      issues_.Warning("clinical-unit-normalised", Location(location), "unit '" + std::string(Str(q, "code")) + "' is not UCUM; read as its UCUM equivalent");
    }
  }

  // One dose/rate pair of a dosage with an infusion time in minutes (if known).
  void DoseAndRate(const Value& dr, std::optional<double> weight, std::optional<double> minutes,
                   const std::string& location) {
    std::optional<double> rate_mg_per_kg_h, rate_mg_h;
    if (const Value* q = Member(dr, "rateQuantity")) {
      Amount a = ReadAmount(*q);
      std::string where = location + ".rateQuantity";
      UnitNote(a, *q, where);
      if (a.kind == Amount::kMgPerKgPerH) {
        rate_mg_per_kg_h = a.value;
        if (weight) rate_mg_h = a.value * *weight;
      } else if (a.kind == Amount::kMgPerH) {
        rate_mg_h = a.value;
        if (weight) rate_mg_per_kg_h = a.value / *weight;
        Compare(limits_.rate_absolute, a.value, "clinical-rate", where, "infusion rate", "mg/h");
      } else if (a.kind != Amount::kUnknown) {
        issues_.Error("clinical-unit-unknown", Location(where), "a rate needs a per-time unit (mg/h or mg/kg/h)");
      }
      if (rate_mg_per_kg_h) Compare(limits_.rate_weight_based, *rate_mg_per_kg_h, "clinical-rate", where, "infusion rate", "mg/kg/h");
    }
    if (const Value* q = Member(dr, "doseQuantity")) {
      Amount a = ReadAmount(*q);
      std::string where = location + ".doseQuantity";
      UnitNote(a, *q, where);
      std::optional<double> per_kg, mg;
      if (a.kind == Amount::kMgPerKg) {
        per_kg = a.value;
        if (weight) mg = a.value * *weight;
      } else if (a.kind == Amount::kMg) {
        mg = a.value;
        if (weight) per_kg = a.value / *weight;
      }
      // A dose given with a rate is the session total; alone it is a bolus.
      if (rate_mg_per_kg_h || rate_mg_h) {
        if (per_kg) Compare(limits_.total_per_session_per_kg, *per_kg, "clinical-total", where, "dose per session", "mg/kg");
        if (mg) Compare(limits_.total_per_session, *mg, "clinical-total", where, "dose per session", "mg");
      } else if (per_kg) {
        Compare(limits_.dose_bolus_per_kg, *per_kg, "clinical-dose", where, "bolus dose", "mg/kg");
      }
    }
    if (minutes) {
      double hours = *minutes / 60;
      if (rate_mg_per_kg_h) {
        Compare(limits_.total_per_session_per_kg, *rate_mg_per_kg_h * hours, "clinical-total", location,
                "rate x duration gives a session total of", "mg/kg");
      }
      if (rate_mg_h) {
        Compare(limits_.total_per_session, *rate_mg_h * hours, "clinical-total", location,
                "rate x duration gives a session total of", "mg");
      }
    }
  }

  void Duration(double minutes, bool inpatient, const std::string& location) {
    Limit limit = limits_.session_duration_min;
    if (inpatient && limits_.duration_error_unless_inpatient) limit.error.reset();
    Compare(limit, minutes, "clinical-duration", location, "infusion duration", "min");
  }

 private:
  const Limits& limits_;
  Issues& issues_;
};

Status ReadLimit(const Value& doc, const char* key, Limit& limit) {
  const Value* v = Member(doc, key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsObject()) return InvalidInput(std::string("limits.json: ") + key + " must be an object");
  for (const char* field : {"warning", "error", "warningBelow"}) {
    const Value* f = Member(*v, field);
    if (f == nullptr || f->IsNull()) continue;
    if (!f->IsNumber()) return InvalidInput(std::string("limits.json: ") + key + "." + field + " must be a number or null");
    double n = f->GetDouble();
    if (std::string_view(field) == "warning") limit.warning = n;
    if (std::string_view(field) == "error") limit.error = n;
    if (std::string_view(field) == "warningBelow") limit.warning_below = n;
  }
  limit.configured = true;
  return Status::Ok();
}

bool IsInpatient(const Value& mr) {
  const Value* categories = Member(mr, "category");
  if (categories == nullptr || !categories->IsArray()) return false;
  for (const auto& cc : categories->GetArray()) {
    const Value* codings = Member(cc, "coding");
    if (codings == nullptr || !codings->IsArray()) continue;
    for (const auto& c : codings->GetArray()) {
      if (Str(c, "code") == "inpatient") return true;
    }
  }
  return false;
}

}  // namespace

const Value* ResourceContext::Resolve(const Value& from, std::string_view reference) const {
  if (reference.empty()) return nullptr;
  if (reference[0] == '#') {
    const Value* contained = Member(from, "contained");
    if (contained == nullptr || !contained->IsArray()) return nullptr;
    for (const auto& r : contained->GetArray()) {
      if (Str(r, "id") == reference.substr(1)) return &r;
    }
    return nullptr;
  }
  const Value* entries = bundle != nullptr ? Member(*bundle, "entry") : nullptr;
  if (entries != nullptr && entries->IsArray()) {
    for (const auto& e : entries->GetArray()) {
      const Value* r = Member(e, "resource");
      if (r == nullptr) continue;
      std::string_view full_url = Str(e, "fullUrl");
      std::string type_id = std::string(Str(*r, "resourceType")) + "/" + std::string(Str(*r, "id"));
      if (full_url == reference || type_id == reference) {
        return r;
      }
    }
  }
  return lookup != nullptr && *lookup ? (*lookup)(reference) : nullptr;
}

Result<std::shared_ptr<const ClinicalRules>> ClinicalRules::FromJson(std::string_view text) {
  auto doc = fhir::ParseJson(text);
  if (!doc.ok()) return InvalidInput("limits.json: " + doc.status().message());
  const Value& d = **doc;
  auto rules = std::make_shared<ClinicalRules>();
  Limits& l = rules->limits_;
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "doseBolusPerKg", l.dose_bolus_per_kg));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "rateWeightBased", l.rate_weight_based));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "rateAbsolute", l.rate_absolute));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "totalPerSessionPerKg", l.total_per_session_per_kg));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "totalPerSession", l.total_per_session));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "sessionDuration", l.session_duration_min));
  KETAMINE_RETURN_IF_ERROR(ReadLimit(d, "bodyWeight", l.body_weight_kg));
  if (const Value* sd = Member(d, "sessionDuration"); sd != nullptr && Member(*sd, "errorUnlessInpatient") &&
                                                       (*sd)["errorUnlessInpatient"].IsBool()) {
    l.duration_error_unless_inpatient = (*sd)["errorUnlessInpatient"].GetBool();
  }
  if (const Value* routes = Member(d, "allowedRoutes")) {
    const Value* codes = Member(*routes, "codes");
    if (codes == nullptr || !codes->IsArray()) return InvalidInput("limits.json: allowedRoutes.codes must be an array");
    for (const auto& c : codes->GetArray()) {
      if (!c.IsString()) return InvalidInput("limits.json: allowedRoutes.codes holds strings");
      l.allowed_route_codes.emplace_back(c.GetString());
    }
    l.allowed_route_system = Str(*routes, "system");
    l.route_severity = Str(*routes, "severity") == "warning" ? Severity::kWarning : Severity::kError;
  }
  if (const Value* pain = Member(d, "painScore")) {
    auto mn = Number(Member(*pain, "min"));
    auto mx = Number(Member(*pain, "max"));
    if (!mn || !mx) return InvalidInput("limits.json: painScore needs min and max");
    l.pain_min = *mn;
    l.pain_max = *mx;
  }
  if (const Value* units = Member(d, "vitalUnits"); units != nullptr && units->IsObject()) {
    for (auto it = units->MemberBegin(); it != units->MemberEnd(); ++it) {
      if (std::string_view(it->name.GetString()) == "source") continue;
      if (!it->value.IsString()) return InvalidInput("limits.json: vitalUnits values are UCUM strings");
      l.vital_units[it->name.GetString()] = it->value.GetString();
    }
  }
  return std::shared_ptr<const ClinicalRules>(std::move(rules));
}

Result<std::shared_ptr<const ClinicalRules>> ClinicalRules::Load(const std::filesystem::path& file) {
  KETAMINE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return FromJson(text);
}

void ClinicalRules::CheckMedicationRequest(const Value& mr, const std::string& location,
                                           const ResourceContext& context, Issues& issues) const {
  Checker check(limits_, issues);
  const Value* dosages = Member(mr, "dosageInstruction");
  if (dosages == nullptr || !dosages->IsArray()) return;
  bool inpatient = IsInpatient(mr);
  int i = 0;
  for (const auto& dosage : dosages->GetArray()) {
    std::string where = location + ".dosageInstruction[" + std::to_string(i++) + "]";
    check.Route(dosage, where);
    auto weight = check.WeightKg(dosage, mr, context, where);
    std::optional<double> minutes;
    const Value* timing = Member(dosage, "timing");
    const Value* repeat = timing != nullptr ? Member(*timing, "repeat") : nullptr;
    if (repeat != nullptr) {
      auto duration = Number(Member(*repeat, "duration"));
      if (duration) minutes = Minutes(*duration, Str(*repeat, "durationUnit"));
      if (minutes) check.Duration(*minutes, inpatient, where + ".timing.repeat.duration");
    }
    const Value* drs = Member(dosage, "doseAndRate");
    if (drs != nullptr && drs->IsArray()) {
      int j = 0;
      for (const auto& dr : drs->GetArray()) {
        check.DoseAndRate(dr, weight, minutes, where + ".doseAndRate[" + std::to_string(j++) + "]");
      }
    }
    if (const Value* max = Member(dosage, "maxDosePerAdministration")) {
      Amount a = ReadAmount(*max);
      if (a.kind == Amount::kMg) {
        check.Compare(limits_.total_per_session, a.value, "clinical-total", where + ".maxDosePerAdministration",
                      "maximum dose per administration", "mg");
        if (weight) {
          check.Compare(limits_.total_per_session_per_kg, a.value / *weight, "clinical-total",
                        where + ".maxDosePerAdministration", "maximum dose per administration", "mg/kg");
        }
      }
    }
  }
}

void ClinicalRules::CheckMedicationAdministration(const Value& ma, const std::string& location,
                                                  const ResourceContext& context, Issues& issues) const {
  (void)context;
  Checker check(limits_, issues);
  std::optional<double> minutes;
  if (const Value* period = Member(ma, "effectivePeriod")) {
    auto start = DateTimeToUnixSeconds(Str(*period, "start"));
    auto end = DateTimeToUnixSeconds(Str(*period, "end"));
    if (start && end) {
      if (*end < *start) {
        issues.Error("invariant-per-1", Location(location + ".effectivePeriod"), "the infusion ends before it starts");
      } else {
        minutes = static_cast<double>(*end - *start) / 60;
        check.Duration(*minutes, false, location + ".effectivePeriod");
      }
    }
  }
  const Value* dosage = Member(ma, "dosage");
  if (dosage == nullptr) return;
  check.Route(*dosage, location + ".dosage");
  if (const Value* dose = Member(*dosage, "dose")) {
    Amount a = ReadAmount(*dose);
    check.UnitNote(a, *dose, location + ".dosage.dose");
    if (a.kind == Amount::kMg) {
      check.Compare(limits_.total_per_session, a.value, "clinical-total", location + ".dosage.dose", "dose given", "mg");
    }
  }
  if (const Value* rate = Member(*dosage, "rateQuantity")) {
    Amount a = ReadAmount(*rate);
    check.UnitNote(a, *rate, location + ".dosage.rateQuantity");
    if (a.kind == Amount::kMgPerH) {
      check.Compare(limits_.rate_absolute, a.value, "clinical-rate", location + ".dosage.rateQuantity", "infusion rate", "mg/h");
    } else if (a.kind == Amount::kMgPerKgPerH) {
      check.Compare(limits_.rate_weight_based, a.value, "clinical-rate", location + ".dosage.rateQuantity", "infusion rate", "mg/kg/h");
    }
  }
}

void ClinicalRules::CheckPainScore(const Value& obs, const std::string& location, Issues& issues) const {
  std::optional<double> score;
  std::string where = location;
  if (const Value* v = Member(obs, "valueInteger"); v != nullptr && v->IsNumber()) {
    score = v->GetDouble();
    where += ".valueInteger";
  } else if (const Value* q = Member(obs, "valueQuantity")) {
    score = Number(Member(*q, "value"));
    where += ".valueQuantity.value";
  }
  if (score && (*score < limits_.pain_min || *score > limits_.pain_max)) {
    issues.Error("clinical-pain-range", Location(where),
                 "pain score " + Format(*score) + " is outside " + Format(limits_.pain_min) + "-" + Format(limits_.pain_max));
  }
}

void ClinicalRules::CheckVitalSign(const Value& obs, const std::string& location, Issues& issues) const {
  const Value* code = Member(obs, "code");
  const Value* codings = code != nullptr ? Member(*code, "coding") : nullptr;
  if (codings == nullptr || !codings->IsArray()) return;
  auto check_quantity = [&](std::string_view loinc, const Value& q, const std::string& where) {
    auto unit = limits_.vital_units.find(std::string(loinc));
    if (unit == limits_.vital_units.end()) return;
    if (Str(q, "code") != unit->second) {
      issues.Error("clinical-vital-unit", Location(where + ".code"),
                   "LOINC " + std::string(loinc) + " is recorded in " + unit->second + ", not '" + std::string(Str(q, "code")) + "'");
    }
  };
  for (const auto& c : codings->GetArray()) {
    if (Str(c, "system") != "http://loinc.org") continue;
    if (const Value* q = Member(obs, "valueQuantity")) check_quantity(Str(c, "code"), *q, location + ".valueQuantity");
  }
  if (const Value* components = Member(obs, "component"); components != nullptr && components->IsArray()) {
    int i = 0;
    for (const auto& comp : components->GetArray()) {
      std::string where = location + ".component[" + std::to_string(i++) + "].valueQuantity";
      const Value* cc = Member(comp, "code");
      const Value* cs = cc != nullptr ? Member(*cc, "coding") : nullptr;
      const Value* q = Member(comp, "valueQuantity");
      if (cs == nullptr || !cs->IsArray() || q == nullptr) continue;
      for (const auto& c : cs->GetArray()) {
        if (Str(c, "system") == "http://loinc.org") check_quantity(Str(c, "code"), *q, where);
      }
    }
  }
}

}  // namespace ketamine::profiles
