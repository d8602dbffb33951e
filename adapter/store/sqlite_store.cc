#include "store/sqlite_store.h"

#include "store/sqlite.h"
#include "store/sqlite_terms.h"
#include "store/internal/names.h"
#include "store/internal/replay_rules.h"
#include "store/internal/search_rules.h"
#include "store/internal/write_rules.h"
#include "store/compress.h"
#include "common/thread_name.h"

#include "common/clock.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <optional>

namespace ketamine::store {
namespace {

using internal::JoinReplies;
using internal::MessageStatusFromName;
using internal::OutboxStateFromName;
using internal::SplitReplies;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS inbound_messages (
  id INTEGER PRIMARY KEY,
  received_at TEXT NOT NULL,
  listener TEXT NOT NULL,
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  control_id TEXT,
  message_type TEXT NOT NULL,
  version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'error')),
  raw BLOB NOT NULL,
  replies BLOB NOT NULL,
  raw_packed INTEGER NOT NULL DEFAULT 0  -- 1: raw is LZ4-packed (store/compress.h)
);
-- MSH-10 is unique per sending application and facility; only accepted messages count, so a
-- rejected message can be corrected and sent again under the same control id.
CREATE UNIQUE INDEX IF NOT EXISTS inbound_messages_dedup
  ON inbound_messages (sending_application, sending_facility, control_id)
  WHERE control_id IS NOT NULL AND status = 'accepted';
CREATE TABLE IF NOT EXISTS resources (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  json BLOB NOT NULL,
  message_id INTEGER NOT NULL REFERENCES inbound_messages (id),
  terms BLOB NOT NULL DEFAULT x'',  -- its search entries but identifiers and subjects (sqlite_terms.h)
  UNIQUE (type, id)
);
-- Every version an update replaced, for audit (a resource is never changed without a trace); the
-- current version is in resources.
CREATE TABLE IF NOT EXISTS resource_history (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  json BLOB NOT NULL,
  message_id INTEGER NOT NULL REFERENCES inbound_messages (id),
  UNIQUE (type, id, version)
);
-- The search entries looked up by value, identifiers and subjects (the rest is in resources.terms),
-- in one B-tree keyed by its owner: an update replaces a resource's entries in one range.
-- Identifiers are also kept by value, for the conditional creates and identity matches that look a
-- resource up by them.
CREATE TABLE IF NOT EXISTS resource_index (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  system TEXT NOT NULL,
  PRIMARY KEY (type, id, param, value, system)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resource_index_identifier ON resource_index (type, system, value)
  WHERE param = 'identifier';
-- And subjects, so that a search by patient reads that patient's resources, not every one.
CREATE INDEX IF NOT EXISTS resource_index_subject ON resource_index (type, value) WHERE param = 'subject';
-- resource_index_request (an administration's order by value) is made by the version 9 migration
-- below, which also indexes the administrations kept before it.
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES inbound_messages (id),
  destination TEXT NOT NULL,
  partition TEXT NOT NULL,
  content_type TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  delivered_ms INTEGER
);
-- A claim asks whether a partition has an older undelivered item. Only undelivered items are in
-- this index: it stays as small as the backlog, so a message's entry goes into a page a recent
-- commit already wrote instead of a random one among every item ever queued.
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (destination, partition, id) WHERE state IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (destination, state, id);
-- An operator's trace: a message by its control id (accepted ones by inbound_messages_dedup, the
-- few refused ones by this), the deliveries of a message (ids grow with the message ids: entries
-- are added at the index's end).
CREATE INDEX IF NOT EXISTS inbound_messages_refused ON inbound_messages (control_id)
  WHERE control_id IS NOT NULL AND status != 'accepted';
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (message_id);
-- The payload apart from the row whose state changes at every attempt: an UPDATE rewrites the
-- whole row, and a scan over states would walk every payload's overflow pages.
CREATE TABLE IF NOT EXISTS outbox_payload (
  id INTEGER PRIMARY KEY REFERENCES outbox (id),
  payload BLOB NOT NULL,
  packed INTEGER NOT NULL DEFAULT 0  -- 1: payload is LZ4-packed
);
PRAGMA user_version = 10;
)sql";

// Version 3 kept the payload in the outbox row: moved to outbox_payload, all or nothing.
const char* const kMigrateOutboxPayload = R"sql(
BEGIN IMMEDIATE;
INSERT INTO outbox_payload (id, payload) SELECT id, payload FROM outbox;
ALTER TABLE outbox DROP COLUMN payload;
COMMIT;
)sql";

// Version 4 kept the search index in a rowid table (no key) with an index by value and one by
// owner: three B-trees written per entry. Renamed aside before the schema makes the new one, then
// the entries move over and the old table goes with its indexes, all in one transaction.
const char* const kHasOldIndex =
    "SELECT count(*) > 0 AND max(pk) = 0 FROM pragma_table_info('resource_index')";
const char* const kSetOldIndexAside = "BEGIN IMMEDIATE; ALTER TABLE resource_index RENAME TO resource_index_v4;";
const char* const kMoveOldIndex = R"sql(
INSERT OR IGNORE INTO resource_index (type, id, param, value, system)
  SELECT type, id, param, value, system FROM resource_index_v4;
DROP TABLE resource_index_v4;
COMMIT;
)sql";

// Version 9 did not index an administration's order: the index by value, and the orders of the
// administrations kept, in one transaction (a resource whose JSON does not parse is left out).
const std::string kIndexRequests =
    "BEGIN IMMEDIATE; CREATE INDEX resource_index_request ON resource_index (type, value) WHERE param = 'request'; " +
    internal::IndexRequestsSql("CASE WHEN json_valid(CAST(json AS TEXT)) THEN "
                               "json_extract(CAST(json AS TEXT), '$.request.reference') END") +
    "; COMMIT;";

// A blob column, unpacked when its flag column says it was packed.
Result<std::string> Unpacked(Statement& row, int blob, int flag) {
  if (sqlite3_column_int(row.get(), flag) == 0) return row.Column(blob);
  auto plain = Lz4Unpack(row.Column(blob));
  if (!plain.ok()) return Internal("a stored blob is damaged: " + plain.status().message());
  return plain;
}

// The layouts an older file may have after the schema ran, each moved in one transaction when
// `needed` answers 1, in this order (a version 3 file's outbox_payload is new, its column there).
struct Migration {
  const char* needed;
  const char* sql;
  const char* what;  // "cannot <what> <file>: <reason>"
};
const Migration kMigrations[] = {
    // Version 3 kept the payload in the outbox row.
    {"SELECT count(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'payload'", kMigrateOutboxPayload,
     "move the outbox payloads to their own table in"},
    // Version 6 kept raw messages and payloads as they came: every row of before is not packed.
    {"SELECT count(*) = 0 FROM pragma_table_info('inbound_messages') WHERE name = 'raw_packed'",
     "BEGIN IMMEDIATE; ALTER TABLE inbound_messages ADD COLUMN raw_packed INTEGER NOT NULL DEFAULT 0; COMMIT;",
     "add the packed flag of raw messages to"},
    {"SELECT count(*) = 0 FROM pragma_table_info('outbox_payload') WHERE name = 'packed'",
     "BEGIN IMMEDIATE; ALTER TABLE outbox_payload ADD COLUMN packed INTEGER NOT NULL DEFAULT 0; COMMIT;",
     "add the packed flag of outbox payloads to"},
    // Version 5 indexed every outbox item by partition, delivered ones too.
    {"SELECT count(*) FROM sqlite_schema WHERE name = 'outbox_queue' AND sql NOT LIKE '%WHERE%'",
     R"sql(
BEGIN IMMEDIATE;
DROP INDEX outbox_queue;
CREATE INDEX outbox_queue ON outbox (destination, partition, id) WHERE state IN ('pending', 'sending');
COMMIT;
)sql",
     "rebuild the outbox queue index of"},
    // Version 9 did not index an administration's order (MedicationAdministration.request).
    {"SELECT count(*) = 0 FROM sqlite_schema WHERE name = 'resource_index_request'", kIndexRequests.c_str(),
     "index the administrations' orders of"},
};

// True when `sql` answers 1 (a probe of the file's layout).
bool Answers1(sqlite3* db, const char* sql) {
  Statement probe(db, sql);
  return probe.ok() && sqlite3_step(probe.get()) == SQLITE_ROW && probe.ColumnInt(0) == 1;
}

// Version 7 kept every search entry in resource_index, one row each: the entries that are never
// looked up by value move into their resource's row (resources.terms), in one transaction.
Status MoveTermsIntoResources(sqlite3* db) {
  if (!Answers1(db, "SELECT count(*) = 0 FROM pragma_table_info('resources') WHERE name = 'terms'")) {
    return Status::Ok();
  }
  KETAMINE_RETURN_IF_ERROR(
      Exec(db, "BEGIN IMMEDIATE; ALTER TABLE resources ADD COLUMN terms BLOB NOT NULL DEFAULT x'';"));
  const std::string kept_elsewhere = std::string("param NOT IN ") + internal::kIndexedByValueSql;
  Statement entries(db, ("SELECT type, id, param, system, value FROM resource_index WHERE " + kept_elsewhere +
                         " ORDER BY type, id").c_str());
  Statement update(db, "UPDATE resources SET terms = ?3 WHERE type = ?1 AND id = ?2");
  if (!entries.ok() || !update.ok()) return Internal(sqlite3_errmsg(db));
  std::string type, id;
  std::vector<IndexEntry> index;
  auto flush = [&]() -> Status {
    if (index.empty()) return Status::Ok();
    sqlite3_reset(update.get());
    update.Text(1, type);
    update.Text(2, id);
    update.Blob(3, EncodeTerms(index));
    if (sqlite3_step(update.get()) != SQLITE_DONE) return Internal(sqlite3_errmsg(db));
    index.clear();
    return Status::Ok();
  };
  int rc;
  while ((rc = sqlite3_step(entries.get())) == SQLITE_ROW) {
    if (entries.Column(0) != type || entries.Column(1) != id) {
      KETAMINE_RETURN_IF_ERROR(flush());
      type = entries.Column(0);
      id = entries.Column(1);
    }
    index.push_back({entries.Column(2), entries.Column(3), entries.Column(4)});
  }
  if (rc != SQLITE_DONE) return Internal(sqlite3_errmsg(db));
  KETAMINE_RETURN_IF_ERROR(flush());
  sqlite3_reset(entries.get());
  sqlite3_reset(update.get());
  return Exec(db, ("DELETE FROM resource_index WHERE " + kept_elsewhere + "; COMMIT;").c_str());
}

// Slots of what Append packs for the writer (PendingAppend::prepared): the raw message, then each
// outbox payload. The packed bytes, or nullptr when that blob is stored as it came.
constexpr size_t kRawSlot = 0;
size_t PayloadSlot(size_t outbox_index) { return 1 + outbox_index; }
const std::string* PackedIn(const PendingAppend& pending, size_t slot) {
  return slot < pending.prepared.size() && !pending.prepared[slot].empty() ? &pending.prepared[slot] : nullptr;
}

}  // namespace

std::string_view MessageStatusName(MessageStatus status) {
  switch (status) {
    case MessageStatus::kAccepted: return "accepted";
    case MessageStatus::kRejected: return "rejected";
    case MessageStatus::kError: return "error";
  }
  return "error";
}

Result<AppendOutcome> MessageStore::AppendAndWait(InboundRecord record) {
  std::promise<Result<AppendOutcome>> promise;
  auto future = promise.get_future();
  Append(std::move(record), [&promise](Result<AppendOutcome> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& data_dir,
                                                       SqliteOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Unavailable("cannot create data folder " + data_dir.string() + ": " + ec.message());
  std::filesystem::path file = data_dir / kFileName;
  KETAMINE_ASSIGN_OR_RETURN(sqlite3 * writer, OpenSqlite(file, options));
  if (Answers1(writer, kHasOldIndex)) {
    Status s = Exec(writer, kSetOldIndexAside);
    if (s.ok()) s = Exec(writer, kSchema);
    if (s.ok()) s = Exec(writer, kMoveOldIndex);
    if (!s.ok()) {
      Exec(writer, "ROLLBACK;").ok();
      sqlite3_close(writer);
      return Unavailable("cannot move the search index of " + file.string() + " to its new layout: " + s.message());
    }
  } else if (Status s = Exec(writer, kSchema); !s.ok()) {
    sqlite3_close(writer);
    return s;
  }
  for (const Migration& m : kMigrations) {
    if (!Answers1(writer, m.needed)) continue;
    if (Status st = Exec(writer, m.sql); !st.ok()) {
      Exec(writer, "ROLLBACK;").ok();
      sqlite3_close(writer);
      return Unavailable(std::string("cannot ") + m.what + " " + file.string() + ": " + st.message());
    }
  }
  if (Status st = MoveTermsIntoResources(writer); !st.ok()) {
    Exec(writer, "ROLLBACK;").ok();
    sqlite3_close(writer);
    return Unavailable("cannot move the search entries into the resource rows of " + file.string() + ": " +
                       st.message());
  }
  auto reader = OpenSqlite(file, options);
  if (!reader.ok()) {
    sqlite3_close(writer);
    return reader.status();
  }
  if (RegisterTermsFunction(*reader) != SQLITE_OK) {
    Status st = Internal(std::string("cannot register kgw_terms: ") + sqlite3_errmsg(*reader));
    sqlite3_close(writer);
    sqlite3_close(*reader);
    return st;
  }
  auto outbox = OpenSqlite(file, options);
  if (!outbox.ok()) {
    sqlite3_close(writer);
    sqlite3_close(*reader);
    return outbox.status();
  }
  SqliteOptions small = options;
  small.cache_mib = 1;          // it only copies pages from the WAL to the file
  small.busy_timeout_ms = 100;  // how long its RESTART may hold commits back waiting for readers
  auto checkpoint = OpenSqlite(file, small);
  if (!checkpoint.ok()) {
    sqlite3_close(writer);
    sqlite3_close(*reader);
    sqlite3_close(*outbox);
    return checkpoint.status();
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(writer, *reader, *outbox, *checkpoint, options));
}

// SQLite checkpoints the WAL (copies it into the database file) inside the COMMIT that takes it
// past 1,000 pages: under MLLP load that was about a quarter of the writer thread's time, and the
// writer is the one thread every message waits for. The store's connections hand their commits'
// WAL size to a hook instead (which turns SQLite's automatic checkpoint off), and a thread of its
// own, on a connection of its own, checkpoints from then on (PASSIVE, as SQLite's own: it copies
// what no reader still needs, beside the commits, and never waits for a lock) each time another
// 1,000 pages have come: a page that every group rewrites (the end of a table, of an index) is
// copied once per 1,000 pages, not once per group. The WAL starts over only at a commit that finds
// it all copied, which back-to-back group commits seldom leave room for: past ~4,000 pages, once a
// pass has copied it all, the thread holds the next commit back until readers have left the WAL
// (100 ms at most). Should the thread be stuck, the writer copies what it can itself once the WAL
// passes ~16,000 pages. After a reader held the copies back, the WAL file is cut back to
// wal_limit_mib when it starts over (SQLite keeps it at its largest otherwise).
namespace {

constexpr int kCheckpointFrames = 1000;          // SQLite's own default
constexpr int kRestartFrames = 4000;             // ~16 MB of WAL: make the next commit start it over
constexpr int kWriterCheckpointFrames = 16000;   // ~64 MB: the checkpoint thread is stuck; the writer copies

}  // namespace

int SqliteStore::OnWalCommit(void* self, sqlite3* db, const char* /*name*/, int frames) {
  auto* store = static_cast<SqliteStore*>(self);
  if (db == store->writer_) store->wal_frames_ = frames;
  // Pages not copied yet (a log that started over has fewer pages than were copied before).
  const int copied = store->wal_copied_.load(std::memory_order_relaxed);
  if (frames - (frames < copied ? 0 : copied) >= kCheckpointFrames) {
    std::lock_guard lock(store->checkpoint_mutex_);
    if (!store->checkpoint_wanted_) {
      store->checkpoint_wanted_ = true;
      store->checkpoint_wake_.notify_one();
    }
  }
  return SQLITE_OK;
}

SqliteStore::SqliteStore(sqlite3* writer, sqlite3* reader, sqlite3* outbox, sqlite3* checkpoint,
                         SqliteOptions options)
    : writer_(writer), reader_(reader), outbox_(outbox), checkpoint_(checkpoint), options_(options) {
  // The connections that commit (the reader and the checkpoint connection never write).
  for (sqlite3* db : {writer_, outbox_}) sqlite3_wal_hook(db, &SqliteStore::OnWalCommit, this);
  checkpointer_ = std::thread([this] {
    NameThisThread("kgw-checkpoint");
    CheckpointLoop();
  });
  committer_ = std::make_unique<GroupCommitter>(
      options_.max_batch, [this](const std::deque<PendingAppend>& batch) { return CommitBatch(batch); },
      [this] { CheckpointAfterBatch(); });
}

std::string SqliteStore::MetricsText() const {
  const auto n = [](const std::atomic<uint64_t>& v) { return std::to_string(v.load(std::memory_order_relaxed)); };
  const auto seconds = [](const std::atomic<uint64_t>& us) {
    return std::to_string(static_cast<double>(us.load(std::memory_order_relaxed)) / 1e6);
  };
  return "# HELP ketamine_store_checkpoints_total Passes of the SQLite store's checkpoint thread.\n"
         "# TYPE ketamine_store_checkpoints_total counter\n"
         "ketamine_store_checkpoints_total " + n(checkpoints_) + "\n"
         "# HELP ketamine_store_wal_restarts_total WAL restarts by outcome (given_up: a reader held on past 100 ms).\n"
         "# TYPE ketamine_store_wal_restarts_total counter\n"
         "ketamine_store_wal_restarts_total{outcome=\"done\"} " + n(wal_restarts_) + "\n"
         "ketamine_store_wal_restarts_total{outcome=\"given_up\"} " + n(wal_restarts_given_up_) + "\n"
         "# HELP ketamine_store_wal_restart_seconds_total Time WAL restarts held new commits back.\n"
         "# TYPE ketamine_store_wal_restart_seconds_total counter\n"
         "ketamine_store_wal_restart_seconds_total " + seconds(wal_restart_us_) + "\n"
         "# HELP ketamine_store_wal_restart_max_seconds The longest a WAL restart held new commits back.\n"
         "# TYPE ketamine_store_wal_restart_max_seconds gauge\n"
         "ketamine_store_wal_restart_max_seconds " + seconds(wal_restart_max_us_) + "\n";
}

void SqliteStore::CheckpointLoop() {
  std::unique_lock lock(checkpoint_mutex_);
  while (true) {
    checkpoint_wake_.wait(lock, [this] { return checkpoint_stopping_ || checkpoint_wanted_; });
    if (checkpoint_stopping_) return;
    checkpoint_wanted_ = false;
    lock.unlock();
    int log = 0;
    int copied = 0;
    if (sqlite3_wal_checkpoint_v2(checkpoint_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK) {
      wal_copied_.store(copied, std::memory_order_relaxed);
    }
    if (log >= kRestartFrames && copied == log) {
      // RESTART holds new commits back (their busy handler polls) while it copies the little the
      // pass above left and until readers have moved on, so the next commit starts the WAL over.
      // Only once the pass copied it all: short of that a reader holds an older snapshot, and
      // RESTART would hold the commits back for nothing (this connection waits 100 ms at most).
      const auto started = std::chrono::steady_clock::now();
      const int rc = sqlite3_wal_checkpoint_v2(checkpoint_, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
      const auto us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count());
      wal_restart_us_.fetch_add(us, std::memory_order_relaxed);
      if (us > wal_restart_max_us_.load(std::memory_order_relaxed)) {
        wal_restart_max_us_.store(us, std::memory_order_relaxed);  // only this thread writes it
      }
      if (rc == SQLITE_OK) {
        wal_copied_.store(0, std::memory_order_relaxed);
        wal_restarts_.fetch_add(1, std::memory_order_relaxed);
      } else {
        wal_restarts_given_up_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

void SqliteStore::CheckpointAfterBatch() {
  if (wal_frames_ < kWriterCheckpointFrames) return;
  // PASSIVE: copies what no reader still needs and never waits. FULL would wait up to the busy
  // timeout (2 s) for readers on older snapshots, and that at every group while one stays (a long
  // export). While the checkpoint thread is in a pass this gets SQLITE_BUSY; the next group tries again.
  int log = 0;
  int copied = 0;
  if (sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK &&
      copied == log) {
    wal_frames_ = 0;
  }
}

SqliteStore::~SqliteStore() {
  committer_->Stop();  // what is queued is committed before the connections close
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stopping_ = true;
  }
  checkpoint_wake_.notify_all();
  checkpointer_.join();
  for (sqlite3_stmt* stmt : prepared_) sqlite3_finalize(stmt);
  sqlite3_close(checkpoint_);
  sqlite3_close(outbox_);
  sqlite3_close(reader_);
  sqlite3_close(writer_);
}

sqlite3_stmt* SqliteStore::Prepared(size_t slot, const char* sql) {
  if (prepared_.size() <= slot) prepared_.resize(slot + 1, nullptr);
  if (prepared_[slot] == nullptr && sqlite3_prepare_v2(writer_, sql, -1, &prepared_[slot], nullptr) != SQLITE_OK) {
    prepared_[slot] = nullptr;
  }
  return prepared_[slot];
}

void SqliteStore::Append(InboundRecord record, AppendCallback done) {
  // Packed here, on the appending thread (MLLP, HTTP), so the one writer thread only copies the
  // smaller bytes: [0] the raw message, then each outbox payload; "" keeps one as it is.
  std::vector<std::string> packed(PayloadSlot(record.outbox.size()));
  packed[kRawSlot] = Lz4Pack(record.raw);
  for (size_t i = 0; i < record.outbox.size(); ++i) packed[PayloadSlot(i)] = Lz4Pack(record.outbox[i].payload);
  committer_->Append(std::move(record), std::move(done), std::move(packed));
}

uint64_t SqliteStore::appends() const { return committer_->appends(); }

uint64_t SqliteStore::commits() const { return committer_->commits(); }

std::vector<Result<AppendOutcome>> SqliteStore::CommitBatch(const std::deque<PendingAppend>& batch) {
  auto fail_all = [&](const Status& status) {
    Exec(writer_, "ROLLBACK;").ok();
    return std::vector<Result<AppendOutcome>>(batch.size(), Result<AppendOutcome>(status));
  };
  if (Status s = Exec(writer_, "BEGIN IMMEDIATE;"); !s.ok()) {
    return std::vector<Result<AppendOutcome>>(batch.size(), Result<AppendOutcome>(s));
  }
  Statement insert(Prepared(0, "INSERT OR IGNORE INTO inbound_messages (received_at, listener, "
                   "sending_application, sending_facility, control_id, message_type, version, "
                   "status, raw, replies, raw_packed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  Statement find(Prepared(1, "SELECT id, replies FROM inbound_messages WHERE sending_application = ?1 AND "
                 "sending_facility = ?2 AND control_id = ?3 AND status = 'accepted'"));
  if (!insert.ok() || !find.ok()) return fail_all(SqlError(writer_, "prepare"));
  std::vector<Result<AppendOutcome>> results;
  results.reserve(batch.size());
  for (const PendingAppend& pending : batch) {
    const InboundRecord& r = pending.record;
    // A record with several writes (a transaction Bundle) runs in a savepoint: a later write that
    // conflicts rolls back the message and the writes before it. A single write (the usual REST
    // create or update) is checked first instead, which needs no savepoint.
    const bool savepoint = r.resources.size() > 1;
    std::optional<ResourceResult> single;
    if (savepoint) {
      if (Status s = Exec(writer_, "SAVEPOINT record;"); !s.ok()) return fail_all(s);
    } else if (!r.resources.empty()) {
      Result<ResourceResult> decided = DecideResource(r.resources[0], FormatIsoTimestamp(Clock::System().Now()));
      if (!decided.ok()) return fail_all(decided.status());
      single = *std::move(decided);
      if (internal::IsConflict(single->outcome)) {
        AppendOutcome conflict;
        conflict.rolled_back = true;
        conflict.resources = {*std::move(single)};
        results.emplace_back(std::move(conflict));
        continue;
      }
    }
    sqlite3_reset(insert.get());
    insert.Text(1, r.received_at);
    insert.Text(2, r.listener);
    insert.Text(3, r.sending_application);
    insert.Text(4, r.sending_facility);
    if (r.control_id.empty()) {
      sqlite3_bind_null(insert.get(), 5);
    } else {
      insert.Text(5, r.control_id);
    }
    insert.Text(6, r.message_type);
    insert.Text(7, r.version);
    insert.Text(8, MessageStatusName(r.status));
    const std::string* raw_packed = PackedIn(pending, kRawSlot);
    insert.Blob(9, raw_packed != nullptr ? *raw_packed : r.raw);
    insert.Blob(10, JoinReplies(r.replies));
    sqlite3_bind_int(insert.get(), 11, raw_packed != nullptr ? 1 : 0);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) return fail_all(SqlError(writer_, "insert"));
    AppendOutcome outcome;
    if (sqlite3_changes(writer_) == 1) {
      outcome.id = sqlite3_last_insert_rowid(writer_);
    } else {
      sqlite3_reset(find.get());
      find.Text(1, r.sending_application);
      find.Text(2, r.sending_facility);
      find.Text(3, r.control_id);
      if (sqlite3_step(find.get()) != SQLITE_ROW) return fail_all(SqlError(writer_, "find"));
      outcome.id = sqlite3_column_int64(find.get(), 0);
      outcome.duplicate = true;
      outcome.replies = SplitReplies(find.Column(1));
    }
    if (!outcome.duplicate && savepoint) {
      Result<bool> written = WriteResources(r.resources, outcome.id, outcome.resources);
      if (!written.ok()) return fail_all(written.status());
      if (!*written) {
        outcome.rolled_back = true;
        if (Status s = Exec(writer_, "ROLLBACK TO record;"); !s.ok()) return fail_all(s);
      }
    } else if (!outcome.duplicate && single) {
      // Decided above, and nothing has changed since: written as decided.
      if (internal::IsWrite(single->outcome)) {
        if (Status s = ApplyResource(r.resources[0], *single, outcome.id); !s.ok()) return fail_all(s);
      }
      outcome.resources = {*std::move(single)};
    }
    // Deliveries go out for what was stored: a message, or a write that created, changed or
    // confirmed a resource (not a conditional create that found the resource already there).
    const bool wrote = r.resources.empty() ||
                       std::any_of(outcome.resources.begin(), outcome.resources.end(),
                                   [](const ResourceResult& x) { return internal::IsStored(x.outcome); });
    if (!outcome.duplicate && !outcome.rolled_back && wrote && !r.outbox.empty()) {
      Statement queue(Prepared(8, "INSERT INTO outbox (message_id, destination, partition, content_type, "
                                  "idempotency_key, state, next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?6, "
                                  "'pending', ?7, ?7)"));
      Statement payload(Prepared(9, "INSERT INTO outbox_payload (id, payload, packed) VALUES (?1, ?2, ?3)"));
      if (!queue.ok() || !payload.ok()) return fail_all(SqlError(writer_, "prepare"));
      const int64_t now_ms = UnixMs(Clock::System().Now());
      for (size_t i = 0; i < r.outbox.size(); ++i) {
        const OutboxWrite& o = r.outbox[i];
        const std::string* payload_packed = PackedIn(pending, PayloadSlot(i));
        sqlite3_reset(queue.get());
        sqlite3_bind_int64(queue.get(), 1, outcome.id);
        queue.Text(2, o.destination);
        queue.Text(3, o.partition);
        queue.Text(4, o.content_type);
        queue.Text(6, o.idempotency_key);
        sqlite3_bind_int64(queue.get(), 7, now_ms);
        if (sqlite3_step(queue.get()) != SQLITE_DONE) return fail_all(SqlError(writer_, "outbox"));
        sqlite3_reset(payload.get());
        sqlite3_bind_int64(payload.get(), 1, sqlite3_last_insert_rowid(writer_));
        payload.Blob(2, payload_packed != nullptr ? *payload_packed : o.payload);
        sqlite3_bind_int(payload.get(), 3, payload_packed != nullptr ? 1 : 0);
        if (sqlite3_step(payload.get()) != SQLITE_DONE) return fail_all(SqlError(writer_, "outbox"));
      }
    }
    if (savepoint) {
      if (Status s = Exec(writer_, "RELEASE record;"); !s.ok()) return fail_all(s);
    }
    results.emplace_back(std::move(outcome));
  }
  if (Status s = Exec(writer_, "COMMIT;"); !s.ok()) return fail_all(s);
  return results;
}

// The decision on one write in the writer's transaction (conflict, conditional match, or the
// version to write); nothing written.
Result<ResourceResult> SqliteStore::DecideResource(const ResourceWrite& w, const std::string& now) {
  Statement by_identifier(Prepared(2, "SELECT r.id, r.version, r.last_updated FROM resource_index i JOIN resources r ON "
                          "r.type = i.type AND r.id = i.id WHERE i.type = ?1 AND i.param = 'identifier' AND "
                          "i.system = ?2 AND i.value = ?3 LIMIT 1"));
  Statement current(Prepared(3, "SELECT version, last_updated, json = ?3 FROM resources WHERE type = ?1 AND id = ?2"));
  if (!by_identifier.ok() || !current.ok()) return SqlError(writer_, "prepare");
  auto find_identifier = [&](const std::string& type, const std::string& token, ResourceResult& found) -> Result<bool> {
    size_t bar = token.find('|');
    sqlite3_reset(by_identifier.get());
    by_identifier.Text(1, type);
    by_identifier.Text(2, bar == std::string::npos ? std::string() : token.substr(0, bar));
    by_identifier.Text(3, bar == std::string::npos ? token : token.substr(bar + 1));
    int rc = sqlite3_step(by_identifier.get());
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return SqlError(writer_, "identifier lookup");
    found.id = by_identifier.Column(0);
    found.version = sqlite3_column_int64(by_identifier.get(), 1);
    found.last_updated = by_identifier.Column(2);
    return true;
  };
  auto current_version = [&](const ResourceWrite& write) -> Result<internal::CurrentVersion> {
    sqlite3_reset(current.get());
    current.Text(1, write.type);
    current.Text(2, write.id);
    // Only an update can be unchanged: a create's JSON is not copied into the lookup.
    if (write.update) {
      current.Blob(3, write.json);
    } else {
      sqlite3_bind_null(current.get(), 3);
    }
    int rc = sqlite3_step(current.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(writer_, "version lookup");
    internal::CurrentVersion stored;
    if (rc == SQLITE_ROW) {
      stored.version = sqlite3_column_int64(current.get(), 0);
      stored.last_updated = current.Column(1);
      stored.same_json = sqlite3_column_int(current.get(), 2) == 1;
    }
    return stored;
  };
  return internal::DecideWrite(w, now, find_identifier, current_version);
}

// Writes a decided create or update: the version it replaces to the history (nothing is
// overwritten without a trace) with its index entries gone, then the resource and its entries.
Status SqliteStore::ApplyResource(const ResourceWrite& w, const ResourceResult& decided, int64_t message_id) {
  Statement upsert(Prepared(4, "INSERT INTO resources (type, id, version, last_updated, json, message_id, terms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, "
                   "last_updated = excluded.last_updated, json = excluded.json, message_id = excluded.message_id, "
                   "terms = excluded.terms"));
  Statement history(Prepared(5, "INSERT INTO resource_history (type, id, version, last_updated, json, message_id) "
                               "SELECT type, id, version, last_updated, json, message_id FROM resources WHERE type = ?1 "
                               "AND id = ?2"));
  Statement unindex(Prepared(6, "DELETE FROM resource_index WHERE type = ?1 AND id = ?2"));
  // A resource that names one code twice has one entry for it.
  Statement index(Prepared(7, "INSERT OR IGNORE INTO resource_index (type, id, param, system, value) "
                              "VALUES (?1, ?2, ?3, ?4, ?5)"));
  if (!upsert.ok() || !history.ok() || !unindex.ok() || !index.ok()) return SqlError(writer_, "prepare");
  if (decided.outcome == ResourceOutcome::kUpdated) {
    for (Statement* replaced : {&history, &unindex}) {
      sqlite3_reset(replaced->get());
      replaced->Text(1, w.type);
      replaced->Text(2, w.id);
      if (sqlite3_step(replaced->get()) != SQLITE_DONE) return SqlError(writer_, "replacing a version");
    }
  }
  sqlite3_reset(upsert.get());
  upsert.Text(1, w.type);
  upsert.Text(2, w.id);
  sqlite3_bind_int64(upsert.get(), 3, decided.version);
  upsert.Text(4, decided.last_updated);
  upsert.Blob(5, w.json);
  sqlite3_bind_int64(upsert.get(), 6, message_id);
  upsert.Blob(7, EncodeTerms(w.index));
  if (sqlite3_step(upsert.get()) != SQLITE_DONE) return SqlError(writer_, "resource write");
  for (const IndexEntry& e : w.index) {
    if (!internal::IndexedByValue(e.param)) continue;  // in the terms above
    sqlite3_reset(index.get());
    index.Text(1, w.type);
    index.Text(2, w.id);
    index.Text(3, e.param);
    index.Text(4, e.system);
    index.Text(5, e.value);
    if (sqlite3_step(index.get()) != SQLITE_DONE) return SqlError(writer_, "index");
  }
  return Status::Ok();
}

// Decides and writes the writes of one record in turn (a later one sees the earlier ones); false
// when one conflicts (the caller rolls the record back), an error when SQLite fails.
Result<bool> SqliteStore::WriteResources(const std::vector<ResourceWrite>& writes, int64_t message_id,
                                         std::vector<ResourceResult>& results) {
  const std::string now = FormatIsoTimestamp(Clock::System().Now());
  bool ok = true;
  for (const ResourceWrite& w : writes) {
    KETAMINE_ASSIGN_OR_RETURN(ResourceResult result, DecideResource(w, now));
    if (internal::IsWrite(result.outcome)) {
      KETAMINE_RETURN_IF_ERROR(ApplyResource(w, result, message_id));
    } else {
      ok = ok && !internal::IsConflict(result.outcome);
    }
    results.push_back(std::move(result));
  }
  return ok;
}

namespace {

// A stored resource from a row's version, last_updated and json, in that order from column `first`.
StoredResource ResourceFromRow(Statement& row, std::string_view type, std::string id, int first) {
  StoredResource out;
  out.type = std::string(type);
  out.id = std::move(id);
  out.version = sqlite3_column_int64(row.get(), first);
  out.last_updated = row.Column(first + 1);
  out.json = row.Column(first + 2);
  return out;
}

}  // namespace

Result<StoredResource> SqliteStore::ReadResource(std::string_view type, std::string_view id) {
  std::lock_guard lock(reader_mutex_);
  Statement select(reader_, "SELECT version, last_updated, json FROM resources WHERE type = ?1 AND id = ?2");
  if (!select.ok()) return SqlError(reader_, "prepare");
  select.Text(1, type);
  select.Text(2, id);
  int rc = sqlite3_step(select.get());
  if (rc == SQLITE_DONE) return NotFound(std::string(type) + "/" + std::string(id) + " is not here");
  if (rc != SQLITE_ROW) return SqlError(reader_, "read");
  return ResourceFromRow(select, type, std::string(id), 0);
}

Result<std::vector<StoredResource>> SqliteStore::ResourceVersions(std::string_view type, std::string_view id,
                                                                   int64_t version) {
  std::lock_guard lock(reader_mutex_);
  Statement select(reader_, internal::kResourceVersionsSql);
  if (!select.ok()) return SqlError(reader_, "prepare");
  select.Text(1, type);
  select.Text(2, id);
  sqlite3_bind_int64(select.get(), 3, version);
  std::vector<StoredResource> out;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    out.push_back(ResourceFromRow(select, type, std::string(id), 0));
    out.back().written_by = select.Column(3);
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "history");
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::IdsByIdentifier(
    std::string_view type, const std::vector<std::string>& identifiers) {
  std::vector<std::pair<std::string, std::string>> out;
  if (identifiers.empty()) return out;
  std::lock_guard lock(reader_mutex_);
  const std::string sql = internal::IdsByIdentifierSql(identifiers.size());
  Statement select(reader_, sql.c_str());
  if (!select.ok()) return SqlError(reader_, "prepare");
  select.Text(1, type);
  std::vector<std::pair<std::string, std::string>> parts;
  parts.reserve(identifiers.size());
  for (const std::string& identifier : identifiers) parts.push_back(internal::SplitIdentifier(identifier));
  for (size_t i = 0; i < parts.size(); ++i) {
    select.Text(static_cast<int>(2 + 2 * i), parts[i].first);
    select.Text(static_cast<int>(3 + 2 * i), parts[i].second);
  }
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    out.emplace_back(select.Column(0) + "|" + select.Column(1), select.Column(2));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "identifiers");
  return out;
}

Result<SearchPage> SqliteStore::History(std::string_view type, std::string_view since, std::string_view until,
                                        const SearchRange& range) {
  std::lock_guard lock(reader_mutex_);
  SearchPage page;
  for (const bool count : {true, false}) {
    if ((count && !range.counted) || (!count && range.count == 0)) continue;
    const std::string sql = internal::HistorySql(count, range, "");
    Statement select(reader_, sql.c_str());
    if (!select.ok()) return SqlError(reader_, "prepare");
    select.Text(1, type);
    select.Text(2, since);
    select.Text(3, until);
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      if (count) {
        page.total = sqlite3_column_int64(select.get(), 0);
      } else if (page.resources.size() == range.count) {  // the row past the page
        page.more = true;
        break;
      } else {
        page.resources.push_back(ResourceFromRow(select, select.Column(0), select.Column(1), 2));
        page.resources.back().written_by = select.Column(5);
      }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(reader_, "history");
  }
  return page;
}

Result<SearchPage> SqliteStore::SearchResources(std::string_view type, const std::vector<SearchCondition>& conditions,
                                                const SearchRange& range) {
  std::vector<std::string> binds{std::string(type)};
  auto bind = [&](std::string value) {
    binds.push_back(std::move(value));
    return "?" + std::to_string(binds.size());
  };
  auto compare = [&](const std::string& lhs, const SearchCondition& c) {
    const bool prefix = c.op == SearchCondition::Op::kPrefix;
    return lhs + (prefix ? " LIKE " : internal::ComparisonSql(c.op)) + bind(prefix ? c.value + "%" : c.value);
  };
  // A reference read from the candidate's JSON is one of `values` (false, not NULL, where there is
  // none, so that NOT (...) holds there).
  auto json_path = [](const std::vector<const char*>& steps) {  // {"a", "b"} -> '$.a.b'
    std::string path = "'$";
    for (const char* step : steps) path += std::string(".") + step;
    return path + "'";
  };
  auto json_reference = [&](const internal::JsonReference& held, const std::vector<std::string>& values) {
    const std::string path = json_path(held.path);
    if (*held.array == '\0') {
      return "coalesce(json_extract(CAST(r.json AS TEXT), " + path + ") " + internal::ReferenceValuesSql(values, bind) + ", 0)";
    }
    return std::string("EXISTS (SELECT 1 FROM json_each(CAST(r.json AS TEXT), '$.") + held.array +
           "') e WHERE json_extract(e.value, " + path + ") " + internal::ReferenceValuesSql(values, bind) + ")";
  };
  const std::string where = "r.type = ?1" + internal::JoinConditions(conditions, type, "?1", bind, [&](const SearchCondition& c) {
    if (const char* column = internal::ResourceColumn(c.param)) return compare(column, c);
    if (c.param == internal::kValueQuantity) {
      auto at = [&](std::initializer_list<const char*> steps) {
        return "json_extract(CAST(r.json AS TEXT), " + json_path(steps) + ")";
      };
      return internal::QuantityPredicate(c, bind, at, at, "REAL");
    }
    if (auto held = internal::JsonReferenceOf(type, c.param)) return json_reference(*held, {c.value});
    if (!internal::IndexedByValue(c.param)) {
      // Tested on the candidate's own row (sqlite_terms.h).
      std::string sql = "kgw_terms(r.terms, " + bind(c.param) + ", " + bind(c.has_system ? "1" : "0");
      sql += ", " + bind(c.system) + ", " + bind(std::to_string(static_cast<int>(c.op)));
      return sql + ", " + bind(c.value) + ")";
    }
    return internal::IndexPredicate(c, "?1", bind, compare);
  }, json_reference);
  std::lock_guard lock(reader_mutex_);
  SearchPage page;
  if (range.counted) {
    std::string sql = "SELECT count(*) FROM resources r WHERE " + where;
    Statement total(reader_, sql.c_str());
    if (!total.ok()) return SqlError(reader_, "prepare");
    for (size_t i = 0; i < binds.size(); ++i) total.Text(static_cast<int>(i + 1), binds[i]);
    if (sqlite3_step(total.get()) != SQLITE_ROW) return SqlError(reader_, "count");
    page.total = sqlite3_column_int64(total.get(), 0);
  }
  if (range.count == 0) return page;
  std::string sql = "SELECT r.id, r.version, r.last_updated, r.json FROM resources r WHERE " + where +
                    internal::PageSql(range, "", [](const std::string& param, bool highest) {
                      // Dates and the like are in the row's terms (sqlite_terms.h), the rest in the index.
                      return internal::IndexedByValue(param)
                                 ? internal::IndexEdgeSql(param, highest, "")
                                 : "kgw_terms_edge(r.terms, '" + param + "', " + (highest ? "1" : "0") + ")";
                    });
  Statement select(reader_, sql.c_str());
  if (!select.ok()) return SqlError(reader_, "prepare");
  for (size_t i = 0; i < binds.size(); ++i) select.Text(static_cast<int>(i + 1), binds[i]);
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    if (page.resources.size() == range.count) {  // the row past the page
      page.more = true;
      break;
    }
    page.resources.push_back(ResourceFromRow(select, type, select.Column(0), 1));
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(reader_, "search");
  return page;
}

namespace {

constexpr const char* kMessageColumns =
    "SELECT id, received_at, listener, sending_application, sending_facility, control_id, message_type, version, "
    "status, raw, replies, raw_packed FROM inbound_messages ";

// The rows of a statement that selects kMessageColumns.
Result<std::vector<StoredMessage>> ReadMessages(sqlite3* db, Statement& select) {
  std::vector<StoredMessage> out;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    StoredMessage m;
    m.id = sqlite3_column_int64(select.get(), 0);
    m.record.received_at = select.Column(1);
    m.record.listener = select.Column(2);
    m.record.sending_application = select.Column(3);
    m.record.sending_facility = select.Column(4);
    m.record.control_id = select.Column(5);
    m.record.message_type = select.Column(6);
    m.record.version = select.Column(7);
    m.record.status = MessageStatusFromName(select.Column(8));
    KETAMINE_ASSIGN_OR_RETURN(m.record.raw, Unpacked(select, 9, 11));
    m.record.replies = SplitReplies(select.Column(10));
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return SqlError(db, "list");
  return out;
}

}  // namespace

Result<std::vector<StoredMessage>> SqliteStore::List(int64_t after_id, size_t limit) {
  std::lock_guard lock(reader_mutex_);
  Statement select(reader_, (std::string(kMessageColumns) + "WHERE id > ?1 ORDER BY id LIMIT ?2").c_str());
  if (!select.ok()) return SqlError(reader_, "prepare");
  sqlite3_bind_int64(select.get(), 1, after_id);
  sqlite3_bind_int64(select.get(), 2, static_cast<sqlite3_int64>(limit));
  return ReadMessages(reader_, select);
}

Result<std::vector<StoredMessage>> SqliteStore::MessagesOfResource(std::string_view type, std::string_view id,
                                                                   size_t limit) {
  std::lock_guard lock(reader_mutex_);
  Statement select(reader_, (std::string(kMessageColumns) + internal::kMessagesOfResourceSql).c_str());
  if (!select.ok()) return SqlError(reader_, "prepare");
  select.Text(1, type);
  select.Text(2, id);
  sqlite3_bind_int64(select.get(), 3, static_cast<sqlite3_int64>(limit));
  return ReadMessages(reader_, select);
}

Result<std::vector<StoredMessage>> SqliteStore::FindMessages(std::string_view control_id,
                                                             std::string_view sending_facility, size_t limit) {
  std::lock_guard lock(reader_mutex_);
  // Accepted messages are in the deduplication index by (sender, facility, control id): one probe
  // per sender, the senders found by walking that index from one to the next (a skip-scan by hand;
  // an index by control id alone cost every message a scattered insert, ~20 % of the MLLP rate).
  Statement next_sender(reader_,
                        "SELECT sending_application, sending_facility FROM inbound_messages WHERE control_id IS NOT "
                        "NULL AND status = 'accepted' AND (sending_application, sending_facility) > (?1, ?2) ORDER BY "
                        "sending_application, sending_facility LIMIT 1");
  Statement accepted(reader_, (std::string(kMessageColumns) +
                               "WHERE sending_application = ?1 AND sending_facility = ?2 AND control_id = ?3 AND "
                               "status = 'accepted'").c_str());
  Statement refused(reader_, (std::string(kMessageColumns) +
                              "WHERE control_id = ?1 AND control_id IS NOT NULL AND status != 'accepted' AND "
                              "(?2 = '' OR sending_facility = ?2) ORDER BY id DESC LIMIT ?3").c_str());
  if (!next_sender.ok() || !accepted.ok() || !refused.ok()) return SqlError(reader_, "prepare");
  refused.Text(1, control_id);
  refused.Text(2, sending_facility);
  sqlite3_bind_int64(refused.get(), 3, static_cast<sqlite3_int64>(limit));
  KETAMINE_ASSIGN_OR_RETURN(std::vector<StoredMessage> out, ReadMessages(reader_, refused));
  std::string application, facility;  // ("", "") itself is probed first: the walk starts after it
  for (bool first = true;; first = false) {
    if (!first) {
      sqlite3_reset(next_sender.get());
      next_sender.Text(1, application);
      next_sender.Text(2, facility);
      const int rc = sqlite3_step(next_sender.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return SqlError(reader_, "find");
      application = next_sender.Column(0);
      facility = next_sender.Column(1);
    }
    if (!sending_facility.empty() && facility != sending_facility) continue;
    sqlite3_reset(accepted.get());
    accepted.Text(1, application);
    accepted.Text(2, facility);
    accepted.Text(3, control_id);
    KETAMINE_ASSIGN_OR_RETURN(std::vector<StoredMessage> found, ReadMessages(reader_, accepted));
    for (StoredMessage& m : found) out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const StoredMessage& a, const StoredMessage& b) { return a.id > b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<int64_t> SqliteStore::Count() {
  std::lock_guard lock(reader_mutex_);
  Statement count(reader_, "SELECT COUNT(*) FROM inbound_messages");
  if (!count.ok() || sqlite3_step(count.get()) != SQLITE_ROW) return SqlError(reader_, "count");
  return static_cast<int64_t>(sqlite3_column_int64(count.get(), 0));
}

std::string_view OutboxStateName(OutboxState state) {
  switch (state) {
    case OutboxState::kPending: return "pending";
    case OutboxState::kSending: return "sending";
    case OutboxState::kDelivered: return "delivered";
    case OutboxState::kDead: return "dead";
  }
  return "pending";
}

namespace {

// Selected FROM kOutboxJoin.
constexpr const char* kOutboxColumns =
    "o.id, o.message_id, o.destination, o.partition, o.content_type, p.payload, o.idempotency_key, o.state, "
    "o.attempts, o.last_error, o.created_ms, p.packed";
constexpr const char* kOutboxJoin = " FROM outbox o JOIN outbox_payload p ON p.id = o.id ";

Result<OutboxItem> ReadItem(Statement& row) {
  OutboxItem item;
  item.id = sqlite3_column_int64(row.get(), 0);
  item.message_id = sqlite3_column_int64(row.get(), 1);
  item.write.destination = row.Column(2);
  item.write.partition = row.Column(3);
  item.write.content_type = row.Column(4);
  KETAMINE_ASSIGN_OR_RETURN(item.write.payload, Unpacked(row, 5, 11));
  item.write.idempotency_key = row.Column(6);
  item.state = OutboxStateFromName(row.Column(7));
  item.attempts = static_cast<int>(sqlite3_column_int64(row.get(), 8));
  item.last_error = row.Column(9);
  item.created_ms = sqlite3_column_int64(row.get(), 10);
  return item;
}

// Every row of a statement that selects kOutboxColumns.
Result<std::vector<OutboxItem>> ReadItems(sqlite3* db, Statement& select) {
  std::vector<OutboxItem> items;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    KETAMINE_ASSIGN_OR_RETURN(OutboxItem item, ReadItem(select));
    items.push_back(std::move(item));
  }
  if (rc != SQLITE_DONE) return SqlError(db, "list");
  return items;
}

// A progress handler's budget: SQLite calls it every kStepsPerTick steps of a statement and
// interrupts the statement once it answers non-zero.
constexpr int kStepsPerTick = 1000;
int OverBudget(void* ticks_left) { return --*static_cast<int*>(ticks_left) < 0 ? 1 : 0; }

// The claim's queries, one after another (?1 destination, ?2 now, ?3 how many more): what each
// hands out is added to `items`, as claimed, and the SQLite steps they took to `steps`.
struct ClaimQuery {
  sqlite3* db;
  std::string_view destination;
  int64_t now_ms;
  size_t limit;
  std::vector<OutboxItem> items;
  uint64_t steps = 0;

  // False when the budget (0: none) ran out first; nothing of that query is kept then.
  Result<bool> Run(const std::string& sql, int budget_ticks) {
    Statement select(db, sql.c_str());
    if (!select.ok()) return SqlError(db, "prepare");
    select.Text(1, destination);
    sqlite3_bind_int64(select.get(), 2, now_ms);
    sqlite3_bind_int64(select.get(), 3, static_cast<sqlite3_int64>(limit - items.size()));
    const size_t before = items.size();
    int ticks_left = budget_ticks;
    if (budget_ticks > 0) sqlite3_progress_handler(db, kStepsPerTick, OverBudget, &ticks_left);
    Result<bool> finished = Read(select);
    sqlite3_progress_handler(db, 0, nullptr, nullptr);
    steps += static_cast<uint64_t>(sqlite3_stmt_status(select.get(), SQLITE_STMTSTATUS_VM_STEP, 0));
    if (!finished.ok() || !*finished) items.resize(before);
    return finished;
  }

  Result<bool> Read(Statement& select) {
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      KETAMINE_ASSIGN_OR_RETURN(OutboxItem item, ReadItem(select));
      item.outcome_unknown = item.state == OutboxState::kSending;
      item.state = OutboxState::kSending;
      ++item.attempts;
      items.push_back(std::move(item));
    }
    if (rc == SQLITE_INTERRUPT) return false;
    if (rc != SQLITE_DONE) return SqlError(db, "claim");
    return true;
  }
};

}  // namespace

Result<std::vector<OutboxItem>> SqliteStore::MarkDeliveredAndClaim(const std::vector<int64_t>& delivered,
                                                                   std::string_view destination, int64_t now_ms,
                                                                   size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  if (delivered.empty()) {
    // Nothing to record: look without the write lock first. A worker is woken by every group that
    // queued for it, and the store's writer waits for that lock (in SQLite's busy handler, 1 ms and
    // more) whenever a claim holds it. The look asks for one item only (each item read is its
    // payload read and unpacked); the claim under the lock looks again for all it may take
    // (another process, the outbox command, may have changed the outbox in between).
    auto found = FindClaimable(destination, now_ms, 1);
    if (!found.ok() || found->empty()) return found;
  }
  KETAMINE_RETURN_IF_ERROR(Exec(outbox_, "BEGIN IMMEDIATE;"));
  Status marked = MarkDeliveredInTransaction(delivered, now_ms);
  auto items = marked.ok() ? ClaimInTransaction(destination, now_ms, limit) : Result<std::vector<OutboxItem>>(marked);
  if (!items.ok()) {
    Exec(outbox_, "ROLLBACK;").ok();
    return items.status();
  }
  KETAMINE_RETURN_IF_ERROR(Exec(outbox_, "COMMIT;"));
  return items;
}

Status SqliteStore::MarkDeliveredInTransaction(const std::vector<int64_t>& ids, int64_t now_ms) {
  if (ids.empty()) return Status::Ok();
  Statement mark(outbox_, "UPDATE outbox SET state = 'delivered', delivered_ms = ?2, last_error = '' WHERE id = ?1");
  if (!mark.ok()) return SqlError(outbox_, "prepare");
  for (int64_t id : ids) {
    sqlite3_reset(mark.get());
    sqlite3_bind_int64(mark.get(), 1, id);
    sqlite3_bind_int64(mark.get(), 2, now_ms);
    if (sqlite3_step(mark.get()) != SQLITE_DONE) return SqlError(outbox_, "delivered");
  }
  return Status::Ok();
}

Result<std::vector<OutboxItem>> SqliteStore::FindClaimable(std::string_view destination, int64_t now_ms,
                                                           size_t limit) {
  // Items left "sending" (the gateway stopped while they were out: outcome unknown) go first;
  // then the due pending items that are the oldest undelivered of their partition, asked two ways.
  // Item by item, oldest first: cheap while most items are due (a destination that keeps up, many
  // patients), but it reads every item queued behind a head that waits for its retry. So it runs on
  // a budget of steps (a claim of 128 items to a healthy destination takes a few thousand), and past
  // it the claim walks the undelivered index from partition to partition instead, one seek each,
  // reading each one's oldest item only: the cost of the patients, not of their backlog. (The walk
  // alone costs every claim a seek per waiting patient: with 2,000, deliveries fell ~15-25 %.)
  // The statements' text is put together once; every claim of every worker asks them.
  static const std::string unknown_sql = std::string("SELECT ") + kOutboxColumns + kOutboxJoin +
                                  "WHERE o.destination = ?1 AND o.state = 'sending' ORDER BY o.id LIMIT ?3";
  static const std::string due_sql = std::string("SELECT ") + kOutboxColumns + kOutboxJoin +
                              "WHERE o.destination = ?1 AND o.state = 'pending' AND o.next_attempt_ms <= ?2 AND "
                              "NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination = o.destination AND "
                              "e.partition = o.partition AND e.state IN ('pending', 'sending') AND e.id < o.id) "
                              "ORDER BY o.id LIMIT ?3";
  static const std::string heads_sql =
      std::string("WITH RECURSIVE parts(p) AS (SELECT (SELECT min(partition) FROM outbox WHERE destination = ?1 AND "
                  "state IN ('pending', 'sending')) UNION ALL SELECT (SELECT min(partition) FROM outbox WHERE "
                  "destination = ?1 AND state IN ('pending', 'sending') AND partition > parts.p) FROM parts WHERE "
                  "parts.p IS NOT NULL) SELECT ") +
      kOutboxColumns +
      " FROM parts JOIN outbox o ON o.id = (SELECT min(h.id) FROM outbox h WHERE h.destination = ?1 AND "
      "h.state IN ('pending', 'sending') AND h.partition = parts.p) JOIN outbox_payload p ON p.id = o.id "
      "WHERE o.state = 'pending' AND o.next_attempt_ms <= ?2 ORDER BY o.id LIMIT ?3";
  constexpr int kDueBudgetTicks = 20;  // x kStepsPerTick
  ClaimQuery query{outbox_, destination, now_ms, limit, {}, 0};
  KETAMINE_RETURN_IF_ERROR(query.Run(unknown_sql, 0).status());
  if (query.items.size() < limit) {
    KETAMINE_ASSIGN_OR_RETURN(bool finished, query.Run(due_sql, kDueBudgetTicks));
    if (!finished) {
      KETAMINE_RETURN_IF_ERROR(query.Run(heads_sql, 0).status());
    }
  }
  claim_steps_.store(query.steps, std::memory_order_relaxed);
  return std::move(query.items);
}

Result<std::vector<OutboxItem>> SqliteStore::ClaimInTransaction(std::string_view destination, int64_t now_ms,
                                                                size_t limit) {
  KETAMINE_ASSIGN_OR_RETURN(std::vector<OutboxItem> items, FindClaimable(destination, now_ms, limit));
  if (items.empty()) return items;
  std::sort(items.begin(), items.end(), [](const OutboxItem& x, const OutboxItem& y) { return x.id < y.id; });
  Statement mark(outbox_, "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1");
  if (!mark.ok()) return SqlError(outbox_, "prepare");
  for (const OutboxItem& item : items) {
    sqlite3_reset(mark.get());
    sqlite3_bind_int64(mark.get(), 1, item.id);
    if (sqlite3_step(mark.get()) != SQLITE_DONE) return SqlError(outbox_, "claim");
  }
  return items;
}

Status SqliteStore::MarkRetry(int64_t id, int64_t next_attempt_ms, std::string_view error) {
  std::lock_guard lock(outbox_mutex_);
  Statement mark(outbox_, "UPDATE outbox SET state = 'pending', next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1");
  sqlite3_bind_int64(mark.get(), 1, id);
  sqlite3_bind_int64(mark.get(), 2, next_attempt_ms);
  mark.Text(3, error);
  return sqlite3_step(mark.get()) == SQLITE_DONE ? Status::Ok() : SqlError(outbox_, "retry");
}

Status SqliteStore::Unclaim(int64_t id) {
  std::lock_guard lock(outbox_mutex_);
  Statement mark(outbox_, "UPDATE outbox SET state = 'pending', attempts = MAX(attempts - 1, 0) WHERE id = ?1 AND "
                          "state = 'sending'");
  sqlite3_bind_int64(mark.get(), 1, id);
  return sqlite3_step(mark.get()) == SQLITE_DONE ? Status::Ok() : SqlError(outbox_, "unclaim");
}

Status SqliteStore::MarkDead(int64_t id, std::string_view error) {
  std::lock_guard lock(outbox_mutex_);
  Statement mark(outbox_, "UPDATE outbox SET state = 'dead', last_error = ?2 WHERE id = ?1");
  sqlite3_bind_int64(mark.get(), 1, id);
  mark.Text(2, error);
  return sqlite3_step(mark.get()) == SQLITE_DONE ? Status::Ok() : SqlError(outbox_, "dead");
}

Result<std::vector<OutboxItem>> SqliteStore::ListOutbox(std::string_view destination, OutboxState state, size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  std::string sql = std::string("SELECT ") + kOutboxColumns + kOutboxJoin +
                    "WHERE (?1 = '' OR o.destination = ?1) AND o.state = ?2 ORDER BY o.id LIMIT ?3";
  Statement select(outbox_, sql.c_str());
  if (!select.ok()) return SqlError(outbox_, "prepare");
  select.Text(1, destination);
  select.Text(2, OutboxStateName(state));
  sqlite3_bind_int64(select.get(), 3, static_cast<sqlite3_int64>(limit));
  return ReadItems(outbox_, select);
}

Result<std::vector<OutboxItem>> SqliteStore::OutboxOfMessage(int64_t message_id) {
  std::lock_guard lock(outbox_mutex_);
  Statement select(outbox_, (std::string("SELECT ") + kOutboxColumns + kOutboxJoin + "WHERE o.message_id = ?1 ORDER BY o.id").c_str());
  if (!select.ok()) return SqlError(outbox_, "prepare");
  sqlite3_bind_int64(select.get(), 1, message_id);
  return ReadItems(outbox_, select);
}

Result<ReplayOutcome> SqliteStore::Replay(const ReplaySelection& which) {
  std::lock_guard lock(outbox_mutex_);
  KETAMINE_RETURN_IF_ERROR(Exec(outbox_, "BEGIN IMMEDIATE;"));
  auto run = [&]() -> Result<ReplayOutcome> {
    Statement dead(outbox_, internal::DeadLettersSql(which));
    Statement later(outbox_, internal::kSentAfterSql);
    Statement requeue(outbox_, internal::kRequeueSql);
    if (!dead.ok() || !later.ok() || !requeue.ok()) return SqlError(outbox_, "prepare");
    if (which.id > 0) {
      sqlite3_bind_int64(dead.get(), 1, which.id);
    } else if (!which.destination.empty()) {
      dead.Text(1, which.destination);
    }
    // Read whole before any is changed (the updates move rows out of the range being read).
    struct Dead {
      int64_t id;
      std::string destination;
      std::string partition;
    };
    std::vector<Dead> found;
    int rc;
    while ((rc = sqlite3_step(dead.get())) == SQLITE_ROW) {
      found.push_back({sqlite3_column_int64(dead.get(), 0), dead.Column(1), dead.Column(2)});
    }
    if (rc != SQLITE_DONE) return SqlError(outbox_, "replay");
    ReplayOutcome out;
    for (Dead& d : found) {
      if (!which.force) {
        sqlite3_reset(later.get());
        later.Text(1, d.destination);
        sqlite3_bind_int64(later.get(), 2, d.id);
        later.Text(3, d.partition);
        const int step = sqlite3_step(later.get());
        if (step == SQLITE_ROW) {
          out.held.push_back({d.id, std::move(d.destination), sqlite3_column_int64(later.get(), 0)});
          continue;
        }
        if (step != SQLITE_DONE) return SqlError(outbox_, "replay");
      }
      sqlite3_reset(requeue.get());
      sqlite3_bind_int64(requeue.get(), 1, d.id);
      if (sqlite3_step(requeue.get()) != SQLITE_DONE) return SqlError(outbox_, "replay");
      out.replayed.emplace_back(d.id, std::move(d.destination));
    }
    KETAMINE_RETURN_IF_ERROR(internal::FoundDeadLetter(which, out));
    return out;
  };
  auto out = run();
  if (Status s = Exec(outbox_, out.ok() ? "COMMIT;" : "ROLLBACK;"); !s.ok() && out.ok()) return s;
  return out;
}

Result<OutboxStats> SqliteStore::Stats(std::string_view destination) {
  std::lock_guard lock(outbox_mutex_);
  // Counts from the state index alone; the oldest undelivered item is the lowest id (ids grow
  // with time), found by the index too.
  Statement counts(outbox_, "SELECT state, count(*), min(id) FROM outbox WHERE destination = ?1 GROUP BY state");
  if (!counts.ok()) return SqlError(outbox_, "prepare");
  counts.Text(1, destination);
  OutboxStats stats;
  int64_t oldest_id = 0;
  int rc;
  while ((rc = sqlite3_step(counts.get())) == SQLITE_ROW) {
    internal::AddStateCount(stats, oldest_id, counts.Column(0), sqlite3_column_int64(counts.get(), 1),
                            sqlite3_column_int64(counts.get(), 2));
  }
  if (rc != SQLITE_DONE) return SqlError(outbox_, "stats");
  if (oldest_id != 0) {
    Statement created(outbox_, "SELECT created_ms FROM outbox WHERE id = ?1");
    sqlite3_bind_int64(created.get(), 1, oldest_id);
    if (sqlite3_step(created.get()) == SQLITE_ROW) stats.oldest_pending_ms = sqlite3_column_int64(created.get(), 0);
  }
  return stats;
}

Result<int64_t> SqliteStore::PruneDelivered(int64_t delivered_before_ms, size_t limit) {
  std::lock_guard lock(outbox_mutex_);
  KETAMINE_RETURN_IF_ERROR(Exec(outbox_, "BEGIN IMMEDIATE;"));
  // Oldest first by id (ids grow with time); the payload goes with its row.
  const char* sql[] = {
      "CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY)",
      "DELETE FROM prune_ids",
      "INSERT INTO prune_ids SELECT id FROM outbox WHERE state = 'delivered' AND delivered_ms < ?1 ORDER BY id LIMIT ?2",
      "DELETE FROM outbox_payload WHERE id IN (SELECT id FROM prune_ids)",
      "DELETE FROM outbox WHERE id IN (SELECT id FROM prune_ids)"};
  int64_t removed = 0;
  for (const char* statement : sql) {
    Statement step(outbox_, statement);
    if (!step.ok()) {
      Exec(outbox_, "ROLLBACK;").ok();
      return SqlError(outbox_, "prune");
    }
    if (sqlite3_bind_parameter_count(step.get()) == 2) {
      sqlite3_bind_int64(step.get(), 1, delivered_before_ms);
      sqlite3_bind_int64(step.get(), 2, static_cast<sqlite3_int64>(limit));
    }
    if (sqlite3_step(step.get()) != SQLITE_DONE) {
      Exec(outbox_, "ROLLBACK;").ok();
      return SqlError(outbox_, "prune");
    }
    if (std::string_view(statement).rfind("DELETE FROM outbox ", 0) == 0) removed = sqlite3_changes(outbox_);
  }
  KETAMINE_RETURN_IF_ERROR(Exec(outbox_, "COMMIT;"));
  return removed;
}

}  // namespace ketamine::store
