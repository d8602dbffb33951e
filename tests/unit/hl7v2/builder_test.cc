#include "hl7v2/builder.h"

#include <gtest/gtest.h>

namespace ketamine::hl7v2 {
namespace {

TEST(BuilderTest, BuildsEscapedSegmentsInOrder) {
  MessageBuilder b;
  ASSERT_TRUE(b.Set("MSH-9.1", "RDE").ok());
  ASSERT_TRUE(b.Set("MSH-9.2", "O11").ok());
  ASSERT_TRUE(b.Set("MSH-10", "X1").ok());
  ASSERT_TRUE(b.Set("MSH-12", "2.5.1").ok());
  ASSERT_TRUE(b.Set("PID-3(1).1", "MRN1").ok());
  ASSERT_TRUE(b.Set("PID-3(2).1", "A|B").ok());
  ASSERT_TRUE(b.Set("PID-5.1.2", "sub").ok());
  ASSERT_TRUE(b.Set("NTE-3", "5 mg ^ 10 mg").ok());
  ASSERT_TRUE(b.Set("NTE[2]-3", "second").ok());
  EXPECT_EQ(b.Build(),
            "MSH|^~\\&|||||||RDE^O11|X1||2.5.1\r"
            "PID|||MRN1~A\\F\\B||&sub\r"
            "NTE|||5 mg \\S\\ 10 mg\r"
            "NTE|||second\r");
}

TEST(BuilderTest, BuiltMessagesParse) {
  MessageBuilder b;
  ASSERT_TRUE(b.Set("MSH-9", "ACK").ok());
  ASSERT_TRUE(b.Set("MSA-1", "AA").ok());
  std::string wire = b.Build();
  auto msg = Parse(wire);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->Get("MSA-1"), "AA");
}

TEST(BuilderTest, RejectsBadPaths) {
  MessageBuilder b;
  EXPECT_FALSE(b.Set("MSH-1", "|").ok());
  EXPECT_FALSE(b.Set("OBX[2]-1", "x").ok());  // OBX[1] does not exist yet
  EXPECT_FALSE(b.Set("OBX", "x").ok());
  EXPECT_FALSE(b.Set("nope", "x").ok());
}

}  // namespace
}  // namespace ketamine::hl7v2
