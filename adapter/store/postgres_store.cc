#include "store/postgres_store.h"

#include <endian.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/clock.h"
#include "store/internal/names.h"
#include "store/internal/replay_rules.h"
#include "store/internal/search_rules.h"
#include "store/internal/write_rules.h"

namespace ketamine::store {
namespace {

using internal::JoinReplies;
using internal::MessageStatusFromName;
using internal::OutboxStateFromName;
using internal::SplitReplies;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS inbound_messages (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at TEXT NOT NULL,
  listener TEXT NOT NULL,
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  control_id TEXT,
  message_type TEXT NOT NULL,
  version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'error')),
  raw BYTEA NOT NULL,
  replies BYTEA NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS inbound_messages_dedup
  ON inbound_messages (sending_application, sending_facility, control_id)
  WHERE control_id IS NOT NULL AND status = 'accepted';
CREATE TABLE IF NOT EXISTS resources (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  last_updated TEXT NOT NULL,
  json BYTEA NOT NULL,
  message_id BIGINT NOT NULL REFERENCES inbound_messages (id),
  PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS resource_history (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  last_updated TEXT NOT NULL,
  json BYTEA NOT NULL,
  message_id BIGINT NOT NULL REFERENCES inbound_messages (id),
  PRIMARY KEY (type, id, version)
);
CREATE TABLE IF NOT EXISTS resource_index (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT NOT NULL,
  value TEXT NOT NULL
);
-- Searches test each candidate resource by owner; identifiers alone are also looked up by value
-- (conditional creates, identity matches). Earlier schemas indexed every entry by value too.
CREATE INDEX IF NOT EXISTS resource_index_owner ON resource_index (type, id);
CREATE INDEX IF NOT EXISTS resource_index_identifier ON resource_index (type, system, value)
  WHERE param = 'identifier';
CREATE INDEX IF NOT EXISTS resource_index_subject ON resource_index (type, value) WHERE param = 'subject';
-- resource_index_request (an administration's order by value) is made at open when missing, with
-- the orders of the administrations kept before it (kIndexRequests).
DROP INDEX IF EXISTS resource_index_lookup;
CREATE TABLE IF NOT EXISTS outbox (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id BIGINT NOT NULL REFERENCES inbound_messages (id),
  destination TEXT NOT NULL,
  partition TEXT NOT NULL,
  content_type TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_ms BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  delivered_ms BIGINT,
  owner TEXT NOT NULL DEFAULT '',
  lease_until_ms BIGINT NOT NULL DEFAULT 0
);
-- A claim asks for the oldest undelivered item of each candidate's partition. Only undelivered
-- items are in this index, so it stays as small as the backlog and a delivery removes its entry
-- instead of adding one. Earlier schemas kept every item ever queued in outbox_queue.
CREATE INDEX IF NOT EXISTS outbox_undelivered ON outbox (destination, partition, id) WHERE state IN ('pending', 'sending');
DROP INDEX IF EXISTS outbox_queue;
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (destination, state, id);
-- An operator's trace: a message by its control id (accepted ones by inbound_messages_dedup, the
-- few refused ones by this), the deliveries of a message.
CREATE INDEX IF NOT EXISTS inbound_messages_refused ON inbound_messages (control_id)
  WHERE control_id IS NOT NULL AND status <> 'accepted';
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (message_id);
CREATE TABLE IF NOT EXISTS outbox_payload (
  id BIGINT PRIMARY KEY REFERENCES outbox (id),
  payload BYTEA NOT NULL
);
)sql";

// Earlier schemas did not index an administration's order (MedicationAdministration.request): the
// index by value, and the orders of the administrations kept, in one transaction.
const std::string kIndexRequests =
    "BEGIN; CREATE INDEX resource_index_request ON resource_index (type, value) WHERE param = 'request'; " +
    internal::IndexRequestsSql("convert_from(json, 'UTF8')::jsonb -> 'request' ->> 'reference'") + "; COMMIT;";

// Instances starting together create the tables one after another.
constexpr const char* kSchemaLock = "SELECT pg_advisory_lock(4933207)";
constexpr const char* kSchemaUnlock = "SELECT pg_advisory_unlock(4933207)";

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// One parameter of a query: text, or bytes sent as binary (bytea columns).
struct Param {
  std::string text;
  bool binary = false;
};
Param Text(std::string_view s) { return {std::string(s), false}; }
Param Int(int64_t v) { return {std::to_string(v), false}; }
Param Bytes(std::string_view s) { return {std::string(s), true}; }

// Results come back in binary: text and bytea as their bytes, BIGINT as 8 bytes big-endian.
std::string GetText(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}
int64_t GetInt(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col) != 0 || PQgetlength(r, row, col) != 8) return 0;
  uint64_t v;
  std::memcpy(&v, PQgetvalue(r, row, col), 8);
  return static_cast<int64_t>(be64toh(v));
}

// A stored resource from a result row's version, last_updated and json, in that order from column
// `first`.
StoredResource ResourceFromRow(const PGresult* r, int row, std::string_view type, std::string id, int first) {
  StoredResource out;
  out.type = std::string(type);
  out.id = std::move(id);
  out.version = GetInt(r, row, first);
  out.last_updated = GetText(r, row, first + 1);
  out.json = GetText(r, row, first + 2);
  return out;
}

bool GetBool(const PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) == 0 && PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] == 1;
}

// A PostgreSQL array literal of text: {"a","b\"c"}.
std::string TextArray(const std::vector<std::string_view>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "gateway";
  return name;
}

// Selected from "outbox o JOIN outbox_payload p", in ReadItem's order.
constexpr const char* kOutboxColumns =
    "o.id, o.message_id, o.destination, o.partition, o.content_type, p.payload, o.idempotency_key, o.state, "
    "o.attempts, o.last_error, o.created_ms";

OutboxItem ReadItem(const PGresult* r, int row) {
  OutboxItem item;
  item.id = GetInt(r, row, 0);
  item.message_id = GetInt(r, row, 1);
  item.write.destination = GetText(r, row, 2);
  item.write.partition = GetText(r, row, 3);
  item.write.content_type = GetText(r, row, 4);
  item.write.payload = GetText(r, row, 5);
  item.write.idempotency_key = GetText(r, row, 6);
  item.state = OutboxStateFromName(GetText(r, row, 7));
  item.attempts = static_cast<int>(GetInt(r, row, 8));
  item.last_error = GetText(r, row, 9);
  item.created_ms = GetInt(r, row, 10);
  return item;
}

// What a claim does to the items it selected (`due`): leased to this instance, and returned.
std::string ClaimUpdate() {
  return "UPDATE outbox u SET state = 'sending', attempts = u.attempts + 1, owner = $4, lease_until_ms = $2::bigint + $5 "
         "FROM due JOIN outbox_payload p ON p.id = due.id WHERE u.id = due.id RETURNING u.id, u.message_id, "
         "u.destination, u.partition, u.content_type, p.payload, u.idempotency_key, due.was, u.attempts, u.last_error, "
         "u.created_ms";
}

// A claim of the items `which` selects (oldest first, at most one per patient, skipping what
// another instance is claiming right now), leased to this instance; $1 destination, $2 now,
// $3 limit, $4 instance, $5 lease. "The patient's oldest undelivered item" is asked as a scalar
// subquery, which PostgreSQL runs per candidate through outbox_undelivered whatever its statistics
// say. Written as NOT EXISTS (an older undelivered item), it became an anti join that, with the
// statistics of a table that was small when last analysed, scanned every undelivered item of the
// destination per candidate: 0.5 s per claim with a backlog of 9,000, so a backlog drained at
// ~250 items/s (6.5 ms per claim now). `windowed`: only the oldest 500 items `which` selects are asked.
std::string ClaimSql(const char* which, bool windowed = false) {
  // The window's own `o` is the outbox inside the CTE: `which` reads the same there and below.
  const std::string window = std::string("WITH cand AS MATERIALIZED (SELECT o.id FROM outbox o WHERE ") +
                             "o.destination = $1 AND " + which + " ORDER BY o.id LIMIT 500), ";
  return (windowed ? window : std::string("WITH ")) + "due AS (SELECT o.id, o.state AS was FROM " +
         (windowed ? "cand JOIN outbox o ON o.id = cand.id" : "outbox o") + " WHERE o.destination = $1 AND " + which +
         " AND o.id = (SELECT min(e.id) FROM outbox e WHERE e.destination = o.destination AND "
         "e.partition = o.partition AND e.state IN ('pending', 'sending')) ORDER BY o.id LIMIT $3 FOR UPDATE OF o "
         "SKIP LOCKED) " + ClaimUpdate();
}

// The same claim read from the other side: the oldest undelivered item of each patient, one index
// descent per patient (a recursive walk of outbox_undelivered), then those that are due.
std::string ClaimHeadsSql() {
  return std::string(
             "WITH RECURSIVE heads (partition, id) AS ((SELECT e.partition, e.id FROM outbox e WHERE e.destination = $1 "
             "AND e.state IN ('pending', 'sending') ORDER BY e.partition, e.id LIMIT 1) UNION ALL SELECT n.partition, "
             "n.id FROM heads h CROSS JOIN LATERAL (SELECT e.partition, e.id FROM outbox e WHERE e.destination = $1 AND "
             "e.state IN ('pending', 'sending') AND e.partition > h.partition ORDER BY e.partition, e.id LIMIT 1) n), "
             "due AS (SELECT o.id, o.state AS was FROM heads JOIN outbox o ON o.id = heads.id WHERE o.state = 'pending' "
             "AND o.next_attempt_ms <= $2 ORDER BY o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED) ") +
         ClaimUpdate();
}

}  // namespace

// One libpq connection: statements prepared once under a name, binary results, every failure a
// Status (kUnavailable). A broken connection is reset on the next use.
class PostgresStore::Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo) {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    if (conn == nullptr) return Unavailable("PostgreSQL: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string error = PQerrorMessage(conn);
      PQfinish(conn);
      while (!error.empty() && error.back() == '\n') error.pop_back();
      return Unavailable("cannot connect to PostgreSQL: " + error);
    }
    return std::unique_ptr<Connection>(new Connection(conn));
  }
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // `name` empty: a one-off statement (search queries built per request).
  Result<ResultPtr> Run(const std::string& name, const char* sql, const std::vector<Param>& params) {
    KETAMINE_RETURN_IF_ERROR(Ready());
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const Param& p : params) {
      values.push_back(p.text.data());
      lengths.push_back(static_cast<int>(p.text.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    const int n = static_cast<int>(params.size());
    PGresult* raw;
    if (name.empty()) {
      raw = PQexecParams(conn_, sql, n, nullptr, values.data(), lengths.data(), formats.data(), 1);
    } else {
      if (prepared_.count(name) == 0) {
        ResultPtr prepared(PQprepare(conn_, name.c_str(), sql, n, nullptr), &PQclear);
        if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) return Error("prepare " + name, prepared.get());
        prepared_.insert(name);
      }
      raw = PQexecPrepared(conn_, name.c_str(), n, values.data(), lengths.data(), formats.data(), 1);
    }
    ResultPtr result(raw, &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Error(name.empty() ? "query" : name, result.get());
    return result;
  }

  // Commands without parameters or results worth keeping (SAVEPOINT, DDL, locks).
  Status Exec(const char* sql) {
    KETAMINE_RETURN_IF_ERROR(Ready());
    ResultPtr result(PQexec(conn_, sql), &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Error(sql, result.get()).status();
    return Status::Ok();
  }

  // A transaction is followed: a connection lost inside one is not silently replaced (what came
  // after would run outside the transaction and be half a batch); Rollback ends it and the next
  // use reconnects.
  Status Begin() {
    KETAMINE_RETURN_IF_ERROR(Exec("BEGIN"));
    in_transaction_ = true;
    return Status::Ok();
  }
  Status Commit() { return End("COMMIT"); }
  Status Rollback() { return End("ROLLBACK"); }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Status End(const char* sql) {
    const bool lost = in_transaction_ && PQstatus(conn_) != CONNECTION_OK;
    in_transaction_ = false;
    if (lost) return Unavailable("PostgreSQL connection lost inside a transaction");
    return Exec(sql);
  }

  // Reconnects a dropped connection, unless a transaction was open on it.
  Status Ready() {
    if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
    if (in_transaction_) return Unavailable("PostgreSQL connection lost inside a transaction");
    PQreset(conn_);
    prepared_.clear();
    if (PQstatus(conn_) != CONNECTION_OK) return Error("reconnect").status();
    return Status::Ok();
  }
  Result<ResultPtr> Error(const std::string& what, const PGresult* result = nullptr) {
    std::string text = result != nullptr ? PQresultErrorMessage(result) : "";
    if (text.empty()) text = PQerrorMessage(conn_);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return Unavailable("PostgreSQL " + what + ": " + text);
  }

  PGconn* conn_;
  std::set<std::string> prepared_;
  bool in_transaction_ = false;
};

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& given) {
  PostgresOptions options = given;
  if (options.instance.empty()) options.instance = HostName();
  if (options.lease_ms < 1000) return InvalidInput("the outbox lease must be at least 1000 ms");
  KETAMINE_ASSIGN_OR_RETURN(auto writer, Connection::Open(options.conninfo));
  KETAMINE_ASSIGN_OR_RETURN(auto reader, Connection::Open(options.conninfo));
  KETAMINE_ASSIGN_OR_RETURN(auto outbox, Connection::Open(options.conninfo));
  KETAMINE_RETURN_IF_ERROR(writer->Exec("SET client_min_messages = warning"));
  KETAMINE_RETURN_IF_ERROR(writer->Exec(kSchemaLock));
  Status schema = writer->Exec(kSchema);
  if (schema.ok()) {
    auto missing = writer->Run("request-index-missing", "SELECT to_regclass('resource_index_request') IS NULL", {});
    if (!missing.ok()) {
      schema = missing.status();
    } else if (GetBool(missing->get(), 0, 0)) {
      schema = writer->Exec(kIndexRequests.c_str());
      if (!schema.ok()) writer->Exec("ROLLBACK").ok();
    }
  }
  KETAMINE_RETURN_IF_ERROR(writer->Exec(kSchemaUnlock));
  KETAMINE_RETURN_IF_ERROR(schema);
  // Items this instance had out when it stopped are "outcome unknown" now, not in another's hands.
  KETAMINE_RETURN_IF_ERROR(outbox->Run("release-own", "UPDATE outbox SET lease_until_ms = 0 WHERE state = 'sending' "
                                       "AND owner = $1", {Text(options.instance)}).status());
  return std::unique_ptr<PostgresStore>(
      new PostgresStore(std::move(options), std::move(writer), std::move(reader), std::move(outbox)));
}

PostgresStore::PostgresStore(PostgresOptions options, std::unique_ptr<Connection> writer,
                             std::unique_ptr<Connection> reader, std::unique_ptr<Connection> outbox)
    : options_(std::move(options)), writer_(std::move(writer)), reader_(std::move(reader)), outbox_(std::move(outbox)) {
  committer_ = std::make_unique<GroupCommitter>(options_.max_batch,
                                                [this](const std::deque<PendingAppend>& batch) { return CommitBatch(batch); });
}

PostgresStore::~PostgresStore() { committer_->Stop(); }

void PostgresStore::Append(InboundRecord record, AppendCallback done) { committer_->Append(std::move(record), std::move(done)); }
uint64_t PostgresStore::commits() const { return committer_->commits(); }
uint64_t PostgresStore::appends() const { return committer_->appends(); }

std::vector<Result<AppendOutcome>> PostgresStore::CommitBatch(const std::deque<PendingAppend>& batch) {
  auto fail_all = [&](const Status& status) {
    writer_->Rollback().ok();
    return std::vector<Result<AppendOutcome>>(batch.size(), Result<AppendOutcome>(status));
  };
  if (Status s = writer_->Begin(); !s.ok()) return fail_all(s);
  std::vector<Result<AppendOutcome>> results;
  results.reserve(batch.size());
  const int64_t now_ms = UnixMs(Clock::System().Now());
  for (const PendingAppend& pending : batch) {
    const InboundRecord& r = pending.record;
    if (Status s = writer_->Exec("SAVEPOINT record"); !s.ok()) return fail_all(s);
    auto inserted = writer_->Run(
        "insert-message",
        "INSERT INTO inbound_messages (received_at, listener, sending_application, sending_facility, control_id, "
        "message_type, version, status, raw, replies) VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10) "
        "ON CONFLICT (sending_application, sending_facility, control_id) WHERE control_id IS NOT NULL AND "
        "status = 'accepted' DO NOTHING RETURNING id",
        {Text(r.received_at), Text(r.listener), Text(r.sending_application), Text(r.sending_facility),
         Text(r.control_id), Text(r.message_type), Text(r.version), Text(MessageStatusName(r.status)), Bytes(r.raw),
         Bytes(JoinReplies(r.replies))});
    if (!inserted.ok()) return fail_all(inserted.status());
    AppendOutcome outcome;
    if (PQntuples(inserted->get()) == 1) {
      outcome.id = GetInt(inserted->get(), 0, 0);
    } else {
      auto found = writer_->Run("find-message",
                                "SELECT id, replies FROM inbound_messages WHERE sending_application = $1 AND "
                                "sending_facility = $2 AND control_id = $3 AND status = 'accepted'",
                                {Text(r.sending_application), Text(r.sending_facility), Text(r.control_id)});
      if (!found.ok()) return fail_all(found.status());
      if (PQntuples(found->get()) != 1) return fail_all(Unavailable("PostgreSQL: the duplicate message vanished"));
      outcome.id = GetInt(found->get(), 0, 0);
      outcome.duplicate = true;
      outcome.replies = SplitReplies(GetText(found->get(), 0, 1));
    }
    if (!outcome.duplicate && !r.resources.empty()) {
      Result<bool> written = WriteResources(r.resources, outcome.id, outcome.resources);
      if (!written.ok()) return fail_all(written.status());
      if (!*written) {
        outcome.rolled_back = true;  // nothing of this record: not the message, not the writes before
        outcome.id = 0;
        if (Status s = writer_->Exec("ROLLBACK TO SAVEPOINT record"); !s.ok()) return fail_all(s);
      }
    }
    // Deliveries go out for what was stored (not for a conditional create that found its resource).
    const bool wrote = r.resources.empty() ||
                       std::any_of(outcome.resources.begin(), outcome.resources.end(), [](const ResourceResult& x) {
                         return internal::IsStored(x.outcome);
                       });
    if (!outcome.duplicate && !outcome.rolled_back && wrote) {
      for (const OutboxWrite& o : r.outbox) {
        auto queued = writer_->Run(
            "queue",
            "WITH item AS (INSERT INTO outbox (message_id, destination, partition, content_type, idempotency_key, "
            "state, next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id) "
            "INSERT INTO outbox_payload (id, payload) SELECT id, $7 FROM item",
            {Int(outcome.id), Text(o.destination), Text(o.partition), Text(o.content_type), Text(o.idempotency_key),
             Int(now_ms), Bytes(o.payload)});
        if (!queued.ok()) return fail_all(queued.status());
      }
    }
    if (Status s = writer_->Exec("RELEASE SAVEPOINT record"); !s.ok()) return fail_all(s);
    results.emplace_back(std::move(outcome));
  }
  if (Status s = writer_->Commit(); !s.ok()) return fail_all(s);
  return results;
}

// Applies the writes of one record; false when one conflicts (the caller rolls the record back).
Result<bool> PostgresStore::WriteResources(const std::vector<ResourceWrite>& writes, int64_t message_id,
                                           std::vector<ResourceResult>& results) {
  const std::string now = FormatIsoTimestamp(Clock::System().Now());
  // Held until the commit: another instance writing the same resource or identifier waits. The
  // keys of one write are taken in one round trip, in the order given.
  auto lock = [&](const std::vector<std::string>& keys) -> Status {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    return writer_->Run("lock", "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) "
                        "WITH ORDINALITY AS x(k, n) ORDER BY n", {Text(TextArray(views))}).status();
  };
  auto find_identifier = [&](const std::string& type, const std::string& token, ResourceResult& found) -> Result<bool> {
    const size_t bar = token.find('|');
    KETAMINE_ASSIGN_OR_RETURN(
        ResultPtr r,
        writer_->Run("by-identifier",
                     "SELECT r.id, r.version, r.last_updated FROM resource_index i JOIN resources r ON r.type = i.type "
                     "AND r.id = i.id WHERE i.type = $1 AND i.param = 'identifier' AND i.system = $2 AND i.value = $3 "
                     "LIMIT 1",
                     {Text(type), Text(bar == std::string::npos ? std::string() : token.substr(0, bar)),
                      Text(bar == std::string::npos ? token : token.substr(bar + 1))}));
    if (PQntuples(r.get()) == 0) return false;
    found.id = GetText(r.get(), 0, 0);
    found.version = GetInt(r.get(), 0, 1);
    found.last_updated = GetText(r.get(), 0, 2);
    return true;
  };
  auto current_version = [&](const ResourceWrite& write) -> Result<internal::CurrentVersion> {
    KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, writer_->Run("version", "SELECT version, last_updated, json = $3 FROM resources "
                                                        "WHERE type = $1 AND id = $2",
                                                        {Text(write.type), Text(write.id),
                                                         // only an update can be unchanged: a create's
                                                         // JSON does not travel twice
                                                         Bytes(write.update ? std::string_view(write.json) : "")}));
    internal::CurrentVersion stored;
    if (PQntuples(r.get()) == 1) {
      stored.version = GetInt(r.get(), 0, 0);
      stored.last_updated = GetText(r.get(), 0, 1);
      stored.same_json = GetBool(r.get(), 0, 2);
    }
    return stored;
  };
  bool ok = true;
  for (const ResourceWrite& w : writes) {
    std::vector<std::string> keys;
    for (const std::string* token : {&w.unless_identifier, &w.match_identifier}) {
      if (!token->empty()) keys.push_back("identifier|" + w.type + "|" + *token);
    }
    keys.push_back("resource|" + w.type + "/" + w.id);
    KETAMINE_RETURN_IF_ERROR(lock(keys));
    KETAMINE_ASSIGN_OR_RETURN(ResourceResult result, internal::DecideWrite(w, now, find_identifier, current_version));
    if (!internal::IsWrite(result.outcome)) {
      ok = ok && !internal::IsConflict(result.outcome);
      results.push_back(std::move(result));
      continue;
    }
    // One round trip: the version being replaced goes to the history (nothing is overwritten without
    // a trace) and its index entries go, the resource is written, its new index entries are added.
    // The parts share the statement's snapshot, so the history copies the old row and the DELETE
    // sees only the old entries.
    std::vector<std::string_view> params, systems, values;
    for (const IndexEntry& e : w.index) {
      params.push_back(e.param);
      systems.push_back(e.system);
      values.push_back(e.value);
    }
    KETAMINE_RETURN_IF_ERROR(
        writer_->Run("write",
                     "WITH history AS (INSERT INTO resource_history (type, id, version, last_updated, json, message_id) "
                     "SELECT type, id, version, last_updated, json, message_id FROM resources WHERE type = $1 AND id = $2 "
                     "AND $3::bigint > 1), "
                     "unindex AS (DELETE FROM resource_index WHERE type = $1 AND id = $2 AND $3::bigint > 1), "
                     "upsert AS (INSERT INTO resources (type, id, version, last_updated, json, message_id) VALUES ($1, $2, "
                     "$3::bigint, $4, $5, $6::bigint) ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, "
                     "last_updated = excluded.last_updated, json = excluded.json, message_id = excluded.message_id) "
                     "INSERT INTO resource_index (type, id, param, system, value) SELECT $1, $2, p, s, v FROM "
                     "unnest($7::text[], $8::text[], $9::text[]) AS x(p, s, v)",
                     {Text(w.type), Text(w.id), Int(result.version), Text(result.last_updated), Bytes(w.json),
                      Int(message_id), Text(TextArray(params)), Text(TextArray(systems)), Text(TextArray(values))})
            .status());
    results.push_back(std::move(result));
  }
  return ok;
}

Result<StoredResource> PostgresStore::ReadResource(std::string_view type, std::string_view id) {
  std::lock_guard lock(reader_mutex_);
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, reader_->Run("read", "SELECT version, last_updated, json FROM resources WHERE "
                                                      "type = $1 AND id = $2", {Text(type), Text(id)}));
  if (PQntuples(r.get()) == 0) return NotFound(std::string(type) + "/" + std::string(id) + " is not here");
  return ResourceFromRow(r.get(), 0, type, std::string(id), 0);
}

Result<std::vector<StoredResource>> PostgresStore::ResourceVersions(std::string_view type, std::string_view id,
                                                                     int64_t version) {
  std::lock_guard lock(reader_mutex_);
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, reader_->Run("versions", internal::kResourceVersionsSql,
                                                      {Text(type), Text(id), Int(version)}));
  std::vector<StoredResource> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.push_back(ResourceFromRow(r.get(), i, type, std::string(id), 0));
    out.back().written_by = GetText(r.get(), i, 3);
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> PostgresStore::IdsByIdentifier(
    std::string_view type, const std::vector<std::string>& identifiers) {
  std::vector<std::pair<std::string, std::string>> out;
  if (identifiers.empty()) return out;
  std::vector<Param> binds{Text(type)};
  for (const std::string& identifier : identifiers) {
    auto [system, value] = internal::SplitIdentifier(identifier);
    binds.push_back(Text(system));
    binds.push_back(Text(value));
  }
  std::lock_guard lock(reader_mutex_);
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr rows, reader_->Run("", internal::IdsByIdentifierSql(identifiers.size()).c_str(), binds));
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    out.emplace_back(GetText(rows.get(), i, 0) + "|" + GetText(rows.get(), i, 1), GetText(rows.get(), i, 2));
  }
  return out;
}

Result<SearchPage> PostgresStore::History(std::string_view type, std::string_view since, std::string_view until,
                                          const SearchRange& range) {
  std::lock_guard lock(reader_mutex_);
  SearchPage page;
  const std::vector<Param> binds{Text(type), Text(since), Text(until)};
  if (range.counted) {
    KETAMINE_ASSIGN_OR_RETURN(ResultPtr total, reader_->Run("", internal::HistorySql(true, range, "").c_str(), binds));
    page.total = GetInt(total.get(), 0, 0);
  }
  if (range.count == 0) return page;
  const std::string sql = internal::HistorySql(false, range, " COLLATE \"C\"");
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr rows, reader_->Run("", sql.c_str(), binds));
  const int found = PQntuples(rows.get());
  page.more = static_cast<size_t>(found) > range.count;
  for (int i = 0; i < found && static_cast<size_t>(i) < range.count; ++i) {
    page.resources.push_back(ResourceFromRow(rows.get(), i, GetText(rows.get(), i, 0), GetText(rows.get(), i, 1), 2));
    page.resources.back().written_by = GetText(rows.get(), i, 5);
  }
  return page;
}

Result<SearchPage> PostgresStore::SearchResources(std::string_view type, const std::vector<SearchCondition>& conditions,
                                                  const SearchRange& range) {
  std::string where = "r.type = $1";
  std::vector<Param> binds{Text(type)};
  auto bind = [&](std::string value) {
    binds.push_back(Text(value));
    return "$" + std::to_string(binds.size());
  };
  // Ranges in byte order, as SQLite compares: dates and tokens sort the same in every locale.
  // Equality needs no collation (and keeps the indexes usable).
  auto compare = [&](const std::string& lhs, const SearchCondition& c) {
    using Op = SearchCondition::Op;
    if (c.op == Op::kPrefix) return "starts_with(" + lhs + ", " + bind(c.value) + ")";
    return lhs + (c.op == Op::kEq ? "" : " COLLATE \"C\"") + internal::ComparisonSql(c.op) + bind(c.value);
  };
  // A reference read from the candidate's JSON is one of `values` (false, not NULL, where there is
  // none, so that NOT (...) holds there).
  auto json_path = [](const std::vector<const char*>& steps) {  // {"a", "b"} -> '{a,b}'
    std::string path;
    for (const char* step : steps) path += std::string(path.empty() ? "" : ",") + step;
    return "'{" + path + "}'";
  };
  // A test that reads the candidate's JSON at several paths, over `x.j`: the row's JSON converted to
  // jsonb once, not once per path (OFFSET 0 keeps the planner from pasting the conversion back into
  // each use): a value-quantity scan took a third of the time.
  auto over_json = [](const std::string& predicate) {
    return "EXISTS (SELECT 1 FROM (SELECT convert_from(r.json, 'UTF8')::jsonb AS j OFFSET 0) x WHERE " + predicate + ")";
  };
  auto json_reference = [&](const internal::JsonReference& held, const std::vector<std::string>& values) {
    const std::string path = json_path(held.path);
    if (*held.array == '\0') {
      return "coalesce((convert_from(r.json, 'UTF8')::jsonb #>> " + path + ") " + internal::ReferenceValuesSql(values, bind) +
             ", false)";
    }
    const std::string array = std::string("(x.j -> '") + held.array + "')";
    return over_json("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + array + ") = 'array' THEN " +
                     array + " END) e WHERE e #>> " + path + " " + internal::ReferenceValuesSql(values, bind) + ")");
  };
  where += internal::JoinConditions(conditions, type, "$1", bind, [&](const SearchCondition& c) {
    if (const char* column = internal::ResourceColumn(c.param)) return compare(column, c);
    if (c.param == internal::kValueQuantity) {
      auto text_at = [&](std::initializer_list<const char*> steps) { return "(x.j #>> " + json_path(steps) + ")"; };
      // A value that is not a JSON number (never written so: the validator checks it) counts as none.
      auto number_at = [&](std::initializer_list<const char*> steps) {
        return "(CASE WHEN jsonb_typeof(x.j #> " + json_path(steps) + ") = 'number' THEN " + text_at(steps) + "::numeric END)";
      };
      return over_json(internal::QuantityPredicate(c, bind, number_at, text_at, "numeric"));
    }
    if (auto held = internal::JsonReferenceOf(type, c.param)) return json_reference(*held, {c.value});
    return internal::IndexPredicate(c, "$1", bind, compare);
  }, json_reference);
  std::lock_guard lock(reader_mutex_);
  SearchPage page;
  if (range.counted) {
    const std::string count_sql = "SELECT count(*) FROM resources r WHERE " + where;
    KETAMINE_ASSIGN_OR_RETURN(ResultPtr total, reader_->Run("", count_sql.c_str(), binds));
    page.total = GetInt(total.get(), 0, 0);
  }
  if (range.count == 0) return page;
  const std::string sql = "SELECT r.id, r.version, r.last_updated, r.json FROM resources r WHERE " + where +
                          internal::PageSql(range, " COLLATE \"C\"", [](const std::string& param, bool highest) {
                            return internal::IndexEdgeSql(param, highest, " COLLATE \"C\"");
                          });
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr rows, reader_->Run("", sql.c_str(), binds));
  const int found = PQntuples(rows.get());
  page.more = static_cast<size_t>(found) > range.count;
  for (int i = 0; i < found && static_cast<size_t>(i) < range.count; ++i) {
    page.resources.push_back(ResourceFromRow(rows.get(), i, type, GetText(rows.get(), i, 0), 1));
  }
  return page;
}

namespace {

constexpr const char* kMessageColumns =
    "SELECT id, received_at, listener, sending_application, sending_facility, coalesce(control_id, ''), "
    "message_type, version, status, raw, replies FROM inbound_messages ";

std::vector<StoredMessage> ReadMessages(const PGresult* r) {
  std::vector<StoredMessage> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    StoredMessage m;
    m.id = GetInt(r, i, 0);
    m.record.received_at = GetText(r, i, 1);
    m.record.listener = GetText(r, i, 2);
    m.record.sending_application = GetText(r, i, 3);
    m.record.sending_facility = GetText(r, i, 4);
    m.record.control_id = GetText(r, i, 5);
    m.record.message_type = GetText(r, i, 6);
    m.record.version = GetText(r, i, 7);
    m.record.status = MessageStatusFromName(GetText(r, i, 8));
    m.record.raw = GetText(r, i, 9);
    m.record.replies = SplitReplies(GetText(r, i, 10));
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

Result<std::vector<StoredMessage>> PostgresStore::List(int64_t after_id, size_t limit) {
  std::lock_guard lock(reader_mutex_);
  const std::string sql = std::string(kMessageColumns) + "WHERE id > $1 ORDER BY id LIMIT $2";
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, reader_->Run("list", sql.c_str(), {Int(after_id), Int(static_cast<int64_t>(limit))}));
  return ReadMessages(r.get());
}

Result<std::vector<StoredMessage>> PostgresStore::MessagesOfResource(std::string_view type, std::string_view id,
                                                                     size_t limit) {
  std::lock_guard lock(reader_mutex_);
  const std::string sql = std::string(kMessageColumns) + internal::kMessagesOfResourceSql;
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, reader_->Run("messages-of-resource", sql.c_str(),
                                                      {Text(type), Text(id), Int(static_cast<int64_t>(limit))}));
  return ReadMessages(r.get());
}

Result<std::vector<StoredMessage>> PostgresStore::FindMessages(std::string_view control_id,
                                                               std::string_view sending_facility, size_t limit) {
  std::lock_guard lock(reader_mutex_);
  // As SqliteStore::FindMessages: refused messages by their own small index, accepted ones by the
  // deduplication index, one probe per sender found by walking it (PostgreSQL 15 has no skip scan).
  const std::string refused_sql = std::string(kMessageColumns) +
                                  "WHERE control_id = $1 AND control_id IS NOT NULL AND status <> 'accepted' AND "
                                  "($2 = '' OR sending_facility = $2) ORDER BY id DESC LIMIT $3";
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr refused, reader_->Run("find-refused", refused_sql.c_str(),
                                                            {Text(control_id), Text(sending_facility),
                                                             Int(static_cast<int64_t>(limit))}));
  std::vector<StoredMessage> out = ReadMessages(refused.get());
  const std::string accepted_sql = std::string(kMessageColumns) +
                                   "WHERE sending_application = $1 AND sending_facility = $2 AND control_id = $3 AND "
                                   "control_id IS NOT NULL AND status = 'accepted'";
  std::string application, facility;  // ("", "") itself is probed first: the walk starts after it
  for (bool first = true;; first = false) {
    if (!first) {
      KETAMINE_ASSIGN_OR_RETURN(
          ResultPtr next, reader_->Run("next-sender",
                                       "SELECT sending_application, sending_facility FROM inbound_messages WHERE "
                                       "control_id IS NOT NULL AND status = 'accepted' AND (sending_application, "
                                       "sending_facility) > ($1, $2) ORDER BY sending_application, sending_facility "
                                       "LIMIT 1",
                                       {Text(application), Text(facility)}));
      if (PQntuples(next.get()) == 0) break;
      application = GetText(next.get(), 0, 0);
      facility = GetText(next.get(), 0, 1);
    }
    if (!sending_facility.empty() && facility != sending_facility) continue;
    KETAMINE_ASSIGN_OR_RETURN(ResultPtr found, reader_->Run("find-accepted", accepted_sql.c_str(),
                                                            {Text(application), Text(facility), Text(control_id)}));
    for (StoredMessage& m : ReadMessages(found.get())) out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const StoredMessage& a, const StoredMessage& b) { return a.id > b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<int64_t> PostgresStore::Count() {
  std::lock_guard lock(reader_mutex_);
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, reader_->Run("count", "SELECT count(*) FROM inbound_messages", {}));
  return GetInt(r.get(), 0, 0);
}

// One transaction, so one commit (one flush of PostgreSQL's log) per round of a worker instead of
// two; the claim sees the deliveries just recorded, so a patient's next item goes in this round.
Result<std::vector<OutboxItem>> PostgresStore::MarkDeliveredAndClaim(const std::vector<int64_t>& delivered,
                                                                     std::string_view destination, int64_t now_ms,
                                                                     size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  auto mark = [&]() -> Status {
    if (delivered.empty()) return Status::Ok();
    std::string array = "{";
    for (size_t i = 0; i < delivered.size(); ++i) array += (i > 0 ? "," : "") + std::to_string(delivered[i]);
    array += "}";
    return outbox_->Run("delivered", "UPDATE outbox SET state = 'delivered', delivered_ms = $2, last_error = '' WHERE "
                        "id = ANY($1::bigint[])", {Text(array), Int(now_ms)}).status();
  };
  std::vector<OutboxItem> items;
  if (limit == 0) {  // nothing to claim: the marking alone, in a statement of its own
    KETAMINE_RETURN_IF_ERROR(mark());
    return items;
  }
  // Items whose lease ran out (their instance stopped or died while sending: outcome unknown)
  // first, then pending items that are due and the oldest undelivered of their patient. SKIP
  // LOCKED: what another instance is claiming right now is left to it.
  // The due items are asked item by item among the oldest 500 only: behind patients whose oldest
  // item waits for its retry (a destination that was down) the rest are due but not their
  // patient's oldest, and asking each of them read the whole backlog (15,050 pages for a claim
  // that found nothing, 4,980 items behind 20 heads: 3,095 now). A claim still short of its
  // limit then reads each patient's oldest item, one index descent per patient, so that no patient
  // waits behind 500 items that cannot go. The candidates are MATERIALIZED: inlined into the join,
  // PostgreSQL's generic plan for them read ~1.3 million pages a claim in one load run of three.
  static const std::string kUnknown = ClaimSql("o.state = 'sending' AND o.lease_until_ms <= $2");
  static const std::string kDue = ClaimSql("o.state = 'pending' AND o.next_attempt_ms <= $2", true);
  static const std::string kHeads = ClaimHeadsSql();
  auto claim = [&](const std::string& name, const std::string& sql, size_t n) -> Result<ResultPtr> {
    return outbox_->Run(name, sql.c_str(),
                        {Text(destination), Int(now_ms), Int(static_cast<int64_t>(n)), Text(options_.instance),
                         Int(options_.lease_ms)});
  };
  KETAMINE_RETURN_IF_ERROR(outbox_->Begin());
  if (Status s = mark(); !s.ok()) {
    outbox_->Rollback().ok();
    return s;
  }
  for (const auto& [name, sql] : {std::pair<const char*, const std::string*>{"claim-unknown", &kUnknown},
                                 {"claim-due", &kDue}, {"claim-heads", &kHeads}}) {
    if (items.size() >= limit) break;
    auto rows = claim(name, *sql, limit - items.size());
    if (!rows.ok()) {
      outbox_->Rollback().ok();
      return rows.status();
    }
    for (int i = 0; i < PQntuples(rows->get()); ++i) {
      OutboxItem item = ReadItem(rows->get(), i);
      item.outcome_unknown = item.state == OutboxState::kSending;
      item.state = OutboxState::kSending;
      items.push_back(std::move(item));
    }
  }
  KETAMINE_RETURN_IF_ERROR(outbox_->Commit());
  std::sort(items.begin(), items.end(), [](const OutboxItem& x, const OutboxItem& y) { return x.id < y.id; });
  return items;
}

Status PostgresStore::MarkRetry(int64_t id, int64_t next_attempt_ms, std::string_view error) {
  std::lock_guard lock(outbox_mutex_);
  return outbox_->Run("retry", "UPDATE outbox SET state = 'pending', next_attempt_ms = $2, last_error = $3, "
                      "lease_until_ms = 0 WHERE id = $1", {Int(id), Int(next_attempt_ms), Text(error)}).status();
}

Status PostgresStore::Unclaim(int64_t id) {
  std::lock_guard lock(outbox_mutex_);
  return outbox_->Run("unclaim", "UPDATE outbox SET state = 'pending', attempts = GREATEST(attempts - 1, 0), "
                      "lease_until_ms = 0 WHERE id = $1 AND state = 'sending'", {Int(id)}).status();
}

Status PostgresStore::MarkDead(int64_t id, std::string_view error) {
  std::lock_guard lock(outbox_mutex_);
  return outbox_->Run("dead", "UPDATE outbox SET state = 'dead', last_error = $2, lease_until_ms = 0 WHERE id = $1",
                      {Int(id), Text(error)}).status();
}

Result<std::vector<OutboxItem>> PostgresStore::ListOutbox(std::string_view destination, OutboxState state, size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox o JOIN outbox_payload p ON p.id = o.id WHERE ($1 = '' OR o.destination = $1) "
                          "AND o.state = $2 ORDER BY o.id LIMIT $3";
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, outbox_->Run("list-outbox", sql.c_str(),
                                                      {Text(destination), Text(OutboxStateName(state)),
                                                       Int(static_cast<int64_t>(limit))}));
  std::vector<OutboxItem> items;
  for (int i = 0; i < PQntuples(r.get()); ++i) items.push_back(ReadItem(r.get(), i));
  return items;
}

Result<std::vector<OutboxItem>> PostgresStore::OutboxOfMessage(int64_t message_id) {
  std::lock_guard lock(outbox_mutex_);
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox o JOIN outbox_payload p ON p.id = o.id WHERE o.message_id = $1 ORDER BY o.id";
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, outbox_->Run("outbox-of-message", sql.c_str(), {Int(message_id)}));
  std::vector<OutboxItem> items;
  for (int i = 0; i < PQntuples(r.get()); ++i) items.push_back(ReadItem(r.get(), i));
  return items;
}

Result<ReplayOutcome> PostgresStore::Replay(const ReplaySelection& which) {
  std::lock_guard lock(outbox_mutex_);
  KETAMINE_RETURN_IF_ERROR(outbox_->Begin());
  auto run = [&]() -> Result<ReplayOutcome> {
    std::vector<Param> selected;
    if (which.id > 0) {
      selected.push_back(Int(which.id));
    } else if (!which.destination.empty()) {
      selected.push_back(Text(which.destination));
    }
    // Unnamed: the text differs with the selection.
    Result<ResultPtr> dead = outbox_->Run("", internal::DeadLettersSql(which), selected);
    if (!dead.ok()) return dead.status();
    ReplayOutcome out;
    for (int i = 0; i < PQntuples(dead->get()); ++i) {
      const int64_t id = GetInt(dead->get(), i, 0);
      std::string destination = GetText(dead->get(), i, 1);
      if (!which.force) {
        KETAMINE_ASSIGN_OR_RETURN(ResultPtr later, outbox_->Run("sent-after", internal::kSentAfterSql,
                                                                {Text(destination), Int(id), Text(GetText(dead->get(), i, 2))}));
        if (PQntuples(later.get()) > 0) {
          out.held.push_back({id, std::move(destination), GetInt(later.get(), 0, 0)});
          continue;
        }
      }
      KETAMINE_RETURN_IF_ERROR(outbox_->Run("requeue", internal::kRequeueSql, {Int(id)}).status());
      out.replayed.emplace_back(id, std::move(destination));
    }
    KETAMINE_RETURN_IF_ERROR(internal::FoundDeadLetter(which, out));
    return out;
  };
  auto out = run();
  if (Status s = out.ok() ? outbox_->Commit() : outbox_->Rollback(); !s.ok() && out.ok()) return s;
  return out;
}

Result<OutboxStats> PostgresStore::Stats(std::string_view destination) {
  std::lock_guard lock(outbox_mutex_);
  KETAMINE_ASSIGN_OR_RETURN(ResultPtr r, outbox_->Run("stats", "SELECT state, count(*), min(id) FROM outbox WHERE "
                                                      "destination = $1 GROUP BY state", {Text(destination)}));
  OutboxStats stats;
  int64_t oldest_id = 0;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    internal::AddStateCount(stats, oldest_id, GetText(r.get(), i, 0), GetInt(r.get(), i, 1), GetInt(r.get(), i, 2));
  }
  if (oldest_id != 0) {
    KETAMINE_ASSIGN_OR_RETURN(ResultPtr c, outbox_->Run("created", "SELECT created_ms FROM outbox WHERE id = $1",
                                                        {Int(oldest_id)}));
    if (PQntuples(c.get()) == 1) stats.oldest_pending_ms = GetInt(c.get(), 0, 0);
  }
  return stats;
}

Result<int64_t> PostgresStore::PruneDelivered(int64_t delivered_before_ms, size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  // Oldest first by id (ids grow with time); the payload goes with its row, in one statement.
  KETAMINE_ASSIGN_OR_RETURN(
      ResultPtr r, outbox_->Run("prune",
                                "WITH old AS (SELECT id FROM outbox WHERE state = 'delivered' AND delivered_ms < $1 "
                                "ORDER BY id LIMIT $2), payloads AS (DELETE FROM outbox_payload p USING old WHERE "
                                "p.id = old.id) DELETE FROM outbox o USING old WHERE o.id = old.id RETURNING o.id",
                                {Int(delivered_before_ms), Int(static_cast<int64_t>(limit))}));
  return static_cast<int64_t>(PQntuples(r.get()));
}

}  // namespace ketamine::store
