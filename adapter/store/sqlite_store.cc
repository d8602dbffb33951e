#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <future>

namespace ketamine::store {
namespace {

constexpr char kReplySeparator = 0x1C;  // never inside an HL7 v2 message (it ends MLLP frames)

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
  replies BLOB NOT NULL
);
-- MSH-10 is unique per sending application and facility; only accepted messages count, so a
-- rejected message can be corrected and sent again under the same control id.
CREATE UNIQUE INDEX IF NOT EXISTS inbound_messages_dedup
  ON inbound_messages (sending_application, sending_facility, control_id)
  WHERE control_id IS NOT NULL AND status = 'accepted';
PRAGMA user_version = 1;
)sql";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }
  void Text(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void Blob(int index, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  std::string Column(int index) {
    const void* data = sqlite3_column_blob(stmt_, index);
    int size = sqlite3_column_bytes(stmt_, index);
    return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), static_cast<size_t>(size));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

Status SqlError(sqlite3* db, std::string_view what) {
  return Unavailable(std::string(what) + ": " + sqlite3_errmsg(db));
}

Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string text = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return Unavailable(text);
  }
  return Status::Ok();
}

std::string JoinReplies(const std::vector<std::string>& replies) {
  std::string out;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (i > 0) out += kReplySeparator;
    out += replies[i];
  }
  return out;
}

std::vector<std::string> SplitReplies(std::string_view joined) {
  std::vector<std::string> out;
  if (joined.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t next = joined.find(kReplySeparator, start);
    out.emplace_back(joined.substr(start, next == std::string_view::npos ? next : next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  return out;
}

MessageStatus StatusFromName(std::string_view name) {
  if (name == "rejected") return MessageStatus::kRejected;
  if (name == "error") return MessageStatus::kError;
  return MessageStatus::kAccepted;
}

Result<sqlite3*> OpenConnection(const std::filesystem::path& file, const SqliteOptions& options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status status = Unavailable("cannot open " + file.string() + ": " +
                                (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return status;
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=";
  pragmas += options.synchronous_full ? "FULL;" : "NORMAL;";
  if (Status s = Exec(db, pragmas.c_str()); !s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return db;
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
  KETAMINE_ASSIGN_OR_RETURN(sqlite3 * writer, OpenConnection(file, options));
  if (Status s = Exec(writer, kSchema); !s.ok()) {
    sqlite3_close(writer);
    return s;
  }
  auto reader = OpenConnection(file, options);
  if (!reader.ok()) {
    sqlite3_close(writer);
    return reader.status();
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(writer, *reader, options));
}

SqliteStore::SqliteStore(sqlite3* writer, sqlite3* reader, SqliteOptions options)
    : writer_(writer), reader_(reader), options_(options) {
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_thread_.join();
  sqlite3_close(reader_);
  sqlite3_close(writer_);
}

void SqliteStore::Append(InboundRecord record, AppendCallback done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back({std::move(record), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(Unavailable("the store is shutting down"));
}

uint64_t SqliteStore::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

void SqliteStore::WriterLoop() {
  while (true) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued was written
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Result<AppendOutcome>> results = CommitBatch(batch);
    {
      std::lock_guard lock(mutex_);
      ++commits_;
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }
}

std::vector<Result<AppendOutcome>> SqliteStore::CommitBatch(const std::deque<Pending>& batch) {
  auto fail_all = [&](const Status& status) {
    Exec(writer_, "ROLLBACK;").ok();
    return std::vector<Result<AppendOutcome>>(batch.size(), Result<AppendOutcome>(status));
  };
  if (Status s = Exec(writer_, "BEGIN IMMEDIATE;"); !s.ok()) {
    return std::vector<Result<AppendOutcome>>(batch.size(), Result<AppendOutcome>(s));
  }
  Statement insert(writer_,
                   "INSERT OR IGNORE INTO inbound_messages (received_at, listener, "
                   "sending_application, sending_facility, control_id, message_type, version, "
                   "status, raw, replies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  Statement find(writer_,
                 "SELECT id, replies FROM inbound_messages WHERE sending_application = ?1 AND "
                 "sending_facility = ?2 AND control_id = ?3 AND status = 'accepted'");
  if (!insert.ok() || !find.ok()) return fail_all(SqlError(writer_, "prepare"));
  std::vector<Result<AppendOutcome>> results;
  results.reserve(batch.size());
  for (const Pending& pending : batch) {
    const InboundRecord& r = pending.record;
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
    insert.Blob(9, r.raw);
    insert.Blob(10, JoinReplies(r.replies));
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
    results.emplace_back(std::move(outcome));
  }
  if (Status s = Exec(writer_, "COMMIT;"); !s.ok()) return fail_all(s);
  return results;
}

Result<std::vector<StoredMessage>> SqliteStore::List(int64_t after_id, size_t limit) {
  std::lock_guard lock(reader_mutex_);
  Statement select(reader_,
                   "SELECT id, received_at, listener, sending_application, sending_facility, "
                   "control_id, message_type, version, status, raw, replies FROM "
                   "inbound_messages WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!select.ok()) return SqlError(reader_, "prepare");
  sqlite3_bind_int64(select.get(), 1, after_id);
  sqlite3_bind_int64(select.get(), 2, static_cast<sqlite3_int64>(limit));
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
    m.record.status = StatusFromName(select.Column(8));
    m.record.raw = select.Column(9);
    m.record.replies = SplitReplies(select.Column(10));
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "list");
  return out;
}

Result<int64_t> SqliteStore::Count() {
  std::lock_guard lock(reader_mutex_);
  Statement count(reader_, "SELECT COUNT(*) FROM inbound_messages");
  if (!count.ok() || sqlite3_step(count.get()) != SQLITE_ROW) return SqlError(reader_, "count");
  return static_cast<int64_t>(sqlite3_column_int64(count.get(), 0));
}

}  // namespace ketamine::store
