// ketamine-gateway ledger: the Schedule III ledger on the command line, on the same data folder as
// `serve` (safe while it runs: each append is one SQLite transaction that takes the write lock
// before it reads the head of the chain).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/progress.h"
#include "common/clock.h"
#include "common/file.h"
#include "fhir/json.h"
#include "ledger/ledger.h"
#include "ledger/reports.h"
#include "ledger/request.h"

namespace ketamine::cli {
namespace {

constexpr const char* kLedgerHelp = R"(usage: ketamine-gateway ledger ACTION [OPTIONS] [--data-dir DIR] [--config FILE]

The Schedule III ledger of ketamine (ledger.db in the data folder): append-only, hash-chained,
a running balance per lot and location. Amounts are exact (mg to three decimals, or --unit ug/g).

Postings (one line per appended entry; refusals name the reason):
  receive     --ndc N --lot L --containers N --container-amount MG --supplier-name S
              --supplier-dea DEA [--supplier-address A] [--container-volume-ml ML] [--product P]
              [--form F] [--expiry DATE] [--invoice I] [--invoice-containers N]
  administer  --lot L --amount MG --patient-name N [--patient-id ID] [--patient-address A] [--order O]
  waste       --lot L --amount MG --reason R --witness W [--method M] [--order O] [--patient P]
  transfer    --lot L --amount MG --from LOC --to LOC [--witness W]
  count       --lot L --amount MG [--method exact|estimated] [--inventory initial|biennial|routine]
              [--business open|close] [--witness W]
  adjust      --lot L --change [-]MG --reason R [--corrects SEQ]
  loss        --lot L --amount MG --loss-type theft|armed-robbery|employee-pilferage|customer-theft|
              lost-in-transit|other --description D [--discovered TIME] [--police-report NO]
  destroy     --lot L --amount MG --disposition destroyed|returned [--method M] [--witnesses A,B]
              [--full-containers N] [--distributor-name N --distributor-dea DEA --distributor-address A]
  post FILE   postings as JSON (an object or an array; "-" reads standard input), as POST /ledger/entries
  Every posting takes --by WHO (required), [--location LOC] (default: the config's, "main"),
  [--time TIME] (default: now), [--unit mg|ug|g], [--note TEXT], [--request-id ID] (a retry with
  the same id is not posted twice).

Reading:
  balances                    on hand per lot and location
  report NAME [--format csv|json|fhir] [--from T] [--to T] [--as-of T] [--inventory initial|biennial]
              [--business open|close] [--period day|week|month]
              NAME: administration-log, inventory, discrepancies, waste-by-clinician
  export [--format csv|ndjson] [--from T] [--to T]     every entry with its hashes
  Reports and export show their progress on standard error when it is a terminal and the ledger
  holds over 200,000 entries (--progress: always).
  verify [--anchor SEQ:HASH]  checks the hash chain; names the first entry changed, removed or reordered
  head                        the last entry's SEQ:HASH, to keep elsewhere as an anchor

Exit codes: 0 done (verify: the chain holds), 1 a posting was refused or verify found tampering,
2 bad arguments or configuration, 3 the ledger cannot be opened or written.
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway ledger: %s\n", message.c_str());
  return code;
}

const std::map<std::string, std::string>& PostingKinds() {
  static const std::map<std::string, std::string> k = {
      {"receive", "receipt"}, {"administer", "administration"}, {"waste", "waste"},  {"transfer", "transfer"},
      {"count", "count"},     {"adjust", "adjustment"},         {"loss", "loss"},    {"destroy", "destruction"}};
  return k;
}

// "--container-amount 500" -> "container_amount": "500"; --supplier-*, --patient-*, --distributor-*
// build their objects; counts are numbers; --witnesses is a comma-separated list.
Result<std::string> PostingJson(const std::string& kind, const std::map<std::string, std::string>& options) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("kind", rapidjson::Value(kind.c_str(), a), a);
  for (const auto& [option, value] : options) {
    std::string key = option.substr(2);
    for (char& c : key) c = c == '-' ? '_' : c;
    std::string parent;
    for (const char* prefix : {"supplier_", "patient_", "distributor_"}) {
      if (key.rfind(prefix, 0) == 0) {
        parent = std::string(prefix, std::strlen(prefix) - 1);
        key = key.substr(parent.size() + 1);
      }
    }
    if (parent == "distributor") parent = "reverse_distributor";
    if (kind == "waste" && parent == "patient" && key == "id") parent.clear(), key = "patient";
    rapidjson::Value v;
    if (key == "containers" || key == "invoice_containers" || key == "corrects" || key == "full_containers") {
      char* end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) return InvalidInput(option + ": must be a whole number");
      v.SetInt64(n);
    } else if (key == "witnesses") {
      v.SetArray();
      size_t start = 0;
      while (start <= value.size()) {
        size_t comma = value.find(',', start);
        std::string name = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!name.empty()) v.PushBack(rapidjson::Value(name.c_str(), a), a);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else {
      v.SetString(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), a);
    }
    if (parent.empty()) {
      doc.AddMember(rapidjson::Value(key.c_str(), a), v, a);
    } else {
      if (!doc.HasMember(parent.c_str())) doc.AddMember(rapidjson::Value(parent.c_str(), a), rapidjson::Value(rapidjson::kObjectType), a);
      doc[parent.c_str()].AddMember(rapidjson::Value(key.c_str(), a), v, a);
    }
  }
  return fhir::ToJson(doc);
}

int Append(ledger::Ledger& ledger, const std::vector<ledger::Draft>& drafts) {
  auto appended = ledger.Append(drafts);
  if (!appended.ok()) {
    return Fail(appended.status().code() == StatusCode::kUnavailable ? kExitUnavailable : kExitRejected,
                appended.status().message());
  }
  for (const ledger::Entry& e : appended->entries) {
    std::printf("appended entry %lld: %s lot %s at %s, %s mg, balance %s mg\n", static_cast<long long>(e.seq),
                std::string(ledger::KindName(e.kind)).c_str(), e.lot.empty() ? "-" : e.lot.c_str(), e.location.c_str(),
                ledger::FormatMg(e.quantity_ug).c_str(), ledger::FormatMg(e.balance_ug).c_str());
  }
  if (appended->duplicates > 0) std::printf("%zu already in the ledger (same request id): not posted again\n", appended->duplicates);
  return kExitOk;
}

}  // namespace

int Ledger(const std::vector<std::string>& argv) {
  if (argv.empty()) return Fail(kExitUsage, "an action is required (see --help)");
  if (argv[0] == "--help" || argv[0] == "-h") {
    std::fputs(kLedgerHelp, stdout);
    return kExitOk;
  }
  const std::string action = argv[0];
  // The posting actions take many fields: any option is read here, the posting parser checks them.
  auto args = ParseArgs(std::vector<std::string>(argv.begin() + 1, argv.end()), {{}, {"--help", "--progress"}, true});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kLedgerHelp, stdout);
    return kExitOk;
  }
  std::map<std::string, std::string> options = args->options;
  const std::vector<std::string>& positional = args->positional;
  auto take = [&](const char* name) -> std::string {
    auto it = options.find(name);
    if (it == options.end()) return {};
    std::string v = it->second;
    options.erase(it);
    return v;
  };
  GatewayConfig config;
  if (std::string file = take("--config"); !file.empty()) {
    auto loaded = LoadConfig(file);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().message());
    config = *loaded;
  }
  if (std::string dir = take("--data-dir"); !dir.empty()) config.data_dir = dir;

  const auto kind = PostingKinds().find(action);
  const bool posting = kind != PostingKinds().end() || action == "post";
  if (!posting && action != "balances" && action != "report" && action != "export" && action != "verify" && action != "head") {
    return Fail(kExitUsage, "unknown action '" + action + "' (see --help)");
  }
  // Reading actions take only their own options; postings check theirs in the posting parser.
  std::string format, anchor;
  ledger::ReportOptions report;
  bool show_progress = false;
  if (!posting) {
    show_progress = args->Has("--progress");
    format = take("--format");
    anchor = take("--anchor");
    report.from = take("--from");
    report.to = take("--to");
    report.as_of = take("--as-of");
    report.inventory_kind = take("--inventory");
    report.business = take("--business");
    if (std::string p = take("--period"); !p.empty()) report.period = p;
    if (!options.empty()) return Fail(kExitUsage, "unknown option " + options.begin()->first + " for " + action);
  }
  if (action == "post" && positional.size() != 1) return Fail(kExitUsage, "post takes one FILE (or - for standard input)");
  if (action == "report" && positional.size() != 1) return Fail(kExitUsage, "report takes a NAME (see --help)");
  if (action != "post" && action != "report" && !positional.empty()) return Fail(kExitUsage, "unexpected argument " + positional[0]);

  auto opened = ledger::Ledger::Open(config.data_dir, config.ledger);
  if (!opened.ok()) return Fail(kExitUnavailable, opened.status().message());
  ledger::Ledger& ledger = **opened;
  const std::string now = *DateTimeToUtc(FormatIsoTimestamp(Clock::System().Now()));

  if (kind != PostingKinds().end()) {
    auto json = PostingJson(kind->second, options);
    if (!json.ok()) return Fail(kExitUsage, json.status().message());
    auto drafts = ledger::DraftsFromRequestText(*json, ledger.options(), now);
    if (!drafts.ok()) return Fail(kExitRejected, drafts.status().message());
    return Append(ledger, *drafts);
  }
  if (action == "post") {
    std::string text;
    if (positional[0] == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      auto read = ReadFile(positional[0]);
      if (!read.ok()) return Fail(kExitUsage, read.status().message());
      text = *read;
    }
    auto doc = fhir::ParseJson(text);
    if (!doc.ok()) return Fail(kExitRejected, doc.status().message());
    std::vector<ledger::Draft> drafts;
    const rapidjson::Value& root = **doc;
    const size_t n = root.IsArray() ? root.Size() : 1;
    for (size_t i = 0; i < n; ++i) {
      auto some = ledger::DraftsFromRequest(root.IsArray() ? root[static_cast<rapidjson::SizeType>(i)] : root,
                                            ledger.options(), now);
      if (!some.ok()) return Fail(kExitRejected, "posting " + std::to_string(i + 1) + ": " + some.status().message());
      for (auto& d : *some) drafts.push_back(std::move(d));
    }
    return Append(ledger, drafts);  // all or nothing
  }
  if (action == "verify") {
    auto verdict = ledger.Verify(anchor);
    if (!verdict.ok()) {
      return Fail(verdict.status().code() == StatusCode::kInvalidInput ? kExitUsage : kExitUnavailable, verdict.status().message());
    }
    if (!verdict->ok) {
      std::printf("ledger verify FAILED after %lld good entries: %s\n", static_cast<long long>(verdict->entries),
                  verdict->problem.c_str());
      return kExitRejected;
    }
    std::printf("ledger verified: %lld entries, head %lld:%s\n", static_cast<long long>(verdict->entries),
                static_cast<long long>(verdict->head.seq), verdict->head.hash.c_str());
    return kExitOk;
  }
  if (action == "head") {
    auto head = ledger.GetHead();
    if (!head.ok()) return Fail(kExitUnavailable, head.status().message());
    std::printf("%lld:%s\n", static_cast<long long>(head->seq), head->hash.c_str());
    return kExitOk;
  }
  if (action == "balances") {
    auto balances = ledger.Balances();
    if (!balances.ok()) return Fail(kExitUnavailable, balances.status().message());
    std::printf("location\tlot\tndc\tbalance_mg\tlast_entry\n");
    for (const auto& b : *balances) {
      std::printf("%s\t%s\t%s\t%s\t%lld\n", b.location.c_str(), b.lot.c_str(), b.ndc.c_str(),
                  ledger::FormatMg(b.balance_ug).c_str(), static_cast<long long>(b.last_seq));
    }
    return kExitOk;
  }
  const std::string name = action == "export" ? "entries" : positional[0];
  if (format.empty()) format = action == "export" ? "ndjson" : "csv";
  if (format != "csv" && format != "json" && format != "fhir" && format != "ndjson") {
    return Fail(kExitUsage, "--format is csv, json, fhir or ndjson");
  }
  // A progress line on a terminal for large ledgers (or with --progress), by entries read.
  auto head = ledger.GetHead();
  Progress progress("ledger " + name, head.ok() ? static_cast<size_t>(head->seq) : 0, show_progress, 200000);
  report.progress = [&progress](int64_t seq) {
    progress.Update(static_cast<size_t>(seq), static_cast<size_t>(seq), "entries");
  };
  auto table = ledger::MakeReport(ledger, name, report);
  progress.Finish();
  if (!table.ok()) return Fail(kExitUsage, table.status().message());
  std::string out;
  if (format == "csv") {
    out = ledger::ToCsv(*table);
  } else if (format == "json") {
    out = ledger::ToJson(*table) + "\n";
  } else if (format == "ndjson") {
    out = ledger::ToNdjson(*table);
  } else {
    auto bundle = ledger::ToFhirBundle(*table);
    if (!bundle.ok()) return Fail(kExitUsage, bundle.status().message());
    out = *bundle + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace ketamine::cli
