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
  using CodeMap = std::map<std::string, Target, std::less<>>;

  static Result<std::shared_ptr<const Vocabulary>> Load(const std::vector<std::filesystem::path>& dirs);

  // nullptr when the map or the code is unknown.
  const Target* Translate(std::string_view map_id, std::string_view code) const;
  bool HasMap(std::string_view map_id) const;
  // For hot paths: resolve a map once at load, then look codes up in it.
  const CodeMap* FindMap(std::string_view map_id) const;
  static const Target* Lookup(const CodeMap* map, std::string_view code);
  const CodeMap* units() const { return units_; }  // "units-ucum", or nullptr
  // "LN" -> "http://loinc.org", "HL70162" -> "http://terminology.hl7.org/CodeSystem/v2-0162";
  // a name that is already a URI or OID passes through; "" when unknown.
  std::string SystemUri(std::string_view v2_name) const;
  // Only the names coding-systems.json lists, as a view into the vocabulary ("" otherwise).
  std::string_view ListedSystemUri(std::string_view v2_name) const;

  // The other way, for FHIR -> HL7 v2. The source code of the first element (in file order) whose
  // target is `code`; a later folder's map wins. nullptr when none.
  const std::string* Untranslate(std::string_view map_id, std::string_view code) const;
  // The source and target systems of a map's first group ("" when unknown).
  std::string SourceSystem(std::string_view map_id) const;
  std::string TargetSystem(std::string_view map_id) const;
  // "http://loinc.org" -> "LN": the first name coding-systems.json lists for the URI (a later
  // folder's wins); "" when none. "identifier-type:*" names are not coding systems and are skipped.
  std::string SystemName(std::string_view uri) const;

 private:
  std::map<std::string, CodeMap, std::less<>> maps_;
  const CodeMap* units_ = nullptr;
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> reverse_;
  std::map<std::string, std::string, std::less<>> source_systems_;
  std::map<std::string, std::string, std::less<>> target_systems_;
  std::map<std::string, std::string, std::less<>> systems_;
  std::map<std::string, std::string, std::less<>> system_names_;
};

}  // namespace ketamine::mapping
