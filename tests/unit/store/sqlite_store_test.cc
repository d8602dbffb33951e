#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "records.h"

namespace ketamine::store {
namespace {

using testing_records::Record;

class SqliteStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgw-store-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableNotSuccess) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto store = SqliteStore::Open(dir_, options);
  ASSERT_TRUE(store.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*store)->AppendAndWait(Record("C1"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  sqlite3_exec(other, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_TRUE((*store)->AppendAndWait(Record("C1")).ok());  // and it recovers
  EXPECT_EQ(*(*store)->Count(), 1);
}

// The store's contract (appends, resources, search, outbox) is in store_contract_test.cc, run
// against SQLite and PostgreSQL; here what is SQLite's own.

constexpr int64_t kNow = 4102444800000;  // claims look from 2100 on

TEST_F(SqliteStoreTest, AnOutboxOfTheOldLayoutIsMovedOnOpen) {
  // Version 3 kept the payload in the outbox row.
  ASSERT_TRUE(SqliteStore::Open(dir_).ok());
  ASSERT_TRUE((*SqliteStore::Open(dir_))->AppendAndWait(Record("C1")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &db), SQLITE_OK);
  const char* old = R"sql(
DROP TABLE outbox_payload;
DROP TABLE outbox;
CREATE TABLE outbox (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL REFERENCES inbound_messages (id),
  destination TEXT NOT NULL, partition TEXT NOT NULL, content_type TEXT NOT NULL, payload BLOB NOT NULL,
  idempotency_key TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL, last_error TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
  delivered_ms INTEGER);
INSERT INTO outbox VALUES (7, 1, 'registry', 'Patient/a', 'application/fhir+json', '{"old":true}', 'k7', 'pending',
  0, 0, '', 5, NULL);
PRAGMA user_version = 3;
)sql";
  ASSERT_EQ(sqlite3_exec(db, old, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto items = (*store)->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(items.ok()) << items.status().message();
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].id, 7);
  EXPECT_EQ((*items)[0].write.payload, R"({"old":true})");
}

TEST_F(SqliteStoreTest, UnwritableFolderIsAnError) {
  auto store = SqliteStore::Open("/proc/kgw-cannot-be-created");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace ketamine::store
