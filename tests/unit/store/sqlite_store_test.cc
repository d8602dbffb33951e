#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace ketamine::store {
namespace {

class SqliteStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgw-store-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static InboundRecord Record(std::string control_id, MessageStatus status = MessageStatus::kAccepted) {
    InboundRecord r;
    r.received_at = "2026-11-23T10:00:00.000Z";
    r.listener = "mllp";
    r.sending_application = "PHARM";
    r.sending_facility = "CLINIC";
    r.control_id = std::move(control_id);
    r.message_type = "RDE^O11";
    r.version = "2.5.1";
    r.status = status;
    r.raw = "MSH|^~\\&|PHARM|CLINIC|||1||RDE^O11|" + r.control_id + "|P|2.5.1\r";
    r.replies = {"MSH|ack1\r", "MSH|ack2\r"};
    return r;
  }

  std::filesystem::path dir_;
};

TEST_F(SqliteStoreTest, AppendsAndLists) {
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto first = (*store)->AppendAndWait(Record("C1"));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  auto list = (*store)->List(0, 10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].record.control_id, "C1");
  EXPECT_EQ((*list)[0].record.replies.size(), 2u);
  EXPECT_EQ((*list)[0].record.replies[1], "MSH|ack2\r");
}

TEST_F(SqliteStoreTest, SameControlIdFromTheSameSenderIsStoredOnce) {
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  auto a = (*store)->AppendAndWait(Record("C1"));
  auto b = (*store)->AppendAndWait(Record("C1"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->id, a->id);
  EXPECT_EQ(b->replies, (std::vector<std::string>{"MSH|ack1\r", "MSH|ack2\r"}));
  InboundRecord other = Record("C1");
  other.sending_facility = "OTHER";
  EXPECT_FALSE((*store)->AppendAndWait(other)->duplicate);
  EXPECT_EQ(*(*store)->Count(), 2);
}

TEST_F(SqliteStoreTest, RejectedMessagesDoNotHoldTheControlId) {
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->AppendAndWait(Record("C1", MessageStatus::kRejected))->duplicate);
  EXPECT_FALSE((*store)->AppendAndWait(Record("C1", MessageStatus::kRejected))->duplicate);
  EXPECT_FALSE((*store)->AppendAndWait(Record("C1"))->duplicate);
  EXPECT_TRUE((*store)->AppendAndWait(Record("C1"))->duplicate);
}

TEST_F(SqliteStoreTest, ConcurrentAppendsAreGroupedIntoFewerCommits) {
  auto opened = SqliteStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  SqliteStore& store = **opened;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store.AppendAndWait(Record("T" + std::to_string(t) + "-" + std::to_string(i)));
        if (r.ok() && !r->duplicate) ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(*store.Count(), kThreads * kPerThread);
  EXPECT_LT(store.commits(), static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(SqliteStoreTest, SurvivesReopen) {
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AppendAndWait(Record("C1")).ok());
  }
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->Count(), 1);
  EXPECT_TRUE((*store)->AppendAndWait(Record("C1"))->duplicate);
}

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

// Outbox items are due from their creation time (the real clock); claims look from 2100 on.
constexpr int64_t kNow = 4102444800000;
constexpr int64_t kLater = kNow + 5000;

InboundRecord Queued(std::string control_id, std::vector<std::pair<std::string, std::string>> partitions_and_payloads) {
  InboundRecord r;
  r.received_at = "2026-11-23T10:00:00.000Z";
  r.listener = "mllp";
  r.sending_application = "PHARM";
  r.sending_facility = "CLINIC";
  r.control_id = control_id;
  r.message_type = "RDE^O11";
  r.raw = "MSH|^~\\&|PHARM|CLINIC|||1||RDE^O11|" + control_id + "|P|2.5.1\r";
  ResourceWrite w;
  w.type = "Patient";
  w.id = "p-" + control_id;
  w.json = R"({"resourceType":"Patient"})";
  r.resources.push_back(w);
  for (auto& [partition, payload] : partitions_and_payloads) {
    r.outbox.push_back({"registry", partition, "application/fhir+json", payload, "PHARM|CLINIC|" + control_id});
  }
  return r;
}

std::vector<std::string> Payloads(const std::vector<OutboxItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.write.payload);
  return out;
}

TEST_F(SqliteStoreTest, ClaimHandsOutTheOldestItemOfEachPartitionOnly) {
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  auto& s = **store;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M2", {{"Patient/b", "b1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M3", {{"Patient/a", "a2"}})).ok());
  auto first = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Payloads(*first), (std::vector<std::string>{"a1", "b1"}));
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_FALSE((*first)[0].outcome_unknown);
  // While a1 is out, a2 waits; b1 is out too: nothing more to hand out.
  EXPECT_TRUE(s.ClaimOutbox("registry", kNow, 10)->size() == 2);  // both still "sending": handed out again
  ASSERT_TRUE(s.MarkDelivered({(*first)[0].id, (*first)[1].id}, kNow).ok());
  auto second = s.ClaimOutbox("registry", kNow, 10);
  EXPECT_EQ(Payloads(*second), (std::vector<std::string>{"a2"}));
  // A retry due later holds back its partition; the limit is honoured.
  ASSERT_TRUE(s.MarkRetry((*second)[0].id, kLater, "HTTP 503").ok());
  EXPECT_TRUE(s.ClaimOutbox("registry", kNow, 10)->empty());
  auto due = s.ClaimOutbox("registry", kLater, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2);
  EXPECT_EQ((*due)[0].last_error, "HTTP 503");
  EXPECT_TRUE(s.ClaimOutbox("other", kLater, 10)->empty());
}

TEST_F(SqliteStoreTest, AnItemLeftSendingGoesAgainAsOutcomeUnknown) {
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
    ASSERT_EQ((*store)->ClaimOutbox("registry", kNow, 10)->size(), 1u);
  }  // stopped while a1 was out
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE((*store)->AppendAndWait(Queued("M2", {{"Patient/a", "a2"}, {"Patient/c", "c1"}})).ok());
  auto again = (*store)->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(Payloads(*again), (std::vector<std::string>{"a1", "c1"}));  // a2 still waits behind a1
  EXPECT_TRUE((*again)[0].outcome_unknown);
  EXPECT_EQ((*again)[0].attempts, 2);
  EXPECT_FALSE((*again)[1].outcome_unknown);
}

TEST_F(SqliteStoreTest, DeadLettersAreListedReplayedAndCounted) {
  auto store = SqliteStore::Open(dir_);
  auto& s = **store;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/b", "b1"}})).ok());
  auto items = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(items->size(), 2u);
  ASSERT_TRUE(s.MarkDead((*items)[0].id, "HTTP 422").ok());
  ASSERT_TRUE(s.MarkDelivered({(*items)[1].id}, kNow).ok());
  auto stats = s.Stats("registry");
  EXPECT_EQ(stats->pending, 0);
  EXPECT_EQ(stats->dead, 1);
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->oldest_pending_ms, 0);
  auto dead = s.ListOutbox("registry", OutboxState::kDead, 10);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].write.payload, "a1");
  EXPECT_EQ((*dead)[0].last_error, "HTTP 422");
  EXPECT_EQ(*s.Replay((*items)[0].id), "registry");
  EXPECT_EQ(s.Replay((*items)[1].id).status().code(), StatusCode::kNotFound);  // delivered, not dead
  stats = s.Stats("registry");
  EXPECT_EQ(stats->pending, 1);
  EXPECT_GT(stats->oldest_pending_ms, 0);
  auto replayed = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(replayed->size(), 1u);
  EXPECT_EQ((*replayed)[0].attempts, 1);
}

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
