#include "store/sqlite.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace ketamine::store {

Statement::Statement(sqlite3* db, const char* sql) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
}

Statement::~Statement() {
  if (kept_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

void Statement::Text(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void Statement::Blob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

void Statement::Int(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

std::string Statement::Column(int index) { return std::string(ColumnView(index)); }

int64_t Statement::ColumnInt(int index) { return sqlite3_column_int64(stmt_, index); }

std::string_view Statement::ColumnView(int index) {
  const void* data = sqlite3_column_blob(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  return data == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(data), static_cast<size_t>(size));
}

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

namespace {

// Waits for another connection's write lock in short steps. SQLite's own handler sleeps 1, 2, 5,
// 10 ... 100 ms between tries, so a connection that writes now and then (the outbox worker's claims)
// starves behind one that commits all the time (the group commits of a busy MLLP listener).
int BusyWait(void* timeout_ms, int tries) {
  thread_local std::chrono::steady_clock::time_point first;
  const auto now = std::chrono::steady_clock::now();
  if (tries == 0) first = now;
  if (now - first > std::chrono::milliseconds(reinterpret_cast<intptr_t>(timeout_ms))) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(tries < 20 ? 50 : tries < 100 ? 250 : 1000));
  return 1;
}

}  // namespace

Result<sqlite3*> OpenSqlite(const std::filesystem::path& file, const SqliteOptions& options) {
  // Memory statistics take a process-wide mutex on every allocation SQLite makes; nothing reads
  // them. Only possible before SQLite initialises, so once, before the first connection.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status status =
        Unavailable("cannot open " + file.string() + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return status;
  }
  // The timeout travels as the handler's argument itself: nothing to own or free.
  sqlite3_busy_handler(db, BusyWait, reinterpret_cast<void*>(static_cast<intptr_t>(options.busy_timeout_ms)));
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-" +
                        std::to_string(static_cast<int64_t>(options.cache_mib) * 1024) + "; PRAGMA journal_size_limit=" +
                        std::to_string(static_cast<int64_t>(options.wal_limit_mib) << 20) + "; PRAGMA synchronous=";
  pragmas += options.synchronous_full ? "FULL;" : "NORMAL;";
  if (Status s = Exec(db, pragmas.c_str()); !s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return db;
}

}  // namespace ketamine::store
