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

TEST_F(SqliteStoreTest, UnwritableFolderIsAnError) {
  auto store = SqliteStore::Open("/proc/kgw-cannot-be-created");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace ketamine::store
