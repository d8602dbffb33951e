// ketamine-gateway outbox: the operator's view of deliveries on the command line, on the same
// store as `serve` (safe while it runs: SQLite in WAL mode takes one writer at a time; PostgreSQL
// when the config names it).
#include <cstdio>
#include <cstdlib>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/utf8.h"
#include "hl7v2/parser.h"
#include "cli/config.h"
#include "routing/delivery.h"

namespace ketamine::cli {
namespace {

constexpr const char* kOutboxHelp = R"(usage: ketamine-gateway outbox dead-letters [--destination NAME] [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox replay ID... [--force] [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox replay --destination NAME|--all [--force] [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox stats DESTINATION [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox prune --days N [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox trace CONTROL_ID [--facility NAME] [--data-dir DIR] [--config FILE]
       ketamine-gateway outbox trace --resource TYPE/ID [--data-dir DIR] [--config FILE]

  dead-letters   lists the deliveries that gave up (id, destination, attempts, created, last error)
  replay ID      puts dead letters back in the queue, due now; a running gateway sends them. One after which
                 an item of the same patient went to the destination is held (sent now, it would arrive
                 out of order: an older version of an order over a newer one) unless --force;
                 --destination NAME: every dead letter of that destination; --all: of every destination
  stats NAME     pending, delivered and dead items of a destination, and the oldest pending one
  prune --days N removes delivered items older than N days (serve does it hourly, outbox_retention_days);
                 pending and dead items and the stored messages stay
  trace ID       what arrived under a control id (MSH-10; --facility: MSH-4 too), newest first: a line per
                 message (id, received, listener, sender, type, status, its ACK codes) and one per delivery it
                 queued (id, destination, state, attempts, created, last error); exit 1 when none arrived;
                 --resource: the messages and REST requests that wrote a version of that resource
  --data-dir DIR the store's folder (default: data, like serve)
  --config FILE  serve's config: its data_dir, or its PostgreSQL store

Exit codes: 0 done, 1 an ID is not a dead letter or a dead letter was held, 2 bad arguments, 3 the store
cannot be opened.
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway outbox: %s\n", message.c_str());
  return code;
}

}  // namespace

int Outbox(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--data-dir", "--destination", "--config", "--days", "--facility", "--resource"},
                               {"--help", "--force", "--all"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kOutboxHelp, stdout);
    return kExitOk;
  }
  if (args->positional.empty()) return Fail(kExitUsage, "dead-letters, replay, stats, prune or trace (see --help)");
  const std::string action = args->positional[0];
  const std::string data_dir = args->Option("--data-dir") != nullptr ? *args->Option("--data-dir") : "data";
  if (action != "dead-letters" && action != "replay" && action != "stats" && action != "prune" && action != "trace") {
    return Fail(kExitUsage, "unknown action '" + action + "' (dead-letters, replay, stats, prune, trace)");
  }
  int days = -1;
  if (action == "prune") {
    const std::string* given = args->Option("--days");
    char* end = nullptr;
    const long value = given == nullptr ? -1 : std::strtol(given->c_str(), &end, 10);
    if (given == nullptr || end == given->c_str() || *end != '\0' || value < 0 || value > 36500) {
      return Fail(kExitUsage, "prune takes --days N (0 to 36500)");
    }
    days = static_cast<int>(value);
  }
  const bool replay_many = args->Has("--all") || (action == "replay" && args->Option("--destination") != nullptr);
  if (action == "replay" && (args->positional.size() < 2) == !replay_many) {
    return Fail(kExitUsage, "replay takes the ids of dead letters, or --destination NAME, or --all (one of them)");
  }
  if ((action != "replay" && (args->Has("--all") || args->Has("--force"))) ||
      (args->Has("--all") && args->Option("--destination") != nullptr)) {
    return Fail(kExitUsage, "--all and --force go with replay, --all without --destination");
  }
  if ((action == "stats" && args->positional.size() != 2) ||
      (action == "trace" && args->positional.size() != (args->Option("--resource") != nullptr ? 1u : 2u))) {
    return Fail(kExitUsage, action == "trace" ? "trace takes a control id (MSH-10) or --resource TYPE/ID"
                                              : "stats takes a destination");
  }
  GatewayConfig config;
  if (const std::string* file = args->Option("--config")) {
    auto loaded = LoadConfig(*file);
    if (!loaded.ok()) return Fail(kExitUsage, loaded.status().message());
    config = std::move(*loaded);
  }
  if (args->Option("--data-dir") != nullptr || args->Option("--config") == nullptr) config.data_dir = data_dir;
  auto store = OpenStore(config);
  if (!store.ok()) return Fail(kExitUnavailable, store.status().message());
  if (action == "dead-letters") {
    const std::string destination = args->Option("--destination") != nullptr ? *args->Option("--destination") : "";
    auto items = (*store)->ListOutbox(destination, store::OutboxState::kDead, 100000);
    if (!items.ok()) return Fail(kExitUnavailable, items.status().message());
    for (const auto& item : *items) {
      std::printf("%lld\t%s\t%d attempts\t%s\t%s\n", static_cast<long long>(item.id), item.write.destination.c_str(),
                  item.attempts, FormatIsoTimestamp(FromUnixMs(item.created_ms)).c_str(), item.last_error.c_str());
    }
    return kExitOk;
  }
  if (action == "trace") {
    const std::string facility = args->Option("--facility") != nullptr ? *args->Option("--facility") : "";
    const std::string* resource = args->Option("--resource");
    const size_t slash = resource == nullptr ? std::string::npos : resource->find('/');
    if (resource != nullptr && (slash == std::string::npos || slash == 0 || slash + 1 == resource->size())) {
      return Fail(kExitUsage, "--resource is TYPE/ID (got '" + *resource + "')");
    }
    auto messages = resource != nullptr
                        ? (*store)->MessagesOfResource(resource->substr(0, slash), resource->substr(slash + 1), 1000)
                        : (*store)->FindMessages(args->positional[1], facility, 1000);
    if (!messages.ok()) return Fail(kExitUnavailable, messages.status().message());
    for (const auto& m : *messages) {
      std::string acks;  // MSA-1 of each reply
      for (const std::string& reply : m.record.replies) {
        auto ack = hl7v2::Parse(reply);
        if (ack.ok()) acks += (acks.empty() ? "" : ",") + ValidUtf8(ack->Get("MSA-1"));
      }
      std::printf("message %lld\t%s\t%s\t%s|%s\t%s\t%s\t%s\n", static_cast<long long>(m.id), m.record.received_at.c_str(),
                  m.record.listener.c_str(), ValidUtf8(m.record.sending_application).c_str(),
                  ValidUtf8(m.record.sending_facility).c_str(), ValidUtf8(m.record.message_type).c_str(),
                  std::string(store::MessageStatusName(m.record.status)).c_str(), acks.empty() ? "-" : acks.c_str());
      auto items = (*store)->OutboxOfMessage(m.id);
      if (!items.ok()) return Fail(kExitUnavailable, items.status().message());
      for (const auto& item : *items) {
        std::printf("  delivery %lld\t%s\t%s%s\t%d attempts\t%s\t%s\n", static_cast<long long>(item.id),
                    item.write.destination.c_str(), std::string(store::OutboxStateName(item.state)).c_str(),
                    item.outcome_unknown ? " (outcome unknown)" : "", item.attempts,
                    FormatIsoTimestamp(FromUnixMs(item.created_ms)).c_str(), item.last_error.c_str());
      }
    }
    if (messages->empty()) {
      if (resource != nullptr) {
        std::fprintf(stderr, "ketamine-gateway outbox: no message wrote %s\n", resource->c_str());
      } else {
        std::fprintf(stderr, "ketamine-gateway outbox: no message with control id %s%s\n", args->positional[1].c_str(),
                     facility.empty() ? "" : (" from " + facility).c_str());
      }
      return kExitRejected;
    }
    return kExitOk;
  }
  if (action == "prune") {
    auto total = routing::PruneDelivered(**store, days);
    if (!total.ok()) return Fail(kExitUnavailable, total.status().message());
    std::printf("pruned %lld delivered items\n", static_cast<long long>(*total));
    return kExitOk;
  }
  if (action == "stats") {
    auto stats = (*store)->Stats(args->positional[1]);
    if (!stats.ok()) return Fail(kExitUnavailable, stats.status().message());
    std::printf("pending %lld\ndelivered %lld\ndead %lld\noldest_pending %s\n", static_cast<long long>(stats->pending),
                static_cast<long long>(stats->delivered), static_cast<long long>(stats->dead),
                stats->oldest_pending_ms == 0 ? "-" : FormatIsoTimestamp(FromUnixMs(stats->oldest_pending_ms)).c_str());
    return kExitOk;
  }
  // Replay: what was put back ("replayed ID" or, for many, "replayed ID<TAB>DESTINATION"), and on
  // stderr each one held and why.
  std::vector<store::ReplaySelection> selections;
  if (replay_many) {
    selections.push_back({.id = 0,
                          .destination = args->Has("--all") ? "" : *args->Option("--destination"),
                          .force = args->Has("--force")});
  }
  for (size_t i = 1; i < args->positional.size(); ++i) {
    char* end = nullptr;
    long long id = std::strtoll(args->positional[i].c_str(), &end, 10);
    if (end == args->positional[i].c_str() || *end != '\0' || id <= 0) {
      return Fail(kExitUsage, "'" + args->positional[i] + "' is not an id");
    }
    selections.push_back({.id = id, .destination = "", .force = args->Has("--force")});
  }
  int code = kExitOk;
  for (const store::ReplaySelection& which : selections) {
    auto outcome = (*store)->Replay(which);
    if (!outcome.ok()) {
      std::fprintf(stderr, "ketamine-gateway outbox: %s\n", outcome.status().message().c_str());
      code = outcome.status().code() == StatusCode::kNotFound ? kExitRejected : kExitUnavailable;
      continue;
    }
    for (const auto& [id, destination] : outcome->replayed) {
      if (replay_many) {
        std::printf("replayed %lld\t%s\n", static_cast<long long>(id), destination.c_str());
      } else {
        std::printf("replayed %lld\n", static_cast<long long>(id));
      }
    }
    for (const store::ReplayOutcome::Held& held : outcome->held) {
      std::fprintf(stderr,
                   "ketamine-gateway outbox: dead letter %lld held: item %lld of the same patient went to %s after "
                   "it, so it would arrive out of order (--force sends it anyway)\n",
                   static_cast<long long>(held.id), static_cast<long long>(held.sent_after), held.destination.c_str());
      code = kExitRejected;
    }
  }
  return code;
}

}  // namespace ketamine::cli
