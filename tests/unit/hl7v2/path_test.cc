#include "hl7v2/path.h"

#include <gtest/gtest.h>

namespace ketamine::hl7v2 {
namespace {

TEST(PathTest, ParsesTheNotationsEngineersUse) {
  auto p = ParsePath("PID-3(2).1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->segment, "PID");
  EXPECT_EQ(p->field, 3);
  EXPECT_EQ(p->repetition, 2);
  EXPECT_EQ(p->component, 1);
  p = ParsePath("OBX[2]-5");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->occurrence, 2);
  EXPECT_EQ(p->field, 5);
  p = ParsePath("RXE-23.1.2");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->component, 1);
  EXPECT_EQ(p->subcomponent, 2);
  EXPECT_EQ(ParsePath("PV1")->field, 0);
  EXPECT_EQ(ParsePath("OBX[2]-5(1).2")->ToString(), "OBX[2]-5(1).2");
}

TEST(PathTest, BadPathsAreErrors) {
  for (const char* bad : {"", "PI", "pid-3", "PID-0", "PID-", "PID-3(", "PID-3(0)", "PID[0]-1",
                          "PID-3x", "PID-3.1.2.3", "PID-999999999999"}) {
    auto p = ParsePath(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), StatusCode::kInvalidInput);
    }
  }
}

}  // namespace
}  // namespace ketamine::hl7v2
