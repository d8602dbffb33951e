#include "http/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace ketamine::http {
namespace {

// Counts finished jobs; waits until `n` have run or two seconds pass.
class Finished {
 public:
  void One() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(2), [&] { return count_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

TEST(RunLater, RunsTheJobOnThePoolNotTheCaller) {
  Finished finished;
  std::thread::id ran_on;
  RunLater([&] {
    ran_on = std::this_thread::get_id();
    finished.One();
  });
  ASSERT_TRUE(finished.WaitFor(1));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(RunLater, AThrowingJobEndsNothingAndLaterJobsRun) {
  Finished finished;
  RunLater([&] {
    finished.One();
    throw std::runtime_error("handler failed");
  });
  RunLater([&] {
    finished.One();
    throw 42;  // not a std::exception either
  });
  for (int i = 0; i < 100; ++i) RunLater([&] { finished.One(); });
  EXPECT_TRUE(finished.WaitFor(102));
}

}  // namespace
}  // namespace ketamine::http
