#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "cli/args.h"
#include "common/file.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/resources.h"
#include "fhir/json.h"
#include "hl7v2/batch.h"
#include "mapping/convert_data.h"
#include "mapping/converter.h"
#include "mapping/csv.h"
#include "profiles/validator.h"

namespace ketamine::cli {
namespace {

constexpr const char* kConvertHelp = R"(usage: ketamine-gateway convert --from hl7v2|fhir|csv --to fhir|hl7v2 [OPTIONS] [FILE|-]

Offline translation with the same mappings as the server (mappings/, plus a site's override folder).
Conversion and validation issues go to standard error, one per line: "SEVERITY LOCATION: MESSAGE [RULE]".
On a terminal, large inputs show their progress on standard error.

  --from hl7v2 --to fhir   HL7 v2 messages (one, several, or an FHS/BHS batch; or a $convert-data
                           Parameters resource holding one in inputData) -> one transaction Bundle
                           (JSON) per message, one per line; each Bundle is validated like the
                           gateway does (base R4, ketamine profiles, clinical limits)
  --from fhir --to hl7v2   a FHIR resource or Bundle (MedicationRequest -> RDE^O11, or OMP^O09 with
                           --type; MedicationAdministration -> RAS^O17; Observations -> ORU^R01),
                           validated first; the message is printed with \r segment ends
  --from csv --to fhir     a clinic's CSV export (pain scores, vitals) with a header row, laid out as
                           a mappings/csv/ file says (--csv-mapping ID, default pain-vitals) -> one
                           transaction Bundle per row, one per line
  --type MSGTYPE           hl7v2 input: convert as this type (e.g. RDE^O11) whatever MSH-9 says;
                           hl7v2 output: the message to write (RDE^O11, OMP^O09, RAS^O17, ORU^R01)
  --v2-version V           hl7v2 output: MSH-12 (default 2.5.1; 2.3 to 2.8; fhir-to-v2 files adapt
                           the message to the version)
  --sending-facility NAME  hl7v2 output: MSH-4 (MSH-3 is KETAMINE-GW)
  --csv-mapping ID         csv input: the mappings/csv/ layout to use
  --charset NAME           csv input: its character set when not UTF-8 (WINDOWS-1252, ISO-8859-1, ...;
                           default the layout's "charset", else UTF-8)
  --mappings DIR           the shipped mappings folder (default: found like fhir-profiles/)
  --site-mappings DIR      a site's override folder, layered over the shipped mappings
  --timezone +HH:MM        offset for v2 times that carry none (default +00:00)
  --no-validate            skip validation of the output
  --profiles-dir DIR       where fhir-profiles/ is

Exit codes: 0 converted (warnings allowed), 1 an input could not be converted or the result has a
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

struct Setup {
  std::shared_ptr<const mapping::Converter> converter;
  std::shared_ptr<const profiles::Validator> validator;
  mapping::ConvertOptions options;
};

void PrintIssues(const Issues& issues, const std::string& prefix, Progress& progress) {
  if (issues.empty()) return;
  progress.Clear();
  for (const Issue& issue : issues.items()) {
    std::fprintf(stderr, "%s%s [%s]\n", prefix.c_str(), issue.ToString().c_str(), issue.code.c_str());
  }
}

int Hl7ToFhir(const Args& args, const Setup& setup, std::string bytes) {
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
  // --type, else the $convert-data rootTemplate, chooses the plan; MSH-9 otherwise.
  mapping::ConvertOptions options = setup.options;
  options.message_type = args.Option("--type") != nullptr ? *args.Option("--type") : type_from_parameters;
  if (!options.message_type.empty() && setup.converter->PlanFor(options.message_type) == nullptr) {
    return Fail(kExitUsage, "no mapping for message type " + options.message_type);
  }
  Progress progress("convert", bytes.size(), args.Has("--progress"));
  int exit_code = kExitOk;
  const bool many = batch->messages.size() > 1;
  for (size_t m = 0; m < batch->messages.size(); ++m) {
    const hl7v2::Message& msg = batch->messages[m];
    std::string prefix = many ? "message " + std::to_string(m + 1) + ": " : "";
    Result<mapping::Conversion> result = setup.converter->ToFhir(msg, options);
    if (!result.ok()) {
      progress.Clear();
      std::fprintf(stderr, "%serror %s: %s\n", prefix.c_str(), result.status().location().ToString().c_str(),
                   result.status().message().c_str());
      exit_code = kExitRejected;
      continue;
    }
    Issues all = std::move(result->issues);
    if (setup.validator) {
      Issues validation = setup.validator->Validate(*result->bundle);
      for (const Issue& issue : validation.items()) all.Add(issue);
    }
    PrintIssues(all, prefix, progress);
    if (all.HasErrors()) exit_code = kExitRejected;
    std::cout << fhir::ToJson(*result->bundle) << "\n";
    const std::string_view raw = batch->raw_messages[m];
    const size_t done = static_cast<size_t>(raw.data() + raw.size() - bytes.data());
    progress.Update(std::min(done, bytes.size()), m + 1, "messages");
  }
  progress.Finish();
  std::cout.flush();
  return exit_code;
}

int FhirToHl7(const Args& args, const Setup& setup, const std::string& bytes) {
  auto doc = fhir::ParseJson(bytes);
  if (!doc.ok()) {
    std::fprintf(stderr, "error: %s\n", doc.status().message().c_str());
    return kExitRejected;
  }
  Progress quiet("convert", 0, false);
  if (setup.validator) {
    // What goes downstream must be valid FHIR first: the same rules as the REST facade.
    Issues validation = setup.validator->Validate(**doc);
    PrintIssues(validation, "", quiet);
    if (validation.HasErrors()) return kExitRejected;
  }
  mapping::V2Options options;
  if (const std::string* type = args.Option("--type")) options.message_type = *type;
  if (const std::string* version = args.Option("--v2-version")) {
    static const std::set<std::string> kVersions = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"};
    if (!kVersions.count(*version)) return Fail(kExitUsage, "--v2-version is one of 2.3 2.3.1 2.4 2.5 2.5.1 2.6 2.7 2.7.1 2.8");
    options.version = *version;
  }
  if (const std::string* facility = args.Option("--sending-facility")) options.sending_facility = *facility;
  auto result = setup.converter->ToV2(**doc, options);
  if (!result.ok()) {
    std::fprintf(stderr, "error %s: %s\n", result.status().location().ToString().c_str(), result.status().message().c_str());
    return kExitRejected;
  }
  PrintIssues(result->issues, "", quiet);
  if (result->issues.HasErrors()) return kExitRejected;
  std::cout << result->message;
  std::cout.flush();
  return kExitOk;
}

int CsvToFhir(const Args& args, const Setup& setup, const std::string& bytes) {
  std::string id = args.Option("--csv-mapping") != nullptr ? *args.Option("--csv-mapping") : "pain-vitals";
  const mapping::CsvPlan* plan = setup.converter->CsvPlanById(id);
  if (plan == nullptr) return Fail(kExitUsage, "no CSV layout with id '" + id + "' in mappings/csv/");
  Progress progress("convert", bytes.size(), args.Has("--progress"));
  int exit_code = kExitOk;
  Status status = setup.converter->CsvToFhir(bytes, *plan, setup.options, [&](mapping::CsvRowResult& row) {
    Issues all = std::move(row.issues);
    if (row.bundle && setup.validator) {
      Issues validation = setup.validator->Validate(*row.bundle);
      for (const Issue& issue : validation.items()) all.Add(issue);
    }
    PrintIssues(all, "row " + std::to_string(row.row) + ": ", progress);
    if (all.HasErrors()) exit_code = kExitRejected;
    if (row.bundle && !all.HasErrors()) std::cout << fhir::ToJson(*row.bundle) << "\n";
    progress.Update(row.bytes_done, row.row, "rows");
  });
  progress.Finish();
  std::cout.flush();
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return kExitRejected;
  }
  return exit_code;
}

}  // namespace

int Convert(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--from", "--to", "--type", "--mappings", "--site-mappings", "--timezone", "--profiles-dir",
                                "--v2-version", "--sending-facility", "--csv-mapping", "--charset"},
                               {"--help", "--no-validate", "--progress"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kConvertHelp, stdout);
    return kExitOk;
  }
  const std::string* from = args->Option("--from");
  const std::string* to = args->Option("--to");
  if (from == nullptr || to == nullptr) return Fail(kExitUsage, "--from and --to are required");
  const std::string direction = *from + "->" + *to;
  if (direction != "hl7v2->fhir" && direction != "fhir->hl7v2" && direction != "csv->fhir") {
    return Fail(kExitUsage, "cannot convert from " + *from + " to " + *to + " (hl7v2->fhir, fhir->hl7v2, csv->fhir)");
  }
  if (args->positional.size() > 1) return Fail(kExitUsage, "one FILE at a time");
  std::string input = args->positional.empty() ? "-" : args->positional[0];

  auto profiles_dir = FindProfilesDir(args->Option("--profiles-dir"));
  if (!profiles_dir.ok()) return Fail(kExitUsage, profiles_dir.status().message());
  auto mappings_dir = FindMappingsDir(args->Option("--mappings"), std::filesystem::absolute(*profiles_dir));
  if (!mappings_dir.ok()) return Fail(kExitUsage, mappings_dir.status().message());
  std::vector<std::filesystem::path> dirs{*mappings_dir};
  if (const std::string* site = args->Option("--site-mappings")) dirs.emplace_back(*site);
  Setup setup;
  auto converter = mapping::Converter::Load(dirs);
  if (!converter.ok()) return Fail(kExitUsage, converter.status().message());
  setup.converter = *converter;
  if (!args->Has("--no-validate")) {
    auto loaded = profiles::Validator::Load(*profiles_dir);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().message());
    setup.validator = *loaded;
  }
  if (const std::string* tz = args->Option("--timezone")) {
    if (tz->size() != 6 || ((*tz)[0] != '+' && (*tz)[0] != '-') || (*tz)[3] != ':') {
      return Fail(kExitUsage, "--timezone is +HH:MM or -HH:MM");
    }
    setup.options.default_timezone = *tz;
  }
  if (const std::string* charset = args->Option("--charset")) setup.options.charset = *charset;
  auto read = ReadFile(input);
  if (!read.ok()) return Fail(kExitRejected, read.status().message());
  if (direction == "fhir->hl7v2") return FhirToHl7(*args, setup, *read);
  if (direction == "csv->fhir") return CsvToFhir(*args, setup, *read);
  return Hl7ToFhir(*args, setup, std::move(*read));
}

}  // namespace ketamine::cli
