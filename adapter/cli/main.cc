// ketamine-gateway: the single executable. main() only dispatches to the subcommands.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

constexpr const char* kUsage = R"(usage: ketamine-gateway COMMAND [OPTIONS]

Commands:
  serve       run the gateway (MLLP, FHIR REST, delivery; sandbox defaults without --config)
  mllp-send   send HL7 v2 files over MLLP and print the ACKs
  validate    validate FHIR R4 JSON resources and Bundles
  convert     HL7 v2 -> FHIR, FHIR -> HL7 v2 and CSV -> FHIR with the gateway's mappings
  outbox      list and replay deliveries that gave up (dead letters), queue figures
  ledger      the Schedule III ledger: receipts, administrations, waste, counts, reports, verify

Run 'ketamine-gateway COMMAND --help' for the options of a command.

Exit codes: 0 success, 1 a message was refused (AE/AR), 2 bad arguments or configuration,
3 a peer or the store could not be reached.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? ketamine::cli::kExitUsage : ketamine::cli::kExitOk;
  }
  std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "serve") return ketamine::cli::Serve(args);
    if (command == "mllp-send") return ketamine::cli::MllpSend(args);
    if (command == "validate") return ketamine::cli::Validate(args);
    if (command == "convert") return ketamine::cli::Convert(args);
    if (command == "outbox") return ketamine::cli::Outbox(args);
    if (command == "ledger") return ketamine::cli::Ledger(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ketamine-gateway %s: internal error: %s\n", command.c_str(), e.what());
    return ketamine::cli::kExitUnavailable;
  }
  std::fprintf(stderr, "ketamine-gateway: unknown command '%s' (try --help)\n", command.c_str());
  return ketamine::cli::kExitUsage;
}
