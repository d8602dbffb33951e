#include "hl7v2/batch.h"

#include <gtest/gtest.h>

namespace ketamine::hl7v2 {
namespace {

TEST(BatchTest, FhsBhsBatch) {
  std::string text =
      "FHS|^~\\&|CLINIC\rBHS|^~\\&|CLINIC\r"
      "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5.1\rOBX|1|NM|72514-3^^LN||6\r"
      "MSH|^~\\&|A|B|C|D|1||ORU^R01|2|P|2.5.1\rOBX|1|NM|72514-3^^LN||4\r"
      "BTS|2\rFTS|1\r";
  auto batch = ParseBatch(text);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->messages.size(), 2u);
  EXPECT_EQ(batch->messages[1].ControlId(), "2");
  EXPECT_EQ(batch->messages[1].Get("OBX-5"), "4");
  EXPECT_EQ(batch->file_header, "FHS|^~\\&|CLINIC");
  EXPECT_EQ(batch->batch_trailer, "BTS|2");
  EXPECT_EQ(Serialize(batch->messages[0]), batch->raw_messages[0]);
}

TEST(BatchTest, PlainFileWithSeveralMessagesAndNewlines) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5\nPID|1\n\nMSH|^~\\&|A|B|C|D|1||ADT^A08|2|P|2.5\n";
  auto batch = ParseBatch(text);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->messages.size(), 2u);
  EXPECT_EQ(batch->messages[1].TriggerEvent(), "A08");
}

TEST(BatchTest, WrongCountIsAnError) {
  auto batch = ParseBatch("BHS|^~\\&\rMSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5\rBTS|3\r");
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().location().ToString(), "BTS-1");
}

TEST(BatchTest, ErrorsNameTheMessage) {
  auto batch = ParseBatch("MSH|^~\\&|A\rMSH|^~\\&|B\rpid|1\r");
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("message 2"), std::string::npos);
  EXPECT_FALSE(ParseBatch("PID|1\r").ok());
  EXPECT_FALSE(ParseBatch("").ok());
}

}  // namespace
}  // namespace ketamine::hl7v2
