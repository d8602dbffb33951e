// Native checks of the FHIR R4 primitive formats, equivalent to the regexes of the specification
// (kept in fhir-profiles/r4/base.json) but without a regex engine on the hot path.
//   if (!IsValidPrimitive("dateTime", "2026-11-23T09:00:00-05:00")) ...
#pragma once

#include <string_view>

#include "profiles/model.h"

namespace ketamine::profiles {

enum class JsonKind { kString, kBoolean, kInteger, kDecimal };

// The JSON kind a primitive type is written as (boolean, integer types, decimal, else string).
JsonKind JsonKindOf(std::string_view primitive_type);

// Checks a string-valued primitive's lexical form; true for types without a format rule.
bool IsValidPrimitive(std::string_view type, std::string_view value);
bool IsValidPrimitive(PrimitiveId type, std::string_view value);
JsonKind JsonKindOf(PrimitiveId type);

bool IsValidDate(std::string_view value);
bool IsValidDateTime(std::string_view value);
bool IsValidInstant(std::string_view value);
bool IsValidTime(std::string_view value);

}  // namespace ketamine::profiles
