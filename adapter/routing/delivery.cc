#include "routing/delivery.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <random>
#include <sstream>

#include "common/clock.h"
#include "common/file.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "fhir/json.h"
#include "http/client.h"
#include "http/jwt.h"
#include "mllp/client.h"
#include "routing/merge.h"

namespace ketamine::routing {
namespace {

// A retry because the destination failed as a whole (see SendResult::destination_wide).
SendResult Unreached(std::string detail) {
  SendResult result{SendResult::Kind::kRetry, std::move(detail)};
  result.destination_wide = true;
  return result;
}

class FhirSender : public Sender {
 public:
  explicit FhirSender(DestinationConfig d) : d_(std::move(d)) {
    auto client = http::Client::Make(d_.url, {d_.timeout_ms, Tls()});
    if (client.ok()) {
      client_ = std::move(*client);
    } else {
      client_error_ = client.status().message();
    }
  }

  SendResult Send(const store::OutboxItem& item) override { return SendAll({item}, {}).front(); }

  std::vector<SendResult> SendAll(const std::vector<store::OutboxItem>& items, const std::function<bool()>& go_on) override {
    const std::vector<DeliveryRequest> requests = MergeDeliveries(items, static_cast<size_t>(d_.items_per_request));
    const std::vector<SendResult> answers = SendRequests(requests, items, go_on);
    std::vector<SendResult> results(items.size());
    // A merged transaction the server refuses is refused whole: each of its items goes again
    // alone at once, so that only the one the server cannot take becomes a dead letter.
    std::vector<DeliveryRequest> alone;
    for (size_t r = 0; r < requests.size(); ++r) {
      if (answers[r].kind == SendResult::Kind::kPermanent && requests[r].items.size() > 1) {
        for (size_t i : requests[r].items) alone.push_back({{i}, {}, {}});
        continue;
      }
      for (size_t i : requests[r].items) results[i] = answers[r];
    }
    const std::vector<SendResult> again = SendRequests(alone, items, go_on);
    for (size_t k = 0; k < alone.size(); ++k) results[alone[k].items[0]] = again[k];
    return results;
  }

 private:
  std::vector<SendResult> SendRequests(const std::vector<DeliveryRequest>& requests, const std::vector<store::OutboxItem>& items,
                                       const std::function<bool()>& go_on) {
    std::vector<SendResult> results(requests.size(), SendResult{SendResult::Kind::kNotSent, "not sent: the worker stopped"});
    std::vector<size_t> todo(requests.size());
    for (size_t i = 0; i < todo.size(); ++i) todo[i] = i;
    // A 401 means the token expired or was revoked early: a new token, and those once more at once.
    for (int round = 0; round < 2 && !todo.empty(); ++round) {
      auto answers = Attempt(requests, items, todo, go_on);  // fewer answers than `todo` when told to stop
      std::vector<size_t> again;
      for (size_t k = 0; k < answers.size(); ++k) {
        const auto& r = answers[k];
        if (round == 0 && r.ok() && r->status == 401 && !d_.token_url.empty()) {
          again.push_back(todo[k]);
          continue;
        }
        SendResult& out = results[todo[k]];
        if (!r.ok()) {
          out = Unreached(r.status().message());  // no HTTP answer: not reached, or none in time
          continue;
        }
        out = FromHttpStatus(r->status, "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300));
        out.seconds = r->seconds;
      }
      if (!again.empty()) token_.clear();
      todo = std::move(again);
    }
    return results;
  }

  std::vector<Result<http::ClientResponse>> Attempt(const std::vector<DeliveryRequest>& requests,
                                                    const std::vector<store::OutboxItem>& items,
                                                    const std::vector<size_t>& which, const std::function<bool()>& go_on) {
    if (go_on && !go_on()) return {};  // stopping: not even a token request
    http::Headers auth;
    if (!d_.token_url.empty()) {
      auto token = Token();
      if (!token.ok()) return std::vector<Result<http::ClientResponse>>(which.size(), token.status());
      auth.emplace_back("Authorization", "Bearer " + *token);
    } else if (!d_.bearer_token.empty()) {
      auth.emplace_back("Authorization", "Bearer " + d_.bearer_token);
    }
    if (client_ == nullptr) {
      return std::vector<Result<http::ClientResponse>>(which.size(), Unavailable(d_.url + ": " + client_error_));
    }
    std::vector<http::OutgoingPost> posts;
    posts.reserve(which.size());
    for (size_t i : which) {
      http::OutgoingPost post{PayloadOf(requests[i], items),
                              {{"Content-Type", "application/fhir+json"},
                               {"Accept", "application/fhir+json"},
                               {"X-Idempotency-Key", KeyOf(requests[i], items)}}};
      post.headers.insert(post.headers.end(), auth.begin(), auth.end());
      posts.push_back(std::move(post));
    }
    return client_->PostAll(posts, static_cast<size_t>(d_.concurrency), go_on);
  }

  http::ClientTls Tls() const { return {d_.tls_ca, d_.tls_certificate, d_.tls_private_key}; }

  // OAuth2 client credentials: the cached token, or a new one from the token endpoint.
  Result<std::string> Token() {
    const auto now = std::chrono::steady_clock::now();
    if (!token_.empty() && now < token_expires_) return token_;
    std::string form = "grant_type=client_credentials";
    if (d_.jwt_signer) {
      // SMART Backend Services: a fresh signed assertion for every token request (its jti is new).
      KETAMINE_ASSIGN_OR_RETURN(std::string assertion,
                                d_.jwt_signer->ClientAssertion(d_.client_id, d_.token_url, d_.jwt_kid, Clock::System().Now()));
      form += "&client_assertion_type=" + http::PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
              "&client_assertion=" + assertion;
    } else {
      form += "&client_id=" + http::PercentEncode(d_.client_id);
      if (!d_.client_secret.empty()) form += "&client_secret=" + http::PercentEncode(d_.client_secret);
    }
    if (!d_.scope.empty()) form += "&scope=" + http::PercentEncode(d_.scope);
    auto r = http::Post(d_.token_url, form, {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}},
                        d_.timeout_ms, Tls());
    if (!r.ok()) return Unavailable("token endpoint: " + r.status().message());
    if (r->status != 200) return Unavailable("token endpoint answered HTTP " + std::to_string(r->status));
    auto doc = fhir::ParseJson(r->body);
    if (!doc.ok() || !(*doc)->IsObject() || !(*doc)->HasMember("access_token") || !(**doc)["access_token"].IsString()) {
      return Unavailable("token endpoint: no access_token in its answer");
    }
    token_ = (**doc)["access_token"].GetString();
    int expires_in = 300;
    if ((*doc)->HasMember("expires_in") && (**doc)["expires_in"].IsInt()) expires_in = (**doc)["expires_in"].GetInt();
    token_expires_ = now + std::chrono::seconds(std::max(1, expires_in - 30));  // renewed before it runs out
    return token_;
  }

  DestinationConfig d_;
  std::unique_ptr<http::Client> client_;  // one pool of kept-alive connections for the destination
  std::string client_error_;
  std::string token_;
  std::chrono::steady_clock::time_point token_expires_{};
};

class MllpSender : public Sender {
 public:
  explicit MllpSender(DestinationConfig d) : d_(std::move(d)) {}
  SendResult Send(const store::OutboxItem& item) override {
    if (!client_) {
      mllp::ClientOptions options;
      options.ack_timeout_ms = d_.timeout_ms;
      auto c = mllp::Client::Connect(d_.host, d_.port, options);
      if (!c.ok()) return Unreached(c.status().message());
      client_ = std::move(*c);
    }
    auto ack = client_->Send(item.write.payload);
    if (!ack.ok()) {
      client_.reset();  // reconnect next time
      return Unreached(ack.status().message());
    }
    const std::string detail = "MSA-1 " + ack->code;
    if (ack->code == "AA" || ack->code == "CA") return {SendResult::Kind::kDelivered, detail};
    return {SendResult::Kind::kPermanent, detail};  // AE/AR: the peer refuses this message
  }

 private:
  DestinationConfig d_;
  std::unique_ptr<mllp::Client> client_;
};

class FolderSender : public Sender {
 public:
  explicit FolderSender(DestinationConfig d) : d_(std::move(d)) {}
  SendResult Send(const store::OutboxItem& item) override {
    std::error_code ec;
    std::filesystem::create_directories(d_.folder, ec);
    const bool json = item.write.content_type.find("json") != std::string::npos;
    const std::string name = "outbox-" + std::to_string(item.id) + (json ? ".json" : ".hl7");
    const std::filesystem::path final_path = std::filesystem::path(d_.folder) / name;
    if (Status written = WriteFileDurably(final_path, item.write.payload); !written.ok()) return Unreached(written.message());
    return {SendResult::Kind::kDelivered, final_path.filename().string()};
  }

 private:
  DestinationConfig d_;
};

}  // namespace

std::vector<SendResult> Sender::SendAll(const std::vector<store::OutboxItem>& items, const std::function<bool()>& go_on) {
  std::vector<SendResult> results;
  results.reserve(items.size());
  for (const store::OutboxItem& item : items) {
    if (go_on && !go_on()) {
      results.push_back({SendResult::Kind::kNotSent, "not sent: the worker stopped"});
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    results.push_back(Send(item));
    if (results.back().seconds < 0) {
      results.back().seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  return results;
}

void DeliveryCounters::Observe(double seconds) {
  size_t bucket = 0;
  while (bucket < std::size(kLatencyBuckets) && seconds > kLatencyBuckets[bucket]) ++bucket;
  ++latency_buckets[bucket];
  latency_us_total += static_cast<uint64_t>(std::max(0.0, seconds) * 1e6);
}

SendResult FromHttpStatus(int status, std::string detail) {
  if (status >= 200 && status < 300) return {SendResult::Kind::kDelivered, std::move(detail)};
  if (status == 401 || status == 408 || status == 409 || status == 429 || status >= 500) {
    SendResult retry{SendResult::Kind::kRetry, std::move(detail)};
    retry.destination_wide = status == 401 || status == 429 || status == 502 || status == 503 || status == 504;
    return retry;
  }
  return {SendResult::Kind::kPermanent, std::move(detail)};
}

std::unique_ptr<Sender> MakeSender(const DestinationConfig& destination) {
  switch (destination.type) {
    case DestinationType::kFhir: return std::make_unique<FhirSender>(destination);
    case DestinationType::kMllp: return std::make_unique<MllpSender>(destination);
    case DestinationType::kFolder: return std::make_unique<FolderSender>(destination);
    case DestinationType::kLedger:
    case DestinationType::kSandbox: return nullptr;
  }
  return nullptr;
}

DeliveryWorker::DeliveryWorker(std::shared_ptr<store::MessageStore> store, DestinationConfig destination,
                               std::unique_ptr<Sender> sender)
    : store_(std::move(store)), destination_(std::move(destination)), sender_(std::move(sender)) {}

DeliveryWorker::~DeliveryWorker() { Stop(); }

void DeliveryWorker::Start() {
  thread_ = std::thread([this] {
    NameThisThread("kgw-out-" + destination_.name);
    Loop();
  });
}

void DeliveryWorker::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeliveryWorker::Wake() {
  bool listening;
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
    listening = listening_;
  }
  // A wake-up the worker would only go back to sleep from costs a context switch per group.
  if (listening) wake_.notify_all();
}

int64_t DeliveryWorker::BackoffMs(int attempts) {
  // Exponential from the first delay, capped, with "full jitter" so that a destination coming
  // back is not hit by every waiting item at the same moment.
  double base = destination_.initial_backoff_ms;
  for (int i = 1; i < attempts && base < destination_.max_backoff_ms; ++i) base *= 2;
  base = std::min<double>(base, destination_.max_backoff_ms);
  thread_local std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return static_cast<int64_t>(base * jitter(random));
}

void DeliveryWorker::Loop() {
  constexpr auto kPoll = std::chrono::milliseconds(200);
  // Enough for every request on the wire to carry its full number of items.
  const size_t claim = std::max<size_t>(64, static_cast<size_t>(destination_.concurrency) * destination_.items_per_request);
  // What the last round delivered is recorded in the commit that claims the next round.
  std::vector<int64_t> delivered;
  // The last round sent something, no send went through, and a failure was the destination's
  // (SendResult::destination_wide: not reached, 503 and the like): the destination looks down.
  // Until a send succeeds again, the worker claims once per first retry delay instead of at every
  // group that queues for it (each claim reads the destination's undelivered index: a thousand
  // claims a second under load, for items that cannot go). One item's own failure (a 409 for
  // that resource) holds back nothing but that item's patient.
  bool looks_down = false;
  while (true) {
    if (stopping_) {
      if (Status s = store_->MarkDelivered(delivered, UnixMs(Clock::System().Now())); !s.ok()) {
        // Delivered but not recorded: they stay "sending" and go again with their idempotency key.
        log::Error("delivery.mark-failed", {{"error", s.message()}});
      }
      return;
    }
    auto items = store_->MarkDeliveredAndClaim(delivered, destination_.name, UnixMs(Clock::System().Now()), claim);
    if (!items.ok()) {
      // Nothing was recorded or claimed: the results wait for the next round.
      log::Warn("delivery.claim-failed", {{"destination", destination_.name}, {"error", items.status().message()}});
    } else {
      delivered.clear();
    }
    if (!items.ok() || items->empty()) {
      if (looks_down) {
        PauseWhileDown();
        continue;
      }
      std::unique_lock lock(mutex_);
      listening_ = true;
      wake_.wait_for(lock, kPoll, [this] { return stopping_.load() || woken_; });
      listening_ = false;
      woken_ = false;
      continue;
    }
    const std::vector<SendResult> results = sender_->SendAll(*items, [this] { return !stopping_.load(); });
    const uint64_t delivered_before = counters_.delivered;
    bool destination_failed = false;
    for (size_t i = 0; i < items->size(); ++i) {
      const store::OutboxItem& item = (*items)[i];
      const SendResult& result = results[i];
      if (result.kind == SendResult::Kind::kNotSent) {
        // Never sent: back to the queue, due at once. An item whose earlier outcome is unknown stays
        // "sending", so the next claim still knows to resend it with its idempotency key.
        if (item.outcome_unknown) continue;
        if (Status s = store_->Unclaim(item.id); !s.ok()) {
          log::Error("delivery.mark-failed", {{"error", s.message()}});
        }
        continue;
      }
      ++counters_.attempts;
      counters_.Observe(std::max(0.0, result.seconds));
      destination_failed = destination_failed || result.destination_wide;
      if (result.kind == SendResult::Kind::kDelivered) {
        delivered.push_back(item.id);
        ++counters_.delivered;
        continue;
      }
      if (result.kind == SendResult::Kind::kPermanent || item.attempts >= destination_.max_attempts) {
        ++counters_.dead;
        log::Warn("delivery.dead-letter", {{"destination", destination_.name}, {"outbox_id", std::to_string(item.id)},
                                           {"attempts", std::to_string(item.attempts)}});
        if (Status s = store_->MarkDead(item.id, result.detail); !s.ok()) {
          log::Error("delivery.mark-failed", {{"error", s.message()}});
        }
        continue;
      }
      ++counters_.retries;
      if (Status s = store_->MarkRetry(item.id, UnixMs(Clock::System().Now()) + BackoffMs(item.attempts), result.detail); !s.ok()) {
        log::Error("delivery.mark-failed", {{"error", s.message()}});
      }
    }
    if (counters_.delivered != delivered_before) {
      looks_down = false;
    } else if (destination_failed) {
      looks_down = true;
    }
    if (looks_down) PauseWhileDown();
  }
}

void DeliveryWorker::PauseWhileDown() {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(destination_.initial_backoff_ms), [this] { return stopping_.load(); });
  woken_ = false;
}

Result<std::unique_ptr<DeliveryWorkers>> DeliveryWorkers::Start(std::shared_ptr<store::MessageStore> store,
                                                                 const Router& router, const LocalSenders& local,
                                                                 const std::string& instance) {
  std::unique_ptr<DeliveryWorkers> workers(new DeliveryWorkers(std::move(store)));
  for (const auto& [name, destination] : router.destinations()) {
    if (!instance.empty() && !destination.instances.empty() && destination.instances.count(instance) == 0) continue;
    std::unique_ptr<Sender> sender;
    if (auto it = local.find(destination.type); it != local.end()) {
      sender = it->second(destination);
    } else {
      sender = MakeSender(destination);
    }
    if (sender == nullptr) return InvalidInput("destination '" + name + "': no sender for its type in this process");
    workers->workers_[name] = std::make_unique<DeliveryWorker>(workers->store_, destination, std::move(sender));
  }
  for (auto& [name, worker] : workers->workers_) worker->Start();
  return workers;
}

DeliveryWorkers::~DeliveryWorkers() { Stop(); }

void DeliveryWorkers::Wake(const std::vector<std::string>& destinations) {
  for (const auto& d : destinations) Wake(d);
}

void DeliveryWorkers::Wake(const std::string& destination) {
  if (auto it = workers_.find(destination); it != workers_.end()) it->second->Wake();
}

void DeliveryWorkers::Stop() {
  {
    std::lock_guard lock(retention_mutex_);
    retention_stopping_ = true;
  }
  retention_wake_.notify_all();
  if (retention_.joinable()) retention_.join();
  for (auto& [name, worker] : workers_) worker->Stop();
}

Result<int64_t> PruneDelivered(store::MessageStore& store, int days, const std::function<bool()>& go_on, size_t chunk) {
  const int64_t cutoff = UnixMs(Clock::System().Now()) - int64_t{days} * 86400000;
  int64_t total = 0;
  while (!go_on || go_on()) {
    KETAMINE_ASSIGN_OR_RETURN(int64_t removed, store.PruneDelivered(cutoff, chunk));
    total += removed;
    if (removed < static_cast<int64_t>(chunk)) break;
  }
  return total;
}

void DeliveryWorkers::KeepDeliveredFor(int days) {
  if (days <= 0 || retention_.joinable()) return;
  retention_ = std::thread([this, days] {
    NameThisThread("kgw-retention");
    while (true) {
      if (retention_stopping_) return;
      auto total = PruneDelivered(*store_, days, [this] { return !retention_stopping_.load(); });
      if (!total.ok()) log::Warn("outbox.prune-failed", {{"error", total.status().message()}});
      const int64_t removed = total.ok() ? *total : 0;
      if (removed > 0) log::Info("outbox.pruned", {{"delivered_items", std::to_string(removed)}, {"days", std::to_string(days)}});
      std::unique_lock lock(retention_mutex_);
      if (retention_wake_.wait_for(lock, std::chrono::hours(1), [this] { return retention_stopping_.load(); })) return;
    }
  });
}

std::string DeliveryWorkers::PrometheusText() const {
  std::ostringstream out;
  out << "# HELP ketamine_outbox_items Outbox items by destination and state.\n"
         "# TYPE ketamine_outbox_items gauge\n"
         "# HELP ketamine_outbox_oldest_pending_age_seconds Age of the oldest undelivered item.\n"
         "# TYPE ketamine_outbox_oldest_pending_age_seconds gauge\n"
         "# HELP ketamine_delivery_attempts_total Delivery attempts by destination and result.\n"
         "# TYPE ketamine_delivery_attempts_total counter\n"
         "# HELP ketamine_delivery_latency_seconds Time of one delivery attempt.\n"
         "# TYPE ketamine_delivery_latency_seconds histogram\n";
  const int64_t now_ms = UnixMs(Clock::System().Now());
  for (const auto& [name, worker] : workers_) {
    const std::string d = "destination=\"" + name + "\"";
    if (auto stats = store_->Stats(name); stats.ok()) {
      out << "ketamine_outbox_items{" << d << ",state=\"pending\"} " << stats->pending << "\n"
          << "ketamine_outbox_items{" << d << ",state=\"delivered\"} " << stats->delivered << "\n"
          << "ketamine_outbox_items{" << d << ",state=\"dead\"} " << stats->dead << "\n"
          << "ketamine_outbox_oldest_pending_age_seconds{" << d << "} "
          << (stats->oldest_pending_ms == 0 ? 0.0 : static_cast<double>(now_ms - stats->oldest_pending_ms) / 1000.0)
          << "\n";
    }
    const DeliveryCounters& k = worker->counters();
    out << "ketamine_delivery_attempts_total{" << d << ",result=\"delivered\"} " << k.delivered << "\n"
        << "ketamine_delivery_attempts_total{" << d << ",result=\"retry\"} " << k.retries << "\n"
        << "ketamine_delivery_attempts_total{" << d << ",result=\"dead\"} " << k.dead << "\n";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kLatencyBucketCount; ++b) {
      cumulative += k.latency_buckets[b];
      out << "ketamine_delivery_latency_seconds_bucket{" << d << ",le=\"";
      if (b < std::size(kLatencyBuckets)) {
        out << kLatencyBuckets[b];
      } else {
        out << "+Inf";
      }
      out << "\"} " << cumulative << "\n";
    }
    out << "ketamine_delivery_latency_seconds_sum{" << d << "} " << static_cast<double>(k.latency_us_total) / 1e6 << "\n"
        << "ketamine_delivery_latency_seconds_count{" << d << "} " << k.attempts << "\n";
  }
  return out.str();
}

}  // namespace ketamine::routing
