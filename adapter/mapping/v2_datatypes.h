// FHIR R4 JSON values to HL7 v2 data types, the inverse of datatypes.h: each turns one FHIR value
// into the components of one field repetition (text, not yet escaped; the message builder escapes).
// They write what the v2 -> FHIR direction reads back, so v2 -> FHIR -> v2 keeps every mapped field.
//   V2Value cwe = FromCodeableConcept(resource["code"], vocabulary);   // {1:"72514-3", 2:"Pain...", 3:"LN"}
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <vector>

#include "mapping/vocabulary.h"

namespace ketamine::mapping {

// One part of a field: component (1-based) and subcomponent (0 = the component itself).
struct V2Part {
  int component = 1;
  int subcomponent = 0;
  std::string text;
};
using V2Value = std::vector<V2Part>;  // empty: nothing to write

// CodeableConcept -> CWE (first coding: 1-3, second: 4-6, text -> 9 when it is not the display).
V2Value FromCodeableConcept(const rapidjson::Value& cc, const Vocabulary& vocabulary);
// Coding -> code ^ display ^ system name.
V2Value FromCoding(const rapidjson::Value& coding, const Vocabulary& vocabulary);
// Identifier -> CX (value, assigning authority in CX-4, type in CX-5).
V2Value FromIdentifier(const rapidjson::Value& id, const Vocabulary& vocabulary);
// Identifier -> EI (value, namespace or universal id and its type).
V2Value FromEiIdentifier(const rapidjson::Value& id);
// Identifier -> XCN-1, XCN-9 (authority, left empty when the type's default system is used), XCN-13.
V2Value FromXcnIdentifier(const rapidjson::Value& id, const Vocabulary& vocabulary);
// HumanName -> XPN (first_component 1) or the name part of XCN (2).
V2Value FromHumanName(const rapidjson::Value& name, int first_component);
V2Value FromAddress(const rapidjson::Value& address);
V2Value FromContactPoint(const rapidjson::Value& contact);
// dateTime / instant / date -> DTM ("2026-11-23T08:30:00-05:00" -> "20261123083000-0500");
// "" when the text is not a FHIR date/time.
std::string DtmText(std::string_view fhir_date_time);
// A JSON number -> NM text without exponent ("0.35", "28").
std::string NumberText(const rapidjson::Value& number);

}  // namespace ketamine::mapping
