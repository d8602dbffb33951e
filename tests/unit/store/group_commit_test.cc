#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "records.h"

namespace ketamine::store {
namespace {

using testing_records::Record;

TEST(GroupCommitterTest, UpkeepAfterABatchRunsOnceItsAppendsWereAnswered) {
  std::mutex mutex;
  std::vector<std::string> events;
  auto note = [&](std::string event) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(event));
  };
  GroupCommitter committer(
      8,
      [&](const std::deque<PendingAppend>& batch) {
        note("commit " + std::to_string(batch.size()));
        return std::vector<Result<AppendOutcome>>(batch.size(), AppendOutcome{});
      },
      [&] { note("upkeep"); });
  std::promise<void> answered;
  committer.Append(Record("C1"), [&](Result<AppendOutcome> outcome) {
    EXPECT_TRUE(outcome.ok());
    note("answer C1");
    answered.set_value();
  });
  answered.get_future().wait();
  committer.Stop();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "commit 1");
  EXPECT_EQ(events[1], "answer C1");
  EXPECT_EQ(events[2], "upkeep");
}

}  // namespace
}  // namespace ketamine::store
