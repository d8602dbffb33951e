#include "common/status.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/issue.h"

namespace ketamine {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return InvalidInput("odd", Location("n"));
  return n / 2;
}

Result<int> Quarter(int n) {
  KETAMINE_ASSIGN_OR_RETURN(int half, Half(n));
  KETAMINE_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(ResultTest, AssignOrReturnPassesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(r.status().location().ToString(), "n");
  EXPECT_EQ(r.status().ToString(), "invalid-input at n: odd");
}

TEST(IssuesTest, ErrorsAndWarnings) {
  Issues issues;
  issues.Warning("unit-normalised", Location("RXE-24"), "mg/kg/hr read as mg/kg/h");
  EXPECT_FALSE(issues.HasErrors());
  issues.Error("required-missing", Location("RXE-3"), "give amount is required");
  EXPECT_TRUE(issues.HasErrors());
  EXPECT_EQ(issues.items().back().ToString(), "error RXE-3: give amount is required");
}

TEST(ClockTest, DateTimesInUtc) {
  EXPECT_EQ(*DateTimeToUnixSeconds("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*DateTimeToUnixSeconds("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(*DateTimeToUnixSeconds("2026-11-23T13:05:00-05:00") - *DateTimeToUnixSeconds("2026-11-23T09:05:00-05:00"),
            4 * 3600);
  EXPECT_FALSE(DateTimeToUnixSeconds("2026-11-23T09:05:00").has_value());  // a time needs its offset
  EXPECT_FALSE(DateTimeToUnixSeconds("2026-11-23").has_value());
  EXPECT_EQ(*DateTimeToUtc("2026-11-23T09:05:00.250-05:00"), "2026-11-23T14:05:00Z");
  EXPECT_EQ(*DateTimeToUtc("2026-11-23T23:30:00-05:00"), "2026-11-24T04:30:00Z");
  EXPECT_EQ(*DateTimeToUtc("2026-11-23T09:05Z"), "2026-11-23T09:05:00Z");
  EXPECT_EQ(*DateTimeToUtc("2026-11"), "2026-11");
  for (const char* bad : {"", "2026-13", "2026-11-23T25:00:00Z", "2026-11-23 09:05:00Z", "2026-11-23T09:05:00+5:00",
                          "2026-11-23T09:05:00Zx", "2026-11-23T09:05:00."}) {
    EXPECT_FALSE(DateTimeToUtc(bad).has_value()) << bad;
  }
}

TEST(ClockTest, Hl7IsoAndHttpTimestamps) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795428824123));
  EXPECT_EQ(FormatHl7Timestamp(t), "20261123101344.123+0000");
  EXPECT_EQ(FormatIsoTimestamp(t), "2026-11-23T10:13:44.123Z");
  EXPECT_EQ(FormatHttpDate(t), "Mon, 23 Nov 2026 10:13:44 GMT");
  EXPECT_EQ(FormatHttpDate(std::chrono::system_clock::time_point(std::chrono::seconds(1772323200))),
            "Sun, 01 Mar 2026 00:00:00 GMT");
  EXPECT_EQ(HttpDateToUnixSeconds("Mon, 23 Nov 2026 10:13:44 GMT"), 1795428824);
  EXPECT_EQ(HttpDateToUnixSeconds("Sun, 01 Mar 2026 00:00:00 GMT"), 1772323200);
  for (const char* bad : {"", "Monday, 23-Nov-26 10:13:44 GMT", "Mon Nov 23 10:13:44 2026", "Mon, 23 Nov 2026 10:13:44 UTC",
                          "Mon, 23 Foo 2026 10:13:44 GMT", "Mon, 32 Nov 2026 10:13:44 GMT", "Mon, 23 Nov 2026 1x:13:44 GMT"}) {
    EXPECT_FALSE(HttpDateToUnixSeconds(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ketamine
