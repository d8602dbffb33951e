#include "fhir/operation_outcome.h"

#include <rapidjson/document.h>

#include "fhir/json.h"

namespace ketamine::fhir {

std::string_view IssueTypeFor(std::string_view rule) {
  auto starts = [&](std::string_view prefix) { return rule.substr(0, prefix.size()) == prefix; };
  if (starts("cardinality-min")) return "required";
  if (starts("binding")) return "code-invalid";
  if (starts("format") || starts("type") || starts("value")) return "value";
  if (starts("invariant")) return "invariant";
  if (starts("clinical") || starts("dea")) return "business-rule";
  if (starts("json") || starts("unknown-element") || starts("structure") || starts("cardinality")) {
    return "structure";
  }
  if (starts("too-large")) return "too-costly";
  if (starts("unsupported")) return "not-supported";
  // Codes that are issue types of their own (http://hl7.org/fhir/issue-type).
  for (std::string_view own : {"login", "forbidden", "not-found", "conflict", "duplicate", "not-supported", "exception",
                               "timeout", "throttled", "invalid", "security", "too-costly", "transient",
                               "informational"}) {
    if (rule == own) return own;
  }
  return "processing";
}

std::string OperationOutcomeJson(const Issues& issues) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("resourceType", "OperationOutcome", a);
  rapidjson::Value list(rapidjson::kArrayType);
  auto add = [&](std::string_view severity, std::string_view type, const std::string& code,
                 const std::string& text, const std::string& location) {
    rapidjson::Value issue(rapidjson::kObjectType);
    issue.AddMember("severity", rapidjson::Value(severity.data(), static_cast<rapidjson::SizeType>(severity.size()), a), a);
    issue.AddMember("code", rapidjson::Value(type.data(), static_cast<rapidjson::SizeType>(type.size()), a), a);
    rapidjson::Value details(rapidjson::kObjectType);
    if (!code.empty()) {
      rapidjson::Value coding(rapidjson::kObjectType);
      coding.AddMember("system", rapidjson::StringRef(kRuleCodeSystem), a);
      coding.AddMember("code", rapidjson::Value(code.c_str(), a), a);
      rapidjson::Value codings(rapidjson::kArrayType);
      codings.PushBack(coding, a);
      details.AddMember("coding", codings, a);
    }
    details.AddMember("text", rapidjson::Value(text.c_str(), a), a);
    issue.AddMember("details", details, a);
    if (!location.empty()) {
      rapidjson::Value expression(rapidjson::kArrayType);
      expression.PushBack(rapidjson::Value(location.c_str(), a), a);
      issue.AddMember("expression", expression, a);
    }
    list.PushBack(issue, a);
  };
  for (const Issue& issue : issues.items()) {
    add(SeverityName(issue.severity), IssueTypeFor(issue.code), issue.code, issue.text,
        issue.location.ToString());
  }
  if (issues.empty()) add("information", "informational", "", "no issues found", "");
  doc.AddMember("issue", list, a);
  return ToJson(doc);
}

}  // namespace ketamine::fhir
