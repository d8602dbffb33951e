// Store-and-forward delivery: one worker thread per destination takes due items from the outbox
// (in the store, never a RAM queue that could drop), sends them, and records the outcome: delivered,
// a retry with exponential backoff and jitter, or after max_attempts a dead letter an operator
// lists and replays (/admin, CLI). Retries never touch the receive path. An item that was being
// sent when the gateway stopped is "sent, outcome unknown": it goes again with its idempotency
// key (and, for FHIR, as PUTs on the ids the first attempt used), never as a fresh create.
//   DeliveryWorker worker(store, destination, MakeSender(destination));
//   worker.Start(); ... worker.Stop();
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "routing/router.h"
#include "store/message_store.h"

namespace ketamine::routing {

struct SendResult {
  // kNotSent: the worker was stopping and the item never went out (it goes back to the queue as
  // never sent; not an attempt).
  enum class Kind { kDelivered, kRetry, kPermanent, kNotSent };
  Kind kind = Kind::kDelivered;
  std::string detail;  // the peer's answer or the error, for the outbox's last_error
  double seconds = -1; // how long the attempt took; < 0: not known (the worker times Send itself)
  // A failure of the destination, not of this item: it cannot be reached (connection, timeout,
  // no ACK), says it is unavailable or throttles (502, 503, 504, 429), or refuses our credentials
  // (401; with OAuth2, once a fresh token was refused too). The worker then holds the
  // destination's other items back for the first retry delay; a failure of one item alone (a 409
  // or 500 for that resource) does not.
  bool destination_wide = false;
};

// What an HTTP status from a FHIR server means for the item: 2xx delivered; busy, down,
// throttled, unauthorized or a conflict of concurrent writes (401, 408, 409, 429, 5xx) a retry,
// destination-wide for 401, 429, 502, 503 and 504; anything else a refusal it would repeat every time.
SendResult FromHttpStatus(int status, std::string detail);

class Sender {
 public:
  virtual ~Sender() = default;
  virtual SendResult Send(const store::OutboxItem& item) = 0;
  // The items a claim handed out: at most one per partition, so they may go at once. By default
  // one after another; a FHIR sender keeps `concurrency` requests on the wire. `go_on` (when set)
  // is asked before each item goes: once it says false, the items not yet sent are kNotSent.
  virtual std::vector<SendResult> SendAll(const std::vector<store::OutboxItem>& items,
                                          const std::function<bool()>& go_on);
};

// FHIR server (POST of the transaction Bundle to the base), MLLP peer (waits for its ACK: AA/CA
// delivered, AE/AR a permanent failure), or folder (one file per item, written then renamed).
// nullptr for a kind served inside the gateway (the ledger, the sandbox): see LocalSenders.
std::unique_ptr<Sender> MakeSender(const DestinationConfig& destination);

// Senders for destinations inside the gateway, made by whoever owns them (the ledger is opened by
// serve; routing does not know it).
using LocalSenders = std::map<DestinationType, std::function<std::unique_ptr<Sender>(const DestinationConfig&)>>;

// Upper bounds (seconds) of the attempt latency histogram's buckets; one more bucket is +Inf.
inline constexpr double kLatencyBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
inline constexpr size_t kLatencyBucketCount = std::size(kLatencyBuckets) + 1;

struct DeliveryCounters {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> dead{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> latency_us_total{0};                 // per attempt, for the histogram's sum
  std::array<std::atomic<uint64_t>, kLatencyBucketCount> latency_buckets{};  // not cumulative
  void Observe(double seconds);
};

class DeliveryWorker {
 public:
  DeliveryWorker(std::shared_ptr<store::MessageStore> store, DestinationConfig destination, std::unique_ptr<Sender> sender);
  ~DeliveryWorker();
  void Start();
  // Finishes the requests on the wire, sends nothing more (claimed items not yet sent go back to
  // the queue as never sent), then returns.
  void Stop();
  void Wake();   // something was queued: look now instead of at the next poll
  const DestinationConfig& destination() const { return destination_; }
  const DeliveryCounters& counters() const { return counters_; }

 private:
  void Loop();
  void PauseWhileDown();  // the first retry delay, or until Stop(); wake-ups do not end it
  int64_t BackoffMs(int attempts);

  std::shared_ptr<store::MessageStore> store_;
  DestinationConfig destination_;
  std::unique_ptr<Sender> sender_;
  DeliveryCounters counters_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_ = false;  // written under mutex_; read by the sender between items
  bool woken_ = false;
  bool listening_ = false;  // the worker waits for Wake() (not while the destination looks down)
  std::thread thread_;
};

// Every destination's worker, started from the routing config: the pipeline and the REST facade
// wake them after they queued something, an operator's replay wakes the one concerned, /metrics
// reads their queues and figures.
// Removes every delivered item older than `days` (0: all delivered items), `chunk` per short
// transaction so deliveries go on between them; how many were removed. `go_on`, when given, is
// asked before each chunk: false ends the pass there (a shutdown need not wait for a long first
// pass over millions of old items).
Result<int64_t> PruneDelivered(store::MessageStore& store, int days, const std::function<bool()>& go_on = {},
                               size_t chunk = 10000);

class DeliveryWorkers {
 public:
  // A destination without a sender (a ledger destination when no ledger was given) is refused.
  // `instance`: this gateway's name among those sharing a PostgreSQL store; a destination that
  // lists its instances gets a worker only in those. Empty: every destination gets one.
  static Result<std::unique_ptr<DeliveryWorkers>> Start(std::shared_ptr<store::MessageStore> store, const Router& router,
                                                        const LocalSenders& local = {}, const std::string& instance = "");
  ~DeliveryWorkers();
  void Wake(const std::vector<std::string>& destinations);
  void Wake(const std::string& destination);
  // Prometheus text: outbox items by state, oldest pending age, attempts by result, a histogram of
  // attempt latency.
  std::string PrometheusText() const;
  // Retention: removes delivered items older than `days` at once and then every hour (their
  // messages stay in the store; 0 keeps them for ever). Stop() ends it.
  void KeepDeliveredFor(int days);
  void Stop();  // each finishes the items in hand; the rest waits in the outbox

 private:
  explicit DeliveryWorkers(std::shared_ptr<store::MessageStore> store) : store_(std::move(store)) {}
  std::shared_ptr<store::MessageStore> store_;
  std::map<std::string, std::unique_ptr<DeliveryWorker>> workers_;
  std::mutex retention_mutex_;
  std::condition_variable retention_wake_;
  std::atomic<bool> retention_stopping_ = false;  // written under retention_mutex_, read by the pass
  std::thread retention_;
};

}  // namespace ketamine::routing
