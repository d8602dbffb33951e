// The durable store of inbound messages. A message is acknowledged only after Append has
// committed it to disk: the SQLite store groups concurrent appends into one transaction (one
// fsync for many messages) and calls each `done` only after that commit.
//   store->Append(std::move(record), [](Result<AppendOutcome> r) { if (r.ok()) SendAck(); });
// A message whose (sending application, sending facility, control id) was already accepted is
// not stored again: the outcome says duplicate and carries the replies sent the first time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::store {

enum class MessageStatus { kAccepted, kRejected, kError };
std::string_view MessageStatusName(MessageStatus status);

// A FHIR resource written in the same transaction as the message that carried it (the REST facade
// stores the request and its resources together; the MLLP pipeline will store its conversions).
struct IndexEntry {
  std::string param;   // search parameter: "identifier", "patient", "code", "date", "status" ...
  std::string system;  // token system, "" when none
  std::string value;   // token code, reference "Patient/1", or a date normalised to UTC
};

struct ResourceWrite {
  std::string type;
  std::string id;                  // create: the new id; update: the id to write
  std::string json;                // without meta.versionId / meta.lastUpdated (the store keeps those)
  bool update = false;             // PUT: create or replace
  std::string unless_identifier;   // conditional create: an existing resource with "system|value" wins
  std::string match_identifier;    // conditional update: the one with "system|value" must be `id` (or none)
  int64_t if_match = 0;            // the version an update expects (If-Match), 0: any
  bool replay_existing = false;    // a create whose id exists is the same request again: the stored one wins
  std::vector<IndexEntry> index;
};

// kUnchanged: an update whose content is the stored version's, byte for byte: nothing is written and
// the stored version stands (no new version for a no-op update, as FHIR servers do), e.g. the
// prescriber and medication every order of a clinic mentions again.
enum class ResourceOutcome { kCreated, kUpdated, kUnchanged, kExisting, kVersionConflict, kIdentityConflict };

struct ResourceResult {
  std::string type;
  std::string id;
  int64_t version = 0;
  std::string last_updated;
  ResourceOutcome outcome = ResourceOutcome::kCreated;
};

struct StoredResource {
  std::string type;
  std::string id;
  int64_t version = 0;
  std::string last_updated;
  std::string json;
  // Histories only (ResourceVersions, History): the message type of the inbound record that wrote this
  // version ("POST Observation", "PATCH MedicationRequest", "RDE^O11", "POST Bundle transaction").
  std::string written_by = {};
};

struct SearchCondition {
  enum class Op { kEq, kGe, kLe, kGt, kLt, kPrefix };
  std::string param;
  Op op = Op::kEq;
  bool has_system = false;  // "system|code" (an empty system matches "|code": no system)
  std::string system;
  std::string value;
  bool negated = false;  // holds when the rest does not (":not")
  int or_group = 0;      // > 0: one of the conditions with this number must hold (a comma list)
};

// Which page of a search's matches: `count` of them from `offset`, ordered by last update (then
// id), and whether every match is counted.
struct SearchRange {
  size_t count = 0;
  size_t offset = 0;
  bool oldest_first = false;  // newest first unless asked
  bool counted = true;        // false: SearchPage::total stays unknown, and the count query is not run
  // Sorted by this index param's value first ("date": an observation's effective time), ascending
  // by each resource's lowest value when oldest_first, else descending by its highest; those without
  // one come last; ties by last update. Empty: by last update alone. A param name of our own
  // (letters and '-'), never a client's text.
  std::string sort_param = {};
};

struct SearchPage {
  std::optional<int64_t> total;  // every match (SearchRange::counted)
  bool more = false;             // matches after this page
  std::vector<StoredResource> resources;
};

// A delivery queued with the message that caused it (same transaction): the outbox. Workers per
// destination take them in order, per partition (the patient) in order of arrival.
struct OutboxWrite {
  std::string destination;     // a destination name of the routing config
  std::string partition;       // deliveries of one partition go out one after another, in order
  std::string content_type;    // "application/fhir+json", "x-application/hl7-v2+er7"
  std::string payload;
  std::string idempotency_key; // sent with every attempt; the destination can drop a repeat
};

enum class OutboxState { kPending, kSending, kDelivered, kDead };
std::string_view OutboxStateName(OutboxState state);

struct OutboxItem {
  int64_t id = 0;
  int64_t message_id = 0;
  OutboxWrite write;
  OutboxState state = OutboxState::kPending;
  int attempts = 0;
  // A claimed item that was being sent when the gateway stopped: the destination may have it
  // (sent, outcome unknown), so it goes again only with its idempotency key.
  bool outcome_unknown = false;
  std::string last_error;
  int64_t created_ms = 0;
};

struct OutboxStats {
  int64_t pending = 0;        // not yet delivered (pending or sending)
  int64_t dead = 0;
  int64_t delivered = 0;
  int64_t oldest_pending_ms = 0;  // creation time of the oldest undelivered item, 0 when none
};

struct InboundRecord {
  std::string received_at;  // RFC 3339
  std::string listener;     // which listener took it ("mllp")
  std::string sending_application;  // MSH-3 as received
  std::string sending_facility;     // MSH-4 as received
  std::string control_id;           // MSH-10; empty: never deduplicated
  std::string message_type;         // "RDE^O11"
  std::string version;              // MSH-12
  MessageStatus status = MessageStatus::kAccepted;
  std::string raw;                   // the bytes as received
  std::vector<std::string> replies;  // ACKs sent back, in order (CA then AA in enhanced mode)
  // Written with the message, all or nothing: one conflict rolls back the message and every write.
  std::vector<ResourceWrite> resources;
  std::vector<OutboxWrite> outbox;
};

struct AppendOutcome {
  int64_t id = 0;
  bool duplicate = false;
  std::vector<std::string> replies;  // for a duplicate: the replies stored the first time
  std::vector<ResourceResult> resources;  // one per write, in order
  bool rolled_back = false;               // a write conflicted: nothing of this record was stored
};

// Which dead letters an operator puts back in the queue (MessageStore::Replay).
struct ReplaySelection {
  int64_t id = 0;            // > 0: this one
  std::string destination = {};  // id 0: every dead letter of this destination ("": of every one)
  bool force = false;        // replay also those a later delivery of their patient went past
};

struct ReplayOutcome {
  struct Held {
    int64_t id = 0;
    std::string destination;
    int64_t sent_after = 0;  // the first later item of the same patient that went out
  };
  std::vector<std::pair<int64_t, std::string>> replayed;  // id and destination, oldest first
  std::vector<Held> held;
};

struct StoredMessage {
  int64_t id = 0;
  InboundRecord record;
};

class MessageStore {
 public:
  using AppendCallback = std::function<void(Result<AppendOutcome>)>;
  virtual ~MessageStore() = default;
  // Stores durably, then calls done (on a store thread). kUnavailable when it could not write.
  virtual void Append(InboundRecord record, AppendCallback done) = 0;
  // Blocking form of Append, for tools and tests.
  Result<AppendOutcome> AppendAndWait(InboundRecord record);
  // Messages with id > after_id, oldest first.
  virtual Result<std::vector<StoredMessage>> List(int64_t after_id, size_t limit) = 0;
  virtual Result<int64_t> Count() = 0;
  // The messages a sender's control id (MSH-10) names, newest first, at most `limit`; with
  // `sending_facility` not empty, those of that facility (MSH-4) only. An operator's trace of what
  // became of a message: accepted ones are looked up in the deduplication index sender by sender,
  // refused ones in a small index of their own (no index by control id: every message would pay).
  virtual Result<std::vector<StoredMessage>> FindMessages(std::string_view control_id, std::string_view sending_facility,
                                                          size_t limit) = 0;
  // The messages (and REST requests) that wrote a version of the resource `type`/`id`, newest first, at
  // most `limit`: which request made or changed an order, and so where it was routed.
  virtual Result<std::vector<StoredMessage>> MessagesOfResource(std::string_view type, std::string_view id,
                                                                size_t limit) = 0;

  // Transactions committed and records appended so far (appends / commits: the mean group size).
  virtual uint64_t commits() const { return 0; }
  virtual uint64_t appends() const { return 0; }
  // Prometheus text of what only this kind of store has (SQLite: its WAL checkpoints), or "".
  virtual std::string MetricsText() const { return {}; }

  // FHIR resources. Read: kNotFound when absent.
  virtual Result<StoredResource> ReadResource(std::string_view type, std::string_view id) = 0;
  // The versions kept of a resource, newest first: the current one and those its updates replaced
  // (kept for audit). `version` > 0 asks for that version alone. Empty when there is none.
  virtual Result<std::vector<StoredResource>> ResourceVersions(std::string_view type, std::string_view id,
                                                               int64_t version) = 0;
  // The resources of `type` that carry each of `identifiers` ("system|value", the system given): pairs
  // of the identifier and the resource's id (two pairs for an identifier two resources carry). One
  // probe of the identifier index each, in one statement: for callers with many to look up.
  virtual Result<std::vector<std::pair<std::string, std::string>>> IdsByIdentifier(
      std::string_view type, const std::vector<std::string>& identifiers) = 0;
  // Every kept version of every resource of `type` ("" for every type) last updated at or after `since`
  // and at or before `until` (stored instants, "2026-11-23T14:05:00.000Z"; "" for no bound), newest
  // first (then type, id and version, newest first): a page of them, with their total when
  // `range.counted`.
  virtual Result<SearchPage> History(std::string_view type, std::string_view since, std::string_view until,
                                     const SearchRange& range) = 0;
  // A condition on "_lastUpdated" compares the stored last update ("2026-11-23T14:05:00.123Z") as
  // text with its op.
  virtual Result<SearchPage> SearchResources(std::string_view type, const std::vector<SearchCondition>& conditions,
                                             const SearchRange& range) = 0;

  // The outbox. A worker's round trip: records `delivered` as delivered, then claims up to `limit`
  // items of `destination` due at `now_ms`, at most one per partition and only a partition's oldest
  // undelivered one, marked sending (attempts + 1), all in one commit before they are handed out
  // (both change the same rows and index pages). When the results cannot be recorded nothing is
  // claimed.
  virtual Result<std::vector<OutboxItem>> MarkDeliveredAndClaim(const std::vector<int64_t>& delivered,
                                                                std::string_view destination, int64_t now_ms,
                                                                size_t limit) = 0;
  // Its two halves alone.
  Result<std::vector<OutboxItem>> ClaimOutbox(std::string_view destination, int64_t now_ms, size_t limit) {
    return MarkDeliveredAndClaim({}, destination, now_ms, limit);
  }
  Status MarkDelivered(const std::vector<int64_t>& ids, int64_t now_ms) {
    if (ids.empty()) return Status::Ok();
    return MarkDeliveredAndClaim(ids, {}, now_ms, /*limit=*/0).status();
  }
  virtual Status MarkRetry(int64_t id, int64_t next_attempt_ms, std::string_view error) = 0;
  // A claimed item that never went out (its worker was stopping): pending again as it was before
  // the claim (the claim's attempt taken back), never sent. Only for an item in "sending".
  virtual Status Unclaim(int64_t id) = 0;
  virtual Status MarkDead(int64_t id, std::string_view error) = 0;
  virtual Result<std::vector<OutboxItem>> ListOutbox(std::string_view destination, OutboxState state, size_t limit) = 0;
  // The deliveries a message queued, in order, whatever their state (delivered ones until retention
  // removes them).
  virtual Result<std::vector<OutboxItem>> OutboxOfMessage(int64_t message_id) = 0;
  // Dead letters back to pending, due now, attempts from 0, in one transaction: the one `which.id`
  // names (kNotFound unless it is a dead letter), or every one of `which.destination` ("": of every
  // destination). Unless `which.force`, a dead letter after which an item of the same destination and
  // patient went out (delivered, or on the wire) is held, not replayed: sent now it would reach the
  // destination after that later message (an older version of an order over a newer one).
  virtual Result<ReplayOutcome> Replay(const ReplaySelection& which) = 0;
  virtual Result<OutboxStats> Stats(std::string_view destination) = 0;
  // Retention: removes up to `limit` delivered items (and their payloads) delivered before
  // `delivered_before_ms`, oldest first; returns how many. Pending and dead items are never removed.
  virtual Result<int64_t> PruneDelivered(int64_t delivered_before_ms, size_t limit) = 0;
};

}  // namespace ketamine::store
