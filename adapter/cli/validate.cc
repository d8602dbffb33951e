#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.h"
#include "common/file.h"
#include "cli/commands.h"
#include "cli/resources.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "profiles/validator.h"

namespace ketamine::cli {
namespace {

constexpr const char* kValidateHelp = R"(usage: ketamine-gateway validate [OPTIONS] FILE...

Validates FHIR R4 JSON files (single resources or Bundles; '-' for standard input) against the
base R4 definitions and the ketamine profiles, and prints one line per issue:

  FILE: SEVERITY FHIRPATH: MESSAGE [RULE]

  --profile URL        also apply this profile to every resource
  --format text|json   text lines (default) or one OperationOutcome per file (JSON)
  --profiles-dir DIR   where fhir-profiles/ is (default: found beside the program or in the
                       current folder; KETAMINE_PROFILES_DIR also sets it)

Exit codes: 0 no errors (warnings allowed), 1 some file has an error or is not valid JSON,
2 bad arguments or unreadable definitions.
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway validate: %s\n", message.c_str());
  return code;
}


}  // namespace

int Validate(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--profile", "--format", "--profiles-dir"}, {"--help"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kValidateHelp, stdout);
    return kExitOk;
  }
  if (args->positional.empty()) return Fail(kExitUsage, "expected at least one FILE");
  std::string format = args->Option("--format") ? *args->Option("--format") : "text";
  if (format != "text" && format != "json") return Fail(kExitUsage, "--format is text or json");
  auto dir = FindProfilesDir(args->Option("--profiles-dir"));
  if (!dir.ok()) return Fail(kExitUsage, dir.status().message());
  auto validator = profiles::Validator::Load(*dir);
  if (!validator.ok()) return Fail(kExitUsage, validator.status().message());
  const profiles::Profile* extra = nullptr;
  if (const std::string* profile = args->Option("--profile")) {
    extra = (*validator)->profiles().Find(*profile);
    if (extra == nullptr) return Fail(kExitUsage, "unknown profile " + *profile);
  }

  int exit_code = kExitOk;
  for (const std::string& name : args->positional) {
    Issues issues;
    if (auto text = ReadFile(name); !text.ok()) {
      issues.Error("unsupported-input", Location(), text.status().message());
    } else {
      issues = (*validator)->ValidateText(*text, extra);
    }
    if (issues.HasErrors()) exit_code = kExitRejected;
    if (format == "json") {
      std::cout << fhir::OperationOutcomeJson(issues) << "\n";
      continue;
    }
    for (const Issue& issue : issues.items()) {
      std::cout << name << ": " << SeverityName(issue.severity) << " "
                << (issue.location.empty() ? "(document)" : issue.location.ToString()) << ": " << issue.text
                << " [" << issue.code << "]\n";
    }
  }
  std::cout.flush();
  return exit_code;
}

}  // namespace ketamine::cli
