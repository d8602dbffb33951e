#include "hl7v2/ack.h"

#include <gtest/gtest.h>

namespace ketamine::hl7v2 {
namespace {

AckContext Context() {
  AckContext ctx;
  ctx.control_id = "GW0001";
  ctx.timestamp = "20261123101500+0000";
  return ctx;
}

TEST(AckTest, OriginalModeMirrorsTheHeader) {
  auto msg = Parse("MSH|^~\\&|PHARM|CLINIC|GW|HOSP|20261123||RDE^O11^RDE_O11|MSG7|P|2.5.1\r");
  ASSERT_TRUE(msg.ok());
  EXPECT_FALSE(IsEnhancedMode(*msg));
  EXPECT_TRUE(WantsApplicationAck(*msg, AckCode::kAA));
  std::string wire = BuildAck(*msg, AckCode::kAA, {}, Context());
  auto ack = Parse(wire);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->Get("MSH-3"), "GW");
  EXPECT_EQ(ack->Get("MSH-4"), "HOSP");
  EXPECT_EQ(ack->Get("MSH-5"), "PHARM");
  EXPECT_EQ(ack->Get("MSH-6"), "CLINIC");
  EXPECT_EQ(ack->Get("MSH-9"), "ACK^O11^ACK");
  EXPECT_EQ(ack->Get("MSH-10"), "GW0001");
  EXPECT_EQ(ack->Get("MSH-11"), "P");
  EXPECT_EQ(ack->Get("MSH-12"), "2.5.1");
  EXPECT_EQ(ack->Get("MSA-1"), "AA");
  EXPECT_EQ(ack->Get("MSA-2"), "MSG7");
  EXPECT_EQ(ack->CountSegments("ERR"), 0);
}

TEST(AckTest, ErrorsBecomeErrSegmentsWithLocationCodeAndSeverity) {
  auto msg = Parse("MSH|^~\\&|A|B|C|D|1||RDE^O11|M1|P|2.5.1\r");
  ASSERT_TRUE(msg.ok());
  std::vector<AckError> errors{
      {{"RXE", 1, 3, 0, 0, 0}, ErrorCode::kRequiredFieldMissing, ErrorSeverity::kError,
       "give amount (RXE-3) is required"},
      {{"OBX", 2, 5, 1, 2, 0}, ErrorCode::kDataTypeError, ErrorSeverity::kWarning, "a|b"}};
  std::string wire = BuildAck(*msg, AckCode::kAE, errors, Context());
  auto ack = Parse(wire);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->Get("MSA-1"), "AE");
  ASSERT_EQ(ack->CountSegments("ERR"), 2);
  EXPECT_EQ(ack->Get("ERR-2"), "RXE^1^3");
  EXPECT_EQ(ack->Get("ERR-3"), "101^Required field missing^HL70357");
  EXPECT_EQ(ack->Get("ERR-4"), "E");
  EXPECT_EQ(ack->GetText("ERR-8"), "give amount (RXE-3) is required");
  EXPECT_EQ(ack->Get("ERR[2]-2"), "OBX^2^5^1^2");
  EXPECT_EQ(ack->Get("ERR[2]-4"), "W");
  EXPECT_EQ(ack->GetText("ERR[2]-8"), "a|b");
}

TEST(AckTest, LegacyVersionsGetErr1AndMsa3) {
  auto msg = Parse("MSH|^~\\&|A|B|C|D|1||ORM^O01|M1|P|2.3\r");
  ASSERT_TRUE(msg.ok());
  std::string wire = BuildAck(*msg, AckCode::kAR,
                              {{{"MSH", 1, 9, 0, 0, 0}, ErrorCode::kUnsupportedMessageType,
                                ErrorSeverity::kError, "not handled"}},
                              Context());
  auto ack = Parse(wire);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->Get("MSH-9"), "ACK^O01");
  EXPECT_EQ(ack->Get("MSA-3"), "not handled");
  EXPECT_EQ(ack->Get("ERR-1"), "MSH^1^9^200&not handled&HL70357");
  EXPECT_EQ(ack->Get("ERR-2"), "");
}

TEST(AckTest, EnhancedModeFollowsTable0155) {
  auto al_ne = Parse("MSH|^~\\&|A|B|C|D|1||RDE^O11|M1|P|2.5.1|||AL|NE\r");
  ASSERT_TRUE(al_ne.ok());
  EXPECT_TRUE(IsEnhancedMode(*al_ne));
  EXPECT_TRUE(WantsAcceptAck(*al_ne, AckCode::kCA));
  EXPECT_FALSE(WantsApplicationAck(*al_ne, AckCode::kAA));
  auto er_al = Parse("MSH|^~\\&|A|B|C|D|1||RDE^O11|M1|P|2.5.1|||ER|AL\r");
  ASSERT_TRUE(er_al.ok());
  EXPECT_FALSE(WantsAcceptAck(*er_al, AckCode::kCA));
  EXPECT_TRUE(WantsAcceptAck(*er_al, AckCode::kCR));
  EXPECT_TRUE(WantsApplicationAck(*er_al, AckCode::kAA));
  auto su = Parse("MSH|^~\\&|A|B|C|D|1||RDE^O11|M1|P|2.5.1|||AL|SU\r");
  ASSERT_TRUE(su.ok());
  EXPECT_TRUE(WantsApplicationAck(*su, AckCode::kAA));
  EXPECT_FALSE(WantsApplicationAck(*su, AckCode::kAE));
  std::string wire = BuildAck(*al_ne, AckCode::kCA, {}, Context());
  auto ca = Parse(wire);
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(ca->Get("MSA-1"), "CA");
}

TEST(AckTest, RejectForUnparsedRecoversControlId) {
  AckError error{{"MSH", 1, 2, 0, 0, 0}, ErrorCode::kOtherHl7Error, ErrorSeverity::kError,
                 "bad encoding characters"};
  std::string wire =
      BuildRejectForUnparsed("MSH|^^^^|A|B|C|D|1||RDE^O11|CTRL9|P|2.4\r", error, Context());
  auto ack = Parse(wire);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->Get("MSA-1"), "AR");
  EXPECT_EQ(ack->Get("MSA-2"), "CTRL9");
  EXPECT_EQ(ack->Get("MSH-12"), "2.4");
  EXPECT_EQ(ack->Get("ERR-1.1"), "MSH");
  std::string garbage_wire = BuildRejectForUnparsed("\x01\x02garbage", error, Context());
  auto garbage = Parse(garbage_wire);
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->Get("MSA-2"), "");
  EXPECT_EQ(garbage->Get("ERR-3.1"), "199");
}

}  // namespace
}  // namespace ketamine::hl7v2
