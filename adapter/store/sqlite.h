// Small helpers over the SQLite C API shared by the stores that keep their data in SQLite (the
// message store, the Schedule III ledger): statements that finalize themselves, errors as Status,
// connections opened the same way (WAL, foreign keys, synchronous FULL by default).
//   auto db = store::OpenSqlite(dir / "ledger.db", options);
//   store::Statement s(*db, "SELECT 1"); sqlite3_step(s.get());
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ketamine::store {

struct SqliteOptions {
  size_t max_batch = 512;         // appends per transaction at most (message store)
  int busy_timeout_ms = 2000;     // how long a write waits for another writer's lock
  bool synchronous_full = true;   // fsync at every commit: durable across power loss
  // Page cache of each connection, at most (SQLite's own default is 2 MiB). The message store's
  // writer touches the right edges of every table and index, the outbox, and the index of control
  // ids in every group; with 2 MiB it read pages back from the file in each one as the store grew.
  int cache_mib = 64;
  // The WAL is cut back to this size when a checkpoint has emptied it. Checkpoints keep it near
  // ~20 MB under load, but a reader holding an old snapshot (a long export) lets it grow without
  // bound meanwhile, and SQLite otherwise keeps a WAL file at its largest size until it closes.
  int wal_limit_mib = 64;
};

class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  // A statement the store keeps prepared (the writer's): reset, not finalized, when done.
  explicit Statement(sqlite3_stmt* kept) : stmt_(kept), kept_(true) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }
  void Text(int index, std::string_view text);
  void Blob(int index, std::string_view bytes);
  void Int(int index, int64_t value);
  std::string Column(int index);
  int64_t ColumnInt(int index);
  // A view of the column's bytes, valid until the next step.
  std::string_view ColumnView(int index);

 private:
  sqlite3_stmt* stmt_ = nullptr;
  bool kept_ = false;
};

// kUnavailable with SQLite's message for the connection's last error.
Status SqlError(sqlite3* db, std::string_view what);
Status Exec(sqlite3* db, const char* sql);
// Opens (creating) a database file in WAL mode with the options' busy timeout and sync level.
// Without SQLite's own lock around every call: each owner uses a connection from one thread at a
// time (a writer thread, or under the owner's mutex); the lock cost two atomic operations per
// column read.
Result<sqlite3*> OpenSqlite(const std::filesystem::path& file, const SqliteOptions& options);

}  // namespace ketamine::store
