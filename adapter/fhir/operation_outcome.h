// Turns Issues into a FHIR R4 OperationOutcome: severity, IssueType code, details.text, and the
// FHIRPath location in `expression` (with indexes: "MedicationRequest.dosageInstruction[0].route").
// Our stable rule codes ("cardinality-min", "format-dateTime" ...) go in details.coding so clients
// can act on them without parsing text.
#pragma once

#include <string>

#include "common/issue.h"

namespace ketamine::fhir {

inline constexpr const char* kRuleCodeSystem = "http://fhir.ketamine-gateway.org/CodeSystem/validation-rule";

// The R4 IssueType (http://hl7.org/fhir/issue-type) for one of our rule codes.
std::string_view IssueTypeFor(std::string_view rule_code);

// OperationOutcome JSON; with no issues, one "information" issue saying all is well.
std::string OperationOutcomeJson(const Issues& issues);

}  // namespace ketamine::fhir
