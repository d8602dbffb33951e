#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.h"
#include "common/file.h"
#include "cli/commands.h"
#include "cli/resources.h"
#include "fhir/json.h"
#include "hl7v2/batch.h"
#include "mapping/convert_data.h"
#include "mapping/converter.h"
#include "profiles/validator.h"

namespace ketamine::cli {
namespace {

constexpr const char* kConvertHelp = R"(usage: ketamine-gateway convert --from hl7v2 --to fhir [OPTIONS] [FILE|-]

Converts HL7 v2 messages (or a $convert-data Parameters resource holding one in inputData) to FHIR R4 with the same mappings as the server (mappings/, plus a site's
override folder) and prints one transaction Bundle (JSON) per message, one per line. The file may
hold one message, several, or an FHS/BHS batch. Each Bundle is validated like the gateway does
(base R4, ketamine profiles, clinical limits). Conversion and validation issues go to standard
error, one per line: "SEVERITY LOCATION: MESSAGE [RULE]".

  --from hl7v2 --to fhir   the direction (FHIR -> HL7 v2 and CSV -> FHIR are not built yet)
  --type MSGTYPE           convert as this message type (e.g. RDE^O11) whatever MSH-9 says
  --mappings DIR           the shipped mappings folder (default: found like fhir-profiles/)
  --site-mappings DIR      a site's override folder, layered over the shipped mappings
  --timezone +HH:MM        offset for v2 times that carry none (default +00:00)
  --no-validate            skip validation of the output
  --profiles-dir DIR       where fhir-profiles/ is

Exit codes: 0 converted (warnings allowed), 1 a message could not be converted or its Bundle has a
validation error, 2 bad arguments or mapping files.
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway convert: %s\n", message.c_str());
  return code;
}

Result<std::filesystem::path> FindMappingsDir(const std::string* explicit_dir, const std::filesystem::path& profiles) {
  if (explicit_dir != nullptr) return std::filesystem::path(*explicit_dir);
  std::filesystem::path beside = profiles.parent_path() / "mappings";
  std::error_code ec;
  if (std::filesystem::is_directory(beside / "v2-to-fhir", ec)) return beside;
  if (std::filesystem::is_directory("mappings/v2-to-fhir", ec)) return std::filesystem::path("mappings");
  return InvalidInput("cannot find mappings/ (give --mappings)");
}

}  // namespace

int Convert(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--from", "--to", "--type", "--mappings", "--site-mappings", "--timezone", "--profiles-dir"},
                               {"--help", "--no-validate"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kConvertHelp, stdout);
    return kExitOk;
  }
  const std::string* from = args->Option("--from");
  const std::string* to = args->Option("--to");
  if (from == nullptr || to == nullptr) return Fail(kExitUsage, "--from and --to are required");
  if (*from != "hl7v2" || *to != "fhir") {
    // TODO(#4): FHIR -> HL7 v2 (RDE^O11, RAS^O17, ORU^R01) and CSV -> FHIR.
    return Fail(kExitUsage, "converting from " + *from + " to " + *to + " is not supported yet (hl7v2 -> fhir is)");
  }
  if (args->positional.size() > 1) return Fail(kExitUsage, "one FILE at a time");
  std::string input = args->positional.empty() ? "-" : args->positional[0];

  auto profiles_dir = FindProfilesDir(args->Option("--profiles-dir"));
  if (!profiles_dir.ok()) return Fail(kExitUsage, profiles_dir.status().message());
  auto mappings_dir = FindMappingsDir(args->Option("--mappings"), std::filesystem::absolute(*profiles_dir));
  if (!mappings_dir.ok()) return Fail(kExitUsage, mappings_dir.status().message());
  std::vector<std::filesystem::path> dirs{*mappings_dir};
  if (const std::string* site = args->Option("--site-mappings")) dirs.emplace_back(*site);
  auto converter = mapping::Converter::Load(dirs);
  if (!converter.ok()) return Fail(kExitUsage, converter.status().message());
  std::shared_ptr<const profiles::Validator> validator;
  if (!args->Has("--no-validate")) {
    auto loaded = profiles::Validator::Load(*profiles_dir);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().message());
    validator = *loaded;
  }
  mapping::ConvertOptions options;
  if (const std::string* tz = args->Option("--timezone")) {
    if (tz->size() != 6 || ((*tz)[0] != '+' && (*tz)[0] != '-') || (*tz)[3] != ':') {
      return Fail(kExitUsage, "--timezone is +HH:MM or -HH:MM");
    }
    options.default_timezone = *tz;
  }

  auto read = ReadFile(input);
  if (!read.ok()) return Fail(kExitRejected, read.status().message());
  std::string bytes = std::move(*read);
  // $convert-data shape: a Parameters resource with the message in inputData.
  std::string type_from_parameters;
  if (size_t first = bytes.find_first_not_of(" \t\r\n"); first != std::string::npos && bytes[first] == '{') {
    auto parameters = mapping::ParseConvertDataParameters(bytes);
    if (!parameters.ok()) {
      std::fprintf(stderr, "error %s: %s\n", parameters.status().location().ToString().c_str(),
                   parameters.status().message().c_str());
      return kExitRejected;
    }
    bytes = std::move(parameters->message);
    type_from_parameters = std::move(parameters->message_type);
  }
  auto batch = hl7v2::ParseBatch(bytes);
  if (!batch.ok()) {
    std::fprintf(stderr, "error %s: %s\n", batch.status().location().ToString().c_str(), batch.status().message().c_str());
    return kExitRejected;
  }
  int exit_code = kExitOk;
  const bool many = batch->messages.size() > 1;
  for (size_t m = 0; m < batch->messages.size(); ++m) {
    const hl7v2::Message& msg = batch->messages[m];
    std::string prefix = many ? "message " + std::to_string(m + 1) + ": " : "";
    // --type, else the $convert-data rootTemplate, chooses the plan; MSH-9 otherwise.
    mapping::ConvertOptions message_options = options;
    if (const std::string* type = args->Option("--type")) {
      message_options.message_type = *type;
    } else {
      message_options.message_type = type_from_parameters;
    }
    if (!message_options.message_type.empty() && (*converter)->PlanFor(message_options.message_type) == nullptr) {
      return Fail(kExitUsage, "no mapping for message type " + message_options.message_type);
    }
    Result<mapping::Conversion> result = (*converter)->ToFhir(msg, message_options);
    if (!result.ok()) {
      std::fprintf(stderr, "%serror %s: %s\n", prefix.c_str(), result.status().location().ToString().c_str(),
                   result.status().message().c_str());
      exit_code = kExitRejected;
      continue;
    }
    Issues all = std::move(result->issues);
    if (validator) {
      Issues validation = validator->Validate(*result->bundle);
      for (const Issue& issue : validation.items()) all.Add(issue);
    }
    for (const Issue& issue : all.items()) {
      std::fprintf(stderr, "%s%s [%s]\n", prefix.c_str(), issue.ToString().c_str(), issue.code.c_str());
    }
    if (all.HasErrors()) exit_code = kExitRejected;
    std::cout << fhir::ToJson(*result->bundle) << "\n";
  }
  std::cout.flush();
  return exit_code;
}

}  // namespace ketamine::cli
