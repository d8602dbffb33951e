#include "hl7v2/charset.h"

#include <gtest/gtest.h>

#include "hl7v2/ack.h"
#include "hl7v2/parser.h"

namespace ketamine::hl7v2 {
namespace {

TEST(CharsetTest, Latin1IsConvertedToUtf8) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5||||||8859/1\rPID|1||X||M\xFCller^J\xF6rg\r";
  auto msg = Parse(text);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->decoded_from(), "8859/1");
  EXPECT_EQ(msg->GetText("PID-5.1"), "M\xC3\xBCller");
  EXPECT_EQ(msg->GetText("PID-5.2"), "J\xC3\xB6rg");
}

TEST(CharsetTest, AnEscapedCharsetNameIsReadUnescaped) {
  // '-' is this sender's subcomponent separator, so "UNICODE UTF-8" can only be written escaped; our
  // ACK to a Latin-1 message from it says so, and must parse (found by fuzzing).
  std::string latin1 = "MSH|^~\\-|A|B|C|D|1||ADT^A04|1|P|2.5||||||8859/1\rPID|1||X||M\xFCller\r";
  auto msg = Parse(latin1);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  AckContext ctx;
  ctx.control_id = "ACK-1";
  std::string ack = BuildAck(*msg, AckCode::kAE, {}, ctx);
  EXPECT_NE(ack.find("UNICODE UTF\\T\\8"), std::string::npos) << ack;
  auto parsed = Parse(std::string_view(ack));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto escaped = Parse("MSH|^~\\-|A|B|C|D|1||ADT^A04|1|P|2.5||||||UNICODE UTF\\T\\8\rPID|1||X||M\xC3\xBCller\r");
  ASSERT_TRUE(escaped.ok()) << escaped.status().ToString();
  EXPECT_EQ(escaped->GetText("PID-5.1"), "M\xC3\xBCller");
}

TEST(CharsetTest, ListenerDefaultAppliesWhenMsh18IsEmpty) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5\rPID|1||X||Pe\xF1" "a\r";
  ParseOptions options;
  options.default_charset = "8859/1";
  auto msg = Parse(text, options);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->GetText("PID-5.1"), "Pe\xC3\xB1" "a");
  auto undeclared = Parse(text);  // without the default the Latin-1 byte is not UTF-8: refused
  ASSERT_FALSE(undeclared.ok());
  EXPECT_EQ(undeclared.status().location().ToString(), "MSH-18");
}

TEST(CharsetTest, Iso2022JpIsDecodedBeforeSplitting) {
  // "ISO IR87": JIS X 0208 in ISO-2022-JP; the double-byte run may contain '|' bytes, which must
  // not split fields. 0x7C ('|') appears inside the kanji run ESC $ B 3 | ESC ( B.
  std::string kanji = "\x1b$B3|\x1b(B";
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5||||||ISO IR87\rPID|1||X||" + kanji + "^T\r";
  auto msg = Parse(text);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->Get("PID-5.2"), "T");
  EXPECT_EQ(msg->GetText("PID-5.1").size(), 3u);  // one kanji in UTF-8
}

TEST(CharsetTest, NamesOfTable0211) {
  EXPECT_EQ(*IconvNameFor(""), "");
  EXPECT_EQ(*IconvNameFor("UNICODE UTF-8"), "");
  EXPECT_EQ(*IconvNameFor("8859/15"), "ISO-8859-15");
  EXPECT_EQ(*IconvNameFor("BIG-5"), "BIG5");
  EXPECT_EQ(IconvNameFor("UNICODE UTF-16").status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(IconvNameFor("EBCDIC").status().location().ToString(), "MSH-18");
}

TEST(CharsetTest, InvalidBytesAreAnError) {
  auto r = ConvertToUtf8("\xff\xfe", "GB 18030-2000");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace ketamine::hl7v2

namespace ketamine::hl7v2 {
namespace {

TEST(CharsetTest, InvalidUtf8WithoutACharsetIsAClearError) {
  std::string latin1 = "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5\rPID|1||X||M\xFCller\r";
  auto msg = Parse(latin1);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.status().location().ToString(), "MSH-18");
  EXPECT_NE(msg.status().message().find("default_charset"), std::string::npos);
  EXPECT_TRUE(ValidateUtf8("M\xC3\xBCller").ok());
  EXPECT_FALSE(ValidateUtf8("\xC3").ok());
  EXPECT_FALSE(ValidateUtf8("a\xF6\xA5\xA5\xA5").ok());  // beyond U+10FFFF
  EXPECT_FALSE(ValidateUtf8("a\xC0\x80").ok());          // overlong
  EXPECT_FALSE(ValidateUtf8("a\xED\xA0\x80").ok());      // a UTF-16 surrogate
  EXPECT_NE(ValidateUtf8("0123456789abcdef\xFF").message().find("byte 16 "), std::string::npos);
}

}  // namespace
}  // namespace ketamine::hl7v2
