#include "inbox/inbox.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "common/file.h"

namespace ketamine::inbox {
namespace {

namespace fs = std::filesystem;

class InboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kgw-inbox-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name, std::ios::binary) << text; }
  std::unique_ptr<Inboxes> Start(InboxOptions options = {}) {
    options.name = "chairs";
    options.folder = dir_;
    options.layout = "pain-vitals";
    auto started = Inboxes::Start({options}, [this](const InboxOptions& box, std::string bytes) {
      EXPECT_EQ(box.layout, "pain-vitals");
      imported_.push_back(bytes);
      if (bytes.find("busy") != std::string::npos) return ImportResult{Verdict::kRetry, "", 503};
      if (bytes.find("bad") != std::string::npos) return ImportResult{Verdict::kRefused, R"({"refused":true})", 422};
      return ImportResult{Verdict::kStored, R"({"stored":true})", 200};
    }, /*run=*/false);
    EXPECT_TRUE(started.ok()) << started.status().message();
    return std::move(*started);
  }
  fs::path dir_;
  std::vector<std::string> imported_;
};

TEST_F(InboxTest, AFileIsTakenOnceItStoppedChangingAndMovedWithItsOutcome) {
  auto inbox = Start();
  ASSERT_TRUE(fs::is_directory(dir_ / "done") && fs::is_directory(dir_ / "failed"));
  Write("2026-11-23.csv", "mrn\nMRN-1\n");
  inbox->PollOnce();  // first seen: it may still be being written
  EXPECT_TRUE(imported_.empty());
  std::ofstream(dir_ / "2026-11-23.csv", std::ios::app) << "MRN-2\n";  // it was
  inbox->PollOnce();
  EXPECT_TRUE(imported_.empty());
  inbox->PollOnce();  // unchanged since the last look
  ASSERT_EQ(imported_.size(), 1u);
  EXPECT_EQ(imported_[0], "mrn\nMRN-1\nMRN-2\n");
  EXPECT_FALSE(fs::exists(dir_ / "2026-11-23.csv"));
  EXPECT_TRUE(fs::exists(dir_ / "done" / "2026-11-23.csv"));
  EXPECT_EQ(*ReadFile(dir_ / "done" / "2026-11-23.csv.outcome.json"), R"({"stored":true})");
  EXPECT_EQ(inbox->counters(0).stored.load(), 1u);
  inbox->PollOnce();
  EXPECT_EQ(imported_.size(), 1u) << "taken once";
}

TEST_F(InboxTest, RefusedFilesGoToFailedAndBusyOnesStayForTheNextLook) {
  auto inbox = Start();
  Write("a-bad.csv", "bad rows\n");
  Write("b-busy.csv", "busy store\n");
  Write("c.CSV", "fine\n");
  Write(".d.csv.tmp", "being written\n");
  Write("notes.txt", "not an export\n");
  inbox->PollOnce();
  inbox->PollOnce();
  ASSERT_EQ(imported_.size(), 3u);  // in name order; the hidden and the .txt are not taken
  EXPECT_EQ(imported_[0], "bad rows\n");
  EXPECT_EQ(imported_[1], "busy store\n");
  EXPECT_EQ(imported_[2], "fine\n");
  EXPECT_TRUE(fs::exists(dir_ / "failed" / "a-bad.csv"));
  EXPECT_EQ(*ReadFile(dir_ / "failed" / "a-bad.csv.outcome.json"), R"({"refused":true})");
  EXPECT_TRUE(fs::exists(dir_ / "b-busy.csv")) << "left for the next look";
  EXPECT_TRUE(fs::exists(dir_ / "done" / "c.CSV"));
  EXPECT_TRUE(fs::exists(dir_ / ".d.csv.tmp") && fs::exists(dir_ / "notes.txt"));
  inbox->PollOnce();
  EXPECT_EQ(imported_.size(), 4u);
  EXPECT_EQ(imported_[3], "busy store\n");
  EXPECT_EQ(inbox->counters(0).refused.load(), 1u);
  EXPECT_EQ(inbox->counters(0).retried.load(), 2u);
  EXPECT_NE(inbox->PrometheusText().find(R"(ketamine_inbox_files_total{inbox="chairs",outcome="retried"} 2)"), std::string::npos);
}

TEST_F(InboxTest, TheSameNameAgainKeepsBothAndTooLargeIsRefusedUnread) {
  InboxOptions small;
  small.max_bytes = 10;
  auto inbox = Start(small);
  Write("export.csv", "first\n");
  inbox->PollOnce();
  inbox->PollOnce();
  Write("export.csv", "second\n");
  inbox->PollOnce();
  inbox->PollOnce();
  ASSERT_EQ(imported_.size(), 2u);
  size_t in_done = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "done")) in_done += e.path().extension() == ".csv";
  EXPECT_EQ(in_done, 2u) << "the second is kept beside the first, not over it";
  Write("huge.csv", "more than ten bytes\n");
  inbox->PollOnce();
  inbox->PollOnce();
  EXPECT_EQ(imported_.size(), 2u) << "not handed to the importer";
  EXPECT_TRUE(fs::exists(dir_ / "failed" / "huge.csv"));
  EXPECT_NE(ReadFile(dir_ / "failed" / "huge.csv.outcome.json")->find("over the inbox's max_bytes of 10"), std::string::npos);
}

TEST_F(InboxTest, TheThreadPollsAndStopsPromptly) {
  InboxOptions options;
  options.name = "chairs";
  options.folder = dir_;
  options.layout = "pain-vitals";
  options.poll_ms = 20;
  std::atomic<int> calls{0};
  auto started = Inboxes::Start({options}, [&](const InboxOptions&, std::string) {
    ++calls;
    return ImportResult{Verdict::kStored, "", 200};
  });
  ASSERT_TRUE(started.ok());
  Write("x.csv", "x\n");
  for (int i = 0; i < 200 && calls.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(calls.load(), 1);
  const auto before = std::chrono::steady_clock::now();
  (*started)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
}

TEST_F(InboxTest, EachInboxIsLookedAtEveryPollMsOfItsOwn) {
  InboxOptions fast, slow;
  fast.name = "fast";
  fast.folder = dir_ / "fast";
  fast.poll_ms = 20;
  slow.name = "slow";
  slow.folder = dir_ / "slow";
  slow.poll_ms = 3600000;  // once at start, then in an hour
  std::mutex mutex;
  std::vector<std::string> taken;
  auto started = Inboxes::Start({fast, slow}, [&](const InboxOptions& box, std::string) {
    std::lock_guard lock(mutex);
    taken.push_back(box.name);
    return ImportResult{Verdict::kStored, "", 200};
  });
  ASSERT_TRUE(started.ok());
  std::ofstream(dir_ / "slow" / "s.csv") << "s\n";
  std::ofstream(dir_ / "fast" / "f.csv") << "f\n";
  auto count = [&] {
    std::lock_guard lock(mutex);
    return taken.size();
  };
  for (int i = 0; i < 500 && count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // five more looks at the fast one
  (*started)->Stop();
  ASSERT_EQ(taken, std::vector<std::string>{"fast"});
  EXPECT_TRUE(fs::exists(dir_ / "slow" / "s.csv")) << "the slow inbox was not looked at again";
}

TEST_F(InboxTest, AFolderThatCannotBeMadeIsAnErrorNamingIt) {
  std::ofstream(dir_.string() + "-file") << "a file, not a folder";
  InboxOptions options;
  options.name = "x";
  options.folder = dir_.string() + "-file";
  auto started = Inboxes::Start({options}, [](const InboxOptions&, std::string) { return ImportResult{}; }, false);
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("inbox x: cannot make the folder"), std::string::npos);
  fs::remove(dir_.string() + "-file");
}

}  // namespace
}  // namespace ketamine::inbox
