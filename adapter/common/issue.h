// Issues say "the data breaks rules": a severity, a stable code, a location and readable text.
// A validation that finds ten problems succeeds and returns ten issues; each edge (MLLP ERR
// segments, OperationOutcome, CLI lines) translates them in one place.
//   Issues issues;
//   issues.Error("required-missing", Location("RXE-3"), "give amount (RXE-3) is required");
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine {

enum class Severity { kFatal, kError, kWarning, kInformation };
std::string_view SeverityName(Severity severity);  // "fatal", "error", "warning", "information"

struct Issue {
  Severity severity = Severity::kError;
  std::string code;  // stable, e.g. "required-missing", "unsupported-message-type"
  Location location;
  std::string text;
  std::string ToString() const;  // "error RXE-3: give amount (RXE-3) is required"
};

class Issues {
 public:
  void Add(Issue issue) { items_.push_back(std::move(issue)); }
  void Error(std::string code, Location location, std::string text) {
    Add({Severity::kError, std::move(code), std::move(location), std::move(text)});
  }
  void Warning(std::string code, Location location, std::string text) {
    Add({Severity::kWarning, std::move(code), std::move(location), std::move(text)});
  }
  bool HasErrors() const;
  const std::vector<Issue>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<Issue> items_;
};

}  // namespace ketamine
