#include "routing/delivery.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "http/server.h"
#include "store/sqlite_store.h"

namespace ketamine::routing {
namespace {

Result<std::shared_ptr<const Router>> RouterFrom(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  return Router::FromJson(doc);
}

TEST(RouterConfig, ConcurrencyIsForFhirDestinationsWithinBounds) {
  auto ok = RouterFrom(R"({"destinations": {"r": {"type": "fhir", "url": "http://x/fhir", "concurrency": 16}}})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)->destinations().at("r").concurrency, 16);
  auto fallback = RouterFrom(R"({"destinations": {"r": {"type": "fhir", "url": "http://x/fhir"}}})");
  EXPECT_EQ((*fallback)->destinations().at("r").concurrency, 8);
  auto mllp = RouterFrom(R"({"destinations": {"p": {"type": "mllp", "host": "h", "port": 2575, "concurrency": 4}}})");
  ASSERT_FALSE(mllp.ok());
  EXPECT_NE(mllp.status().message().find("destinations.p.concurrency"), std::string::npos) << mllp.status().message();
  auto big = RouterFrom(R"({"destinations": {"r": {"type": "fhir", "url": "http://x/fhir", "concurrency": 65}}})");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("concurrency"), std::string::npos);
}

// Records what it is handed, as a destination would see it: per partition, in order.
class RecordingSender : public Sender {
 public:
  SendResult Send(const store::OutboxItem& item) override {
    std::lock_guard lock(mutex_);
    seen_[item.write.partition].push_back(item.write.payload);
    ++total_;
    return {SendResult::Kind::kDelivered, "ok", 0.003};
  }
  std::vector<SendResult> SendAll(const std::vector<store::OutboxItem>& items, const std::function<bool()>& go_on) override {
    {
      std::lock_guard lock(mutex_);
      std::set<std::string> partitions;
      for (const auto& i : items) partitions.insert(i.write.partition);
      if (partitions.size() != items.size()) two_of_one_partition_ = true;
    }
    return Sender::SendAll(items, go_on);
  }
  std::map<std::string, std::vector<std::string>> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int total() {
    std::lock_guard lock(mutex_);
    return total_;
  }
  bool two_of_one_partition() {
    std::lock_guard lock(mutex_);
    return two_of_one_partition_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> seen_;
  int total_ = 0;
  bool two_of_one_partition_ = false;
};

// Senders of type S for destinations of `type`; `made` points at the one the worker got.
template <typename S>
LocalSenders OneSender(DestinationType type, S*& made) {
  return {{type, [&made](const DestinationConfig&) {
             auto sender = std::make_unique<S>();
             made = sender.get();
             return std::unique_ptr<Sender>(std::move(sender));
           }}};
}

// An RDE^O11 from PHARM|CLINIC with one item for "registry" in `partition`.
store::InboundRecord Queued(const std::string& control_id, const std::string& partition, const std::string& payload) {
  store::InboundRecord r;
  r.received_at = "2026-11-23T10:00:00.000Z";
  r.listener = "mllp";
  r.sending_application = "PHARM";
  r.sending_facility = "CLINIC";
  r.control_id = control_id;
  r.message_type = "RDE^O11";
  r.outbox.push_back({"registry", partition, "application/fhir+json", payload, "PHARM|CLINIC|" + control_id});
  return r;
}

TEST(DeliveryWorker, SendsEachPartitionInOrderNeverTwoOfOnePartitionAtOnce) {
  const auto dir = std::filesystem::temp_directory_path() / ("kgw-delivery-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::shared_ptr<store::MessageStore> store = std::move(*store::SqliteStore::Open(dir));
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) {
    store::InboundRecord r = Queued("M" + std::to_string(i), "Patient/" + std::to_string(i % 7), std::to_string(i));
    store::ResourceWrite w;
    w.type = "Patient";
    w.id = "p" + std::to_string(i);
    w.json = R"({"resourceType":"Patient"})";
    r.resources.push_back(w);
    ASSERT_TRUE(store->AppendAndWait(std::move(r)).ok());
  }
  auto router = RouterFrom(R"({"destinations": {"registry": {"type": "fhir", "url": "http://x/fhir"}}})");
  ASSERT_TRUE(router.ok());
  RecordingSender* seen = nullptr;
  LocalSenders local = OneSender(DestinationType::kFhir, seen);
  auto workers = DeliveryWorkers::Start(store, **router, local);
  ASSERT_TRUE(workers.ok());
  for (int i = 0; i < 400 && seen->total() < kMessages; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  (*workers)->Stop();
  ASSERT_EQ(seen->total(), kMessages);
  EXPECT_FALSE(seen->two_of_one_partition());
  for (const auto& [partition, payloads] : seen->seen()) {
    for (size_t k = 1; k < payloads.size(); ++k) EXPECT_LT(std::stoi(payloads[k - 1]), std::stoi(payloads[k])) << partition;
  }
  // Every attempt took 3 ms: all in the first bucket (le 5 ms) and so in every one after it.
  const std::string metrics = (*workers)->PrometheusText();
  EXPECT_NE(metrics.find("# TYPE ketamine_delivery_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(metrics.find("ketamine_delivery_latency_seconds_bucket{destination=\"registry\",le=\"0.005\"} 300\n"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ketamine_delivery_latency_seconds_bucket{destination=\"registry\",le=\"+Inf\"} 300\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("ketamine_delivery_latency_seconds_count{destination=\"registry\"} 300\n"), std::string::npos);
  EXPECT_NE(metrics.find("ketamine_delivery_latency_seconds_sum{destination=\"registry\"} 0.9\n"), std::string::npos);
  EXPECT_NE(metrics.find("ketamine_outbox_items{destination=\"registry\",state=\"delivered\"} 300\n"), std::string::npos);
  // Retention: none is a day old; with 0 days every delivered item goes (in chunks), the messages stay.
  EXPECT_EQ(*PruneDelivered(*store, 1), 0);
  // A pass told to stop after two chunks of 10 has removed those 20 and no more.
  int asked = 0;
  EXPECT_EQ(*PruneDelivered(*store, 0, [&asked] { return ++asked <= 2; }, 10), 20);
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(store->Stats("registry")->delivered, kMessages - 20);
  EXPECT_EQ(*PruneDelivered(*store, 0), kMessages - 20);
  EXPECT_EQ(store->Stats("registry")->delivered, 0);
  EXPECT_EQ(*store->Count(), kMessages);
  std::filesystem::remove_all(dir);
}

// One item at a time, 100 ms each: a slow MLLP peer, say.
class SlowSender : public Sender {
 public:
  SendResult Send(const store::OutboxItem&) override {
    ++started_;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return {SendResult::Kind::kDelivered, "ok", 0.1};
  }
  std::atomic<int> started_ = 0;
};

TEST(DeliveryWorker, StopSendsNothingMoreAndPutsTheRestBackAsNeverSent) {
  const auto dir = std::filesystem::temp_directory_path() / ("kgw-delivery-stop-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::shared_ptr<store::MessageStore> store = std::move(*store::SqliteStore::Open(dir));
  constexpr int kMessages = 30;  // one claim: 30 patients, one item each
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(store->AppendAndWait(Queued("S" + std::to_string(i), "Patient/" + std::to_string(i), std::to_string(i))).ok());
  }
  auto router = RouterFrom(R"({"destinations": {"registry": {"type": "folder", "folder": "/nonexistent"}}})");
  ASSERT_TRUE(router.ok()) << router.status().message();
  SlowSender* sender = nullptr;
  LocalSenders local = OneSender(DestinationType::kFolder, sender);
  auto workers = DeliveryWorkers::Start(store, **router, local);
  ASSERT_TRUE(workers.ok());
  for (int i = 0; i < 200 && sender->started_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto stop = std::chrono::steady_clock::now();
  (*workers)->Stop();
  // The item on the wire finishes; the other 29 of the claim are not sent (3 s if they were).
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::milliseconds(1000));
  const int sent = sender->started_;
  EXPECT_LE(sent, 2);
  EXPECT_EQ(store->Stats("registry")->delivered, sent);
  auto pending = store->ListOutbox("registry", store::OutboxState::kPending, 100);
  ASSERT_EQ(pending->size(), static_cast<size_t>(kMessages - sent));  // none left "sending"
  for (const auto& item : *pending) EXPECT_EQ(item.attempts, 0) << item.id;
  // Nothing was attempted for them: metrics count the attempts that were made.
  EXPECT_NE((*workers)->PrometheusText().find("ketamine_delivery_attempts_total{destination=\"registry\",result=\"delivered\"} " +
                                               std::to_string(sent)), std::string::npos) << (*workers)->PrometheusText();
  std::filesystem::remove_all(dir);
}

// A destination that is down (every send a retry) until it is told it is up; counts the attempts.
class DownSender : public Sender {
 public:
  SendResult Send(const store::OutboxItem&) override {
    ++attempts_;
    if (!up_) return {SendResult::Kind::kRetry, "connection refused", 0.001, true};
    ++delivered_;
    return {SendResult::Kind::kDelivered, "ok", 0.001};
  }
  std::atomic<bool> up_ = false;
  std::atomic<int> attempts_ = 0;
  std::atomic<int> delivered_ = 0;
};

// A store in a folder of its own and the workers of one destination, "registry", whose retries
// all wait 800 ms, served by a sender of type S. Items queued before Start() are there when the
// worker first claims.
template <typename S>
class SlowRetryRegistry {
 public:
  explicit SlowRetryRegistry(const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() / ("kgw-delivery-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    if (auto opened = store::SqliteStore::Open(dir_); opened.ok()) store = std::move(*opened);
  }
  ~SlowRetryRegistry() {
    if (workers) workers->Stop();
    std::filesystem::remove_all(dir_);
  }
  testing::AssertionResult Start() {
    if (!store) return testing::AssertionFailure() << "the store did not open";
    auto router = RouterFrom(R"({"destinations": {"registry": {"type": "folder", "folder": "/nonexistent",
                                 "initial_backoff_ms": 800, "max_backoff_ms": 800}}})");
    if (!router.ok()) return testing::AssertionFailure() << router.status().message();
    router_ = *router;
    auto started = DeliveryWorkers::Start(store, *router_, OneSender(DestinationType::kFolder, sender));
    if (!started.ok()) return testing::AssertionFailure() << started.status().message();
    workers = std::move(*started);
    return testing::AssertionSuccess();
  }

  std::shared_ptr<store::MessageStore> store;
  S* sender = nullptr;
  std::unique_ptr<DeliveryWorkers> workers;

 private:
  std::filesystem::path dir_;
  std::shared_ptr<const Router> router_;
};

// While every send fails, the worker does not claim at each wake-up (each group that queues for it
// under load, a thousand a second): it waits the first retry delay between claims, and takes items
// of new patients, due at once, then. The first delivery ends that.
TEST(DeliveryWorker, WhileTheDestinationLooksDownClaimsWaitTheFirstRetryDelayNotEachWakeUp) {
  SlowRetryRegistry<DownSender> registry("down");
  ASSERT_TRUE(registry.store->AppendAndWait(Queued("D0", "Patient/0", "0")).ok());
  ASSERT_TRUE(registry.Start());
  DownSender* sender = registry.sender;
  for (int i = 0; i < 200 && sender->attempts_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(sender->attempts_, 1);
  // Five new patients, each item the oldest of its patient and due at once, each with its wake-up.
  for (int p = 1; p <= 5; ++p) {
    ASSERT_TRUE(registry.store->AppendAndWait(Queued("D" + std::to_string(p), "Patient/" + std::to_string(p), std::to_string(p))).ok());
    registry.workers->Wake("registry");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sender->attempts_, 1) << "claimed at a wake-up while the destination looked down";
  sender->up_ = true;
  for (int i = 0; i < 400 && sender->delivered_ < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(sender->delivered_, 6);
  // Up again: a wake-up is answered at once.
  ASSERT_TRUE(registry.store->AppendAndWait(Queued("D6", "Patient/6", "6")).ok());
  const auto queued = std::chrono::steady_clock::now();
  registry.workers->Wake("registry");
  for (int i = 0; i < 400 && sender->delivered_ < 7; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(sender->delivered_, 7);
  EXPECT_LT(std::chrono::steady_clock::now() - queued, std::chrono::milliseconds(150)) << "the poll (200 ms), not the wake-up";
}

// A destination that refuses one patient's items (a 409 for that resource, every time) and takes
// everything else.
class OneConflictSender : public Sender {
 public:
  SendResult Send(const store::OutboxItem& item) override {
    if (item.write.partition == "Patient/0") {
      ++conflicts_;
      return FromHttpStatus(409, "HTTP 409 version conflict");
    }
    ++delivered_;
    return {SendResult::Kind::kDelivered, "ok", 0.001};
  }
  std::atomic<int> conflicts_ = 0;
  std::atomic<int> delivered_ = 0;
};

// One item's own retryable failure is not the destination's: a round that sent only that item
// does not hold the next patient's item back for the first retry delay.
TEST(DeliveryWorker, OneItemsRetryDoesNotHoldTheOtherPatientsBack) {
  SlowRetryRegistry<OneConflictSender> registry("conflict");
  ASSERT_TRUE(registry.store->AppendAndWait(Queued("C0", "Patient/0", "0")).ok());
  ASSERT_TRUE(registry.Start());
  OneConflictSender* sender = registry.sender;
  for (int i = 0; i < 200 && sender->conflicts_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(sender->conflicts_, 1);
  for (int p = 1; p <= 3; ++p) {
    ASSERT_TRUE(registry.store->AppendAndWait(Queued("C" + std::to_string(p), "Patient/" + std::to_string(p), std::to_string(p))).ok());
    const auto queued = std::chrono::steady_clock::now();
    registry.workers->Wake("registry");
    for (int i = 0; i < 400 && sender->delivered_ < p; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(sender->delivered_, p);
    EXPECT_LT(std::chrono::steady_clock::now() - queued, std::chrono::milliseconds(150))
        << "held back by the other patient's 409";
  }
  EXPECT_EQ(sender->conflicts_, 1) << "the refused item is retried after its backoff (800 ms), not sooner";
}

// Which HTTP answers are the destination's failure and which the item's.
TEST(FromHttpStatus, ServerWideAnswersAreTheDestinationsFailureConflictsAndErrorsTheItems) {
  for (int status : {401, 429, 502, 503, 504}) {
    const SendResult r = FromHttpStatus(status, "");
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << status;
    EXPECT_TRUE(r.destination_wide) << status;
  }
  for (int status : {408, 409, 500}) {
    const SendResult r = FromHttpStatus(status, "");
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << status;
    EXPECT_FALSE(r.destination_wide) << status;
  }
  for (int status : {200, 201, 400, 404, 422}) EXPECT_FALSE(FromHttpStatus(status, "").destination_wide) << status;
}

// A FHIR sender told to stop sends nothing, not even its OAuth2 token request.
TEST(FhirSender, StoppingSendsNothingNotEvenATokenRequest) {
  std::atomic<int> requests = 0;
  http::ServerOptions options;
  options.port = 0;
  auto peer = http::Server::Start(options, [&requests](const http::Request&, http::Responder respond) {
    ++requests;
    respond({200, "application/json", {}, R"({"access_token":"t","token_type":"bearer","expires_in":300})"});
  });
  ASSERT_TRUE(peer.ok());
  const std::string base = "http://127.0.0.1:" + std::to_string((*peer)->port());
  auto router = RouterFrom(R"({"destinations": {"registry": {"type": "fhir", "url": ")" + base + R"(/fhir",
      "oauth2": {"token_url": ")" + base + R"(/token", "client_id": "gw", "client_secret": "s"}}}})");
  ASSERT_TRUE(router.ok()) << router.status().message();
  auto sender = MakeSender((*router)->destinations().at("registry"));
  std::vector<store::OutboxItem> items(3);
  auto results = sender->SendAll(items, [] { return false; });
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_EQ(r.kind, SendResult::Kind::kNotSent);
  EXPECT_EQ(requests, 0);
  // The same sender, going on: a token, then the three POSTs.
  results = sender->SendAll(items, [] { return true; });
  for (const auto& r : results) EXPECT_EQ(r.kind, SendResult::Kind::kDelivered) << r.detail;
  EXPECT_EQ(requests, 4);
  // Connections closed before the peer stops; the continuations its stop schedules on cpprestsdk's
  // pool run before the process ends (else LeakSanitizer reports them).
  sender.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*peer)->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace ketamine::routing
