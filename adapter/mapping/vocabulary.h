// Vocabulary for the mappings: ConceptMaps (mappings/conceptmaps/*.json, FHIR R4 ConceptMap
// resources: HL7 tables and local codes to FHIR codes, v2 units to UCUM) and the HL7 v2 coding
// system names to FHIR system URIs (mappings/coding-systems.json).
//   auto vocab = Vocabulary::Load("mappings");
//   const Target* t = (*vocab)->Translate("v2-0162-route", "IV");   // SNOMED 47625008
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::mapping {

struct Target {
  std::string system;
  std::string code;
  std::string display;
};

class Vocabulary {
 public:
  static Result<std::shared_ptr<const Vocabulary>> Load(const std::vector<std::filesystem::path>& dirs);

  // nullptr when the map or the code is unknown.
  const Target* Translate(std::string_view map_id, std::string_view code) const;
  bool HasMap(std::string_view map_id) const;
  // "LN" -> "http://loinc.org", "HL70162" -> "http://terminology.hl7.org/CodeSystem/v2-0162";
  // a name that is already a URI or OID passes through; "" when unknown.
  std::string SystemUri(std::string_view v2_name) const;

 private:
  std::map<std::string, std::map<std::string, Target, std::less<>>, std::less<>> maps_;
  std::map<std::string, std::string, std::less<>> systems_;
};

}  // namespace ketamine::mapping
