#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/resources.h"
#include "common/file.h"
#include "common/process_limits.h"
#include "common/thread_name.h"
#include "fhir/json.h"
#include "http/facade.h"
#include "inbox/inbox.h"
#include "ledger/posting.h"
#include "ledger/rest.h"
#include "routing/delivery.h"
#include "routing/outbox.h"
#include "http/server.h"
#include "mapping/converter.h"
#include "profiles/validator.h"
#include "common/check.h"
#include "common/log.h"
#include "mllp/server.h"
#include "pipeline/inbound.h"
#include "store/sqlite_store.h"

namespace ketamine::cli {
namespace {

constexpr const char* kServeHelp = R"(usage: ketamine-gateway serve [--config FILE] [--data-dir DIR]
                              [--mllp-port N] [--http-port N]

Runs the gateway. Without --config it starts in sandbox mode: the store is SQLite under ./data,
MLLP listens on 127.0.0.1:2575 and the FHIR REST facade on http://127.0.0.1:8080/fhir.

  --config FILE    JSON configuration (see the README's "Configuration" section)
  --data-dir DIR   folder of the embedded store (overrides the config's data_dir)
  --mllp-port N    MLLP port; 0 picks a free port, printed at start-up
  --http-port N    HTTP port (FHIR REST facade, /healthz, /readyz, /metrics); 0 picks a free port

Every message is stored durably before its ACK is sent. A message the gateway takes is first
converted to FHIR with mappings/ and validated with fhir-profiles/ (found beside the program, or
set in the config): errors give AE with one ERR segment per issue, warnings an AA with ERR-4 W. On start-up one line is printed on
standard output for each listener: "listening mllp 127.0.0.1:2575", "listening http 127.0.0.1:8080". SIGINT or SIGTERM stops the
gateway gracefully: it stops accepting, answers the messages in flight, then exits 0.
Exit codes: 0 stopped cleanly, 2 bad arguments or configuration, 3 store or port unavailable.
)";

// The "sandbox" destination: a message's FHIR written into this gateway's own store through the
// facade (a transaction; the gateway's own write, so it is not routed again).
class SandboxSender : public routing::Sender {
 public:
  // Weak: the facade's routing holds the workers that hold this sender.
  explicit SandboxSender(std::weak_ptr<http::Facade> facade) : facade_(std::move(facade)) {}
  routing::SendResult Send(const store::OutboxItem& item) override {
    auto facade = facade_.lock();
    if (facade == nullptr) return {routing::SendResult::Kind::kRetry, "stopping"};
    http::Request request;
    request.method = "POST";
    request.path = "/fhir";
    request.headers["content-type"] = "application/fhir+json";
    request.body = item.write.payload;
    request.routed = false;
    http::Response r = facade->HandleAndWait(request);
    return routing::FromHttpStatus(r.status, "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300));
  }

 private:
  std::weak_ptr<http::Facade> facade_;
};

// The sandbox's data: every valid example of fhir-profiles/, written once (a restart keeps them).
void SeedExamples(http::Facade& facade, const std::filesystem::path& profiles_dir) {
  int seeded = 0;
  for (const auto& file : FilesIn(profiles_dir / "examples" / "valid", ".json")) {
    auto text = ReadFile(file.string());
    if (!text.ok()) continue;
    auto doc = fhir::ParseJson(*text);
    if (!doc.ok() || !(*doc)->IsObject() || !(*doc)->HasMember("resourceType") || !(**doc)["resourceType"].IsString()) continue;
    std::string type = (**doc)["resourceType"].GetString();
    http::Request request;
    request.headers["content-type"] = "application/fhir+json";
    request.body = *text;
    request.routed = false;  // examples, not traffic: nothing goes to the ledger or elsewhere
    if (type == "Bundle") {
      // Seeded already when its first entry's resource is there.
      const rapidjson::Value& d = **doc;
      if (d.HasMember("entry") && d["entry"].IsArray() && !d["entry"].Empty() && d["entry"][0].IsObject() &&
          d["entry"][0].HasMember("request") && d["entry"][0]["request"].IsObject() &&
          d["entry"][0]["request"].HasMember("url") && d["entry"][0]["request"]["url"].IsString()) {
        http::Request read;
        read.method = "GET";
        read.path = std::string("/fhir/") + d["entry"][0]["request"]["url"].GetString();
        if (facade.HandleAndWait(read).status == 200) continue;
      }
      request.method = "POST";
      request.path = "/fhir";
    } else {
      if (!(*doc)->HasMember("id") || !(**doc)["id"].IsString()) continue;
      std::string id = (**doc)["id"].GetString();
      http::Request read;
      read.method = "GET";
      read.path = "/fhir/" + type + "/" + id;
      if (facade.HandleAndWait(read).status == 200) continue;  // already there
      request.method = "PUT";
      request.path = read.path;
    }
    http::Response r = facade.HandleAndWait(request);
    if (r.status >= 300) {
      log::Warn("serve.seed-failed", {{"file", file.filename().string()}, {"status", std::to_string(r.status)}});
    } else {
      ++seeded;
    }
  }
  log::Info("serve.seeded", {{"examples", std::to_string(seeded)}});
}

// The sandbox's routing: what every HL7 v2 message converts to is written into the sandbox's own
// FHIR store (readable at /fhir at once); ketamine orders and administrations, from MLLP and REST
// alike, post to the Schedule III ledger.
std::shared_ptr<const routing::Router> SandboxRouter() {
  rapidjson::Document doc;
  doc.Parse(R"({"destinations": {"ledger": {"type": "ledger"}, "sandbox": {"type": "sandbox"}},
                "routes": [{"name": "schedule-iii-ledger",
                            "match": {"resource_type": ["MedicationAdministration", "MedicationRequest"]},
                            "destinations": ["ledger"]},
                           {"name": "into-the-sandbox",
                            "match": {"message_type": ["RDE^O11", "OMP^O09", "ORM^O01", "RAS^O17", "ORU^R01",
                                                       "ADT^A01", "ADT^A04", "ADT^A08"]},
                            "destinations": ["sandbox"]}]})");
  auto router = routing::Router::FromJson(doc, "sandbox routing");
  KETAMINE_CHECK(router.ok());
  return *router;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway serve: %s\n", message.c_str());
  return code;
}

}  // namespace

int Serve(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--config", "--data-dir", "--mllp-port", "--http-port"}, {"--help"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kServeHelp, stdout);
    return kExitOk;
  }
  if (!args->positional.empty()) return Fail(kExitUsage, "unexpected argument " + args->positional[0]);
  // A peer (or whoever reads our standard output) going away must never end the gateway.
  std::signal(SIGPIPE, SIG_IGN);
  // Every connection holds a descriptor: not the 1024 a service manager's default soft limit allows.
  const uint64_t open_files = RaiseOpenFileLimit();

  const bool sandbox = args->Option("--config") == nullptr;
  Result<GatewayConfig> config = GatewayConfig{};
  if (const std::string* file = args->Option("--config")) config = LoadConfig(*file);
  if (!config.ok()) return Fail(kExitUsage, config.status().message());
  if (const std::string* dir = args->Option("--data-dir")) config->data_dir = *dir;
  if (const std::string* port = args->Option("--mllp-port")) {
    auto p = ParsePort(*port, "--mllp-port");
    if (!p.ok()) return Fail(kExitUsage, p.status().message());
    config->mllp.port = *p;
  }
  if (const std::string* port = args->Option("--http-port")) {
    auto p = ParsePort(*port, "--http-port");
    if (!p.ok()) return Fail(kExitUsage, p.status().message());
    config->http_port = *p;
  }
  // The parser's limit follows the listener's frame limit.
  config->inbound.parse.max_message_bytes = config->mllp.max_frame_bytes;

  // The profiles and mappings serve the REST facade always, and MLLP when convert_and_validate is on.
  auto profiles = FindProfilesDir(config->profiles_dir.empty() ? nullptr : &config->profiles_dir);
  if (!profiles.ok()) return Fail(kExitUsage, profiles.status().message());
  auto validator = profiles::Validator::Load(*profiles);
  if (!validator.ok()) return Fail(kExitUsage, validator.status().message());
  std::filesystem::path mappings = config->mappings_dir.empty()
                                       ? std::filesystem::absolute(*profiles).parent_path() / "mappings"
                                       : std::filesystem::path(config->mappings_dir);
  std::vector<std::filesystem::path> dirs{mappings};
  if (!config->site_mappings_dir.empty()) dirs.emplace_back(config->site_mappings_dir);
  auto converter = mapping::Converter::Load(dirs);
  if (!converter.ok()) return Fail(kExitUsage, converter.status().message());
  if (config->convert_and_validate) {
    config->inbound.converter = *converter;
    config->inbound.validator = *validator;
  }

  auto store = OpenStore(*config);
  if (!store.ok()) return Fail(kExitUnavailable, store.status().message());
  std::shared_ptr<store::MessageStore> shared_store = std::move(*store);

  // One delivery worker per destination; whoever queues something wakes its worker (the workers
  // also poll, for retries that come due).
  // The Schedule III ledger, in its own file beside the store; the sandbox routes ketamine orders
  // and administrations to it (a configured gateway names a "ledger" destination in its routes).
  auto opened_ledger = ledger::Ledger::Open(config->data_dir, config->ledger);
  if (!opened_ledger.ok()) return Fail(kExitUnavailable, opened_ledger.status().message());
  std::shared_ptr<ledger::Ledger> schedule_ledger = std::move(*opened_ledger);
  if (!config->router && sandbox) config->router = SandboxRouter();
  http::FacadeOptions facade_options;
  facade_options.operators = config->operators;
  auto facade = std::make_shared<http::Facade>(shared_store, *validator, *converter, facade_options);
  std::shared_ptr<routing::DeliveryWorkers> deliveries;
  if (config->router) {
    routing::LocalSenders local;
    local[routing::DestinationType::kSandbox] = [&](const routing::DestinationConfig&) -> std::unique_ptr<routing::Sender> {
      return std::make_unique<SandboxSender>(std::weak_ptr<http::Facade>(facade));
    };
    const profiles::ValueSetDef* ketamine_codes = (*validator)->profiles().FindValueSet(ledger::kKetamineValueSet);
    local[routing::DestinationType::kLedger] = [&](const routing::DestinationConfig&) -> std::unique_ptr<routing::Sender> {
      return std::make_unique<ledger::LedgerSender>(schedule_ledger, shared_store, ketamine_codes);
    };
    auto started = routing::DeliveryWorkers::Start(shared_store, *config->router, local,
                                                   config->postgres ? config->postgres->instance : "");
    if (!started.ok()) return Fail(kExitUsage, started.status().message());
    deliveries = std::move(*started);
    deliveries->KeepDeliveredFor(config->outbox_retention_days);
    config->inbound.router = config->router;
    config->inbound.queued = [deliveries](const std::vector<std::string>& destinations) { deliveries->Wake(destinations); };
  }
  auto pipeline = std::make_shared<pipeline::InboundPipeline>(shared_store, config->inbound,
                                                              Clock::System());
  std::unique_ptr<inbox::Inboxes> inboxes;  // started once routing is set, stopped before the store closes
  facade->set_extra_metrics([deliveries, pipeline, &inboxes]() {
    std::ostringstream out;
    const auto& c = pipeline->counters();
    out << "# HELP ketamine_mllp_messages_total HL7 v2 messages received over MLLP by outcome.\n"
           "# TYPE ketamine_mllp_messages_total counter\n"
        << "ketamine_mllp_messages_total{outcome=\"accepted\"} " << c.accepted << "\n"
        << "ketamine_mllp_messages_total{outcome=\"application_error\"} " << c.application_errors << "\n"
        << "ketamine_mllp_messages_total{outcome=\"duplicate\"} " << c.duplicates << "\n"
        << "ketamine_mllp_messages_total{outcome=\"rejected\"} " << c.rejected << "\n"
        << "ketamine_mllp_messages_total{outcome=\"store_failure\"} " << c.store_failures << "\n";
    if (deliveries) out << deliveries->PrometheusText();
    if (inboxes) out << inboxes->PrometheusText();
    return out.str();
  });
  if (deliveries) {
    facade->set_replayed([deliveries](const std::string& destination) { deliveries->Wake(destination); });
    facade->set_routing(
        [router = config->router, converter = *converter, store = shared_store](const std::string& type, const std::string& json) {
          return routing::OutboxForResource(*router, *converter, *store, type, json);
        },
        [deliveries](const std::vector<std::string>& destinations) { deliveries->Wake(destinations); });
  }
  facade->set_mount("ledger", [schedule_ledger](const http::Request& request, const std::vector<std::string>& parts) {
    return ledger::HandleRest(*schedule_ledger, request, parts);
  });
  // The sandbox's examples are in the store before any listener says it is ready.
  if (config->seed_examples) SeedExamples(*facade, *profiles);
  if (!config->inboxes.empty()) {
    for (size_t i = 0; i < config->inboxes.size(); ++i) {
      if ((*converter)->CsvPlanById(config->inboxes[i].layout) == nullptr) {
        return Fail(kExitUsage, "inboxes[" + std::to_string(i) + "].layout: no CSV layout '" + config->inboxes[i].layout +
                                    "' in mappings/csv/");
      }
    }
    auto started = inbox::Inboxes::Start(config->inboxes, [facade](const inbox::InboxOptions& box, std::string bytes) {
      // The file as an upload to /csv/{layout}: the same conversion, validation, transaction and routes.
      http::Request request;
      request.method = "POST";
      request.path = "/csv/" + box.layout;
      request.headers["content-type"] = "text/csv" + (box.charset.empty() ? std::string() : "; charset=" + box.charset);
      request.body = std::move(bytes);
      http::Response r = facade->ImportCsv(box.layout, request);
      const bool again = r.status == 409 || r.status == 429 || r.status >= 500;  // the store, not the file
      return inbox::ImportResult{r.status == 200 ? inbox::Verdict::kStored : again ? inbox::Verdict::kRetry : inbox::Verdict::kRefused,
                                 r.body, r.status};
    });
    if (!started.ok()) return Fail(kExitUnavailable, started.status().message());
    inboxes = std::move(*started);
  }
  boost::asio::io_context io;
  auto server = mllp::Server::Start(io, config->mllp, pipeline);
  if (!server.ok()) {
    int code = server.status().code() == StatusCode::kInvalidInput ? kExitUsage : kExitUnavailable;
    return Fail(code, server.status().message());
  }
  const std::string endpoint = config->mllp.host + ":" + std::to_string((*server)->port());
  log::Info("serve.started", {{"mllp", endpoint},
                              {"tls", config->mllp.tls ? "on" : "off"},
                              {"data_dir", config->data_dir.string()},
                              {"open_files", std::to_string(open_files)}});
  std::cout << "listening mllp " << endpoint << std::endl;

  http::ServerOptions http_options;
  http_options.host = config->http_host;
  http_options.port = config->http_port;
  http_options.max_body_bytes = config->http_max_body_bytes;
  http_options.drain_timeout = std::chrono::seconds(config->http_drain_seconds);
  http_options.certificate = config->http_certificate;
  http_options.private_key = config->http_private_key;
  auto http_server = http::Server::Start(http_options, [facade](const http::Request& r, http::Responder respond) { facade->Handle(r, std::move(respond)); });
  if (!http_server.ok()) {
    (*server)->Stop();
    return Fail(kExitUnavailable, http_server.status().message());
  }
  const std::string http_endpoint = config->http_host + ":" + std::to_string((*http_server)->port());
  if (config->operators == nullptr && config->http_host != "127.0.0.1" && config->http_host != "::1" &&
      config->http_host != "localhost") {
    log::Warn("serve.operator-endpoints-open", {{"http", http_endpoint},
                                                {"hint", "set http.operator_tokens_file to guard /admin and /ledger"}});
  }
  facade->set_base_url(!config->http_base_url.empty()
                           ? config->http_base_url
                           : std::string(config->http_certificate.empty() ? "http://" : "https://") + http_endpoint + "/fhir");
  log::Info("serve.http", {{"http", http_endpoint}, {"tls", config->http_certificate.empty() ? "off" : "on"}});
  std::cout << "listening http " << http_endpoint << std::endl;

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  auto work = boost::asio::make_work_guard(io);
  std::thread http_stopper;
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::Info("serve.stopping", {{"signal", std::to_string(signal)}});
    // Both listeners stop accepting now. MLLP messages in flight finish on the event loop (their
    // ACKs go out), then the sessions close. The REST stop waits for the writes in flight to be
    // committed and answered (up to http.drain_seconds): on a thread of its own, so that the event
    // loop goes on finishing MLLP messages meanwhile; run() returns after both.
    (*server)->Stop();
    http_stopper = std::thread([&] {
      (*http_server)->Stop();
      boost::asio::post(io, [&] { work.reset(); });
    });
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < config->threads; ++i) threads.emplace_back([&io] {
    NameThisThread("kgw-io");
    io.run();
  });
  io.run();
  for (auto& t : threads) t.join();
  if (http_stopper.joinable()) http_stopper.join();
  inboxes.reset();  // the file in hand finishes; the rest waits in its folder
  server->reset();
  http_server->reset();
  if (deliveries) deliveries->Stop();  // the item in hand finishes; the rest waits in the outbox
  deliveries.reset();
  facade.reset();
  schedule_ledger.reset();
  shared_store.reset();  // drains the store's queue and closes the database
  log::Info("serve.stopped");
  if (http::CloseStuck()) {
    // Everything of ours is closed and flushed; cpprestsdk's static objects would wait for the
    // stuck listener close again at exit (see http::CloseStuck).
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(kExitOk);
  }
  return kExitOk;
}

}  // namespace ketamine::cli
