// The FHIR REST facade: FHIR R4 semantics over the store, independent of the HTTP library (the
// server hands it Requests). Create/read/update/search of the six resource types, transaction and
// batch Bundles, conditional create, $validate, $convert-data, the CapabilityStatement, health and
// Prometheus metrics. Writes are validated like MLLP input (base R4, ketamine profiles, limits)
// and answered only after the store committed them, with the request itself stored beside them.
//   Facade facade(store, validator, converter, {});
//   http::Response r = facade.Handle(request);
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/issue.h"
#include "fhir/json.h"
#include "http/operators.h"
#include "http/server.h"
#include "mapping/converter.h"
#include "profiles/validator.h"
#include "store/message_store.h"

namespace ketamine::http {

// An error answer: an OperationOutcome with one issue of IssueType `code`, its FHIRPath location
// (`expression`, may be empty) and text; served by the facade and by what is mounted on it.
Response Outcome(int status, const char* code, const std::string& text, const std::string& expression = {});

struct FacadeOptions {
  std::string base_url = "http://127.0.0.1:8080/fhir";  // for fullUrls and next links
  // When set, /admin and the mounts (/ledger) answer only requests with an operator's token
  // (401 otherwise); FHIR, health and metrics stay as they are.
  std::shared_ptr<const OperatorTokens> operators;
  size_t default_count = 50;
  size_t max_count = 500;
  std::string software_version = "0.1.0";
};

class Facade : public std::enable_shared_from_this<Facade> {
 public:
  Facade(std::shared_ptr<store::MessageStore> store, std::shared_ptr<const profiles::Validator> validator,
         std::shared_ptr<const mapping::Converter> converter, FacadeOptions options);
  // Finishes the CSV import in hand; those still waiting are answered 503.
  ~Facade();
  // Answers through `respond`; writes answer from the store's thread once committed. The Facade
  // must be owned by a shared_ptr (answers that arrive late keep it alive).
  void Handle(const Request& request, Responder respond);
  // Blocking form, for tests and tools.
  Response HandleAndWait(const Request& request);
  void set_base_url(std::string url) { options_.base_url = std::move(url); }
  // More Prometheus text for /metrics (delivery queues, MLLP counters), and a hook told when an
  // operator replays a dead letter (to wake its destination's worker).
  void set_extra_metrics(std::function<std::string()> f) { extra_metrics_ = std::move(f); }
  void set_replayed(std::function<void(const std::string& destination)> f) { replayed_ = std::move(f); }
  // Serves /{prefix}/... with `handler` (given the path's segments, prefix first): the ledger's API.
  using Mount = std::function<Response(const Request&, const std::vector<std::string>& parts)>;
  void set_mount(std::string prefix, Mount handler) { mounts_[std::move(prefix)] = std::move(handler); }
  // POST /csv/{layout}: a clinic's CSV export (the request's body, its Content-Type), every row
  // converted, validated and stored in one transaction (all rows or none), routed like REST writes;
  // counted by layout and outcome. The folder inboxes hand their files here too.
  Response ImportCsv(const std::string& layout, const Request& request);
  // Routing of what REST clients write: the outbox items for a stored resource (its JSON with its
  // id), queued in the same transaction; `queued` is told the destinations after the commit.
  using RouteResource = std::function<std::vector<store::OutboxWrite>(const std::string& type, const std::string& json)>;
  void set_routing(RouteResource route, std::function<void(const std::vector<std::string>&)> queued) {
    route_ = std::move(route);
    queued_ = std::move(queued);
  }

 private:
  // An operator's token is on the request (logs who writes); false logs the refusal.
  bool OperatorAllowed(const Request& request) const;
  void Fhir(const Request& request, const std::vector<std::string>& parts, Responder respond);
  Response Metadata() const;
  Response Read(const std::string& type, const std::string& id);
  Response ReadSubset(const std::string& type, const std::string& id, const Request& request);
  Response ReadVersion(const std::string& type, const std::string& id, const std::string& version);
  Response History(const std::string& type, const std::string& id, const Request& request);
  // GET {type}/_history and GET /_history (`type` empty).
  Response TypeHistory(const std::string& type, const Request& request);
  // A Bundle entry's GET (search, read, vread, history), its URL relative to the base.
  Response ReadEntry(const std::string& url);
  Response Search(const std::string& type, const Request& request);
  // GET Patient/{id}/$everything.
  Response Everything(const std::string& id, const Request& request);
  void Create(const std::string& type, const Request& request, Responder respond);
  void Update(const std::string& type, const std::string& id, const Request& request, Responder respond);
  void ConditionalUpdate(const std::string& type, const Request& request, Responder respond);
  void Patch(const std::string& type, const std::string& id, const Request& request, Responder respond);
  void ConditionalPatch(const std::string& type, const Request& request, Responder respond);
  // An update of `type`/`id` to `doc` (validated; `warnings` what the validation said), answered after
  // its commit; `match_identifier` ("system|value", or "") makes it a conditional update.
  void Write(const std::string& type, const std::string& id, std::unique_ptr<fhir::JsonDocument> doc, Issues warnings,
             const std::string& match_identifier, const Request& request, Responder respond);
  Response Validate(const std::string& type, const Request& request);
  Response ConvertData(const Request& request);
  // One entry of a transaction or batch Bundle, planned before anything is written.
  struct PlannedEntry {
    std::string type, id, full_url, method, url;  // url: of a GET, read after the writes
    store::ResourceWrite write;
    Response error;
    bool failed = false;
  };
  // Plans the entries of `bundle`; `identities` ("Type?system|value" -> id), when given, carries the
  // conditional updates planned so far across the Bundles of one write (a CSV file's rows). A store
  // failure is the answer returned.
  std::optional<Response> PlanEntries(rapidjson::Document& bundle, rapidjson::Value& entries, std::vector<PlannedEntry>& plan,
                                      std::map<std::string, std::string>* identities);
  void Bundle(const Request& request, Responder respond);
  // A request below /fhir (`parts` after it): a 406 for a _format or Accept other than JSON, else Fhir.
  void FhirRequest(const Request& request, const std::vector<std::string>& parts, Responder respond);
  // The conditional updates of `bundles` looked up in the store in a few queries, for PlanEntries.
  Status LookUpIdentities(const std::vector<std::unique_ptr<rapidjson::Document>>& bundles,
                          std::map<std::string, std::string>& identities);
  // POST /csv/{layout} without the request counted as HTTP (below).
  Response ImportCsvNow(const std::string& layout, const Request& request);
  // Runs `work` on `lane` (started by its first task as `spec` says), off the HTTP pool: CSV imports
  // (up to seconds each) and Bundles (which wait for store lookups and commits) would hold the pool's
  // threads, health checks included. A full queue or a stop answers 503 with Retry-After.
  class Lane;
  struct LaneSpec {
    const char* thread_name;
    size_t threads;
    size_t max_waiting;
    const char* what;         // "file": what a stop's 503 says to send again
    const char* waiting;      // "CSV exports wait to be imported already": a full queue's 503
    const char* retry_after;  // seconds
  };
  void RunOnLane(std::unique_ptr<Lane>& lane, const LaneSpec& spec, std::function<void(const Responder&)> work,
                 Responder respond);
  Response BundleNow(const Request& request);
  Response Metrics() const;
  Response Ready();
  store::InboundRecord Record(const std::string& what, const Request& request, const std::string& body,
                              std::vector<store::ResourceWrite> writes,
                              std::vector<std::string>& destinations) const;
  // GET /admin/messages (`id` null) and /admin/messages/{id}.
  Response MessageTrace(const Request& request, const std::string* id);
  Response Admin(const Request& request, const std::vector<std::string>& parts);
  void Count(const std::string& method, int status);

  std::shared_ptr<store::MessageStore> store_;
  std::shared_ptr<const profiles::Validator> validator_;
  std::shared_ptr<const mapping::Converter> converter_;
  FacadeOptions options_;
  mutable std::mutex metrics_mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (method, status) -> count
  std::map<std::string, uint64_t> written_;                   // resource type -> resources written
  std::atomic<uint64_t> validation_failures_{0};
  std::map<std::pair<std::string, std::string>, uint64_t> csv_files_;  // (layout, stored|refused) -> files
  std::map<std::string, uint64_t> csv_rows_;                           // layout -> rows stored
  std::function<std::string()> extra_metrics_;
  std::function<void(const std::string&)> replayed_;
  std::map<std::string, Mount> mounts_;
  RouteResource route_;
  std::function<void(const std::vector<std::string>&)> queued_;
  // Threads for requests that wait on the store (blocking), off the HTTP pool, each started by the
  // first request it takes: CSV imports one at a time (kgw-import), transaction and batch Bundles
  // several at once (kgw-bundle) so that their commits share group commits.
  std::mutex lanes_mutex_;
  std::unique_ptr<Lane> imports_;
  std::unique_ptr<Lane> bundles_;
};

}  // namespace ketamine::http
