#include "common/issue.h"

#include <algorithm>

namespace ketamine {

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kFatal: return "fatal";
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
    case Severity::kInformation: return "information";
  }
  return "error";
}

std::string Issue::ToString() const {
  std::string out(SeverityName(severity));
  if (!location.empty()) out += " " + location.ToString();
  out += ": " + text;
  return out;
}

bool Issues::HasErrors() const {
  return std::any_of(items_.begin(), items_.end(), [](const Issue& issue) {
    return issue.severity == Severity::kError || issue.severity == Severity::kFatal;
  });
}

}  // namespace ketamine
