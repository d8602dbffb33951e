// HL7 v2 data types to FHIR R4 JSON values (v2-to-FHIR guide data type maps). Each takes one raw
// (still escaped) repetition and returns a JSON value, or a null value when nothing is there.
// Problems (a date that is no date, a unit no map knows) are added to `issues` with the v2 location.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "common/issue.h"
#include "hl7v2/parser.h"
#include "mapping/vocabulary.h"

namespace ketamine::mapping {

// Where a value came from, rendered only when an issue needs it ("RXE-3", "OBX[2]-5").
struct LazyLocation {
  const void* data = nullptr;
  std::string (*render)(const void*) = nullptr;
  std::string text;  // used when render is null
  std::string str() const { return render != nullptr ? render(data) : text; }
};

struct ConvertContext {
  const hl7v2::Delimiters* delimiters;
  const Vocabulary* vocabulary;
  rapidjson::Document::AllocatorType* allocator;
  std::string default_timezone = "+00:00";  // for v2 times without an offset ("-05:00")
  Issues* issues;
};

using Json = rapidjson::Value;

// CWE / CE / CNE -> CodeableConcept (primary and alternate triplets; original text in .text).
Json ToCodeableConcept(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location);
// CWE -> Coding (primary triplet).
Json ToCoding(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location);
// CX -> Identifier (value, system from CX-4 assigning authority, type from CX-5).
Json ToIdentifier(std::string_view raw, const ConvertContext& ctx);
// EI -> Identifier (EI-1 value, EI-2/EI-3 namespace as system).
Json ToEiIdentifier(std::string_view raw, const ConvertContext& ctx, std::string_view type_code);
// XCN -> Identifier: XCN-1 id, XCN-9 assigning authority, XCN-13 identifier type (DEA, NPI ...);
// without an authority the system comes from coding-systems.json "identifier-type:<XCN-13>".
Json ToXcnIdentifier(std::string_view raw, const ConvertContext& ctx);
// XPN / the name part of XCN -> HumanName (family, given, suffix, prefix).
Json ToHumanName(std::string_view raw, const ConvertContext& ctx, int first_component = 1);
// XAD -> Address; XTN -> ContactPoint.
Json ToAddress(std::string_view raw, const ConvertContext& ctx);
Json ToContactPoint(std::string_view raw, const ConvertContext& ctx);
// DTM / TS -> dateTime ("20261123083000-0500" -> "2026-11-23T08:30:00-05:00"); DT -> date.
Json ToDateTime(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location);
Json ToDate(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location);
// An amount with a unit (CWE in another field, or CQ's second component) -> Quantity with UCUM.
Json ToQuantity(std::string_view amount, std::string_view unit_cwe, const ConvertContext& ctx,
                const LazyLocation& location);
// NM -> decimal.
Json ToDecimal(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location);

// A decimal as HL7 v2 NM and CSV exports write it: digits with an optional sign and point, a
// leading '+' allowed; no exponent, hex, "nan" or locale. False when `text` is anything else.
bool ParseDecimal(std::string_view text, double* value);

// The dateTime text (empty on failure), for callers that need the string.
std::string DateTimeText(std::string_view dtm, const std::string& default_timezone, bool* ok);

}  // namespace ketamine::mapping
