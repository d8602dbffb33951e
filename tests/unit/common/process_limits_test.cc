#include "common/process_limits.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace ketamine {
namespace {

TEST(ProcessLimits, TheSoftLimitOfOpenFilesIsRaisedToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max < 512) GTEST_SKIP() << "a hard limit of " << before.rlim_max << " leaves nothing to raise";
  rlimit lowered = before;
  lowered.rlim_cur = 256;  // as a service manager might start the gateway
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const uint64_t now = RaiseOpenFileLimit();
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(now, static_cast<uint64_t>(after.rlim_cur));
  EXPECT_EQ(after.rlim_cur, std::min<rlim_t>(before.rlim_max, 1 << 20));
  EXPECT_EQ(after.rlim_max, before.rlim_max);
  EXPECT_EQ(RaiseOpenFileLimit(), now);  // once raised, nothing more to do
  setrlimit(RLIMIT_NOFILE, &before);
}

}  // namespace
}  // namespace ketamine
