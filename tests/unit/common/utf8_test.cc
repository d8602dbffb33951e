#include "common/utf8.h"

#include <gtest/gtest.h>

namespace ketamine {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Utf8Test, ValidTextIsKeptAsItIs) {
  for (const std::string& text :
       {std::string(), std::string("ketamine 0.5 mg/kg/h"), std::string("M\xC3\xBCller"),
        std::string("\xE2\x82\xAC 12"), std::string("pain \xF0\x9F\x98\x96 8/10")}) {
    EXPECT_TRUE(IsValidUtf8(text)) << text;
    EXPECT_EQ(ValidUtf8(text), text);
  }
}

TEST(Utf8Test, EachByteThatStartsNoWellFormedSequenceBecomesOneReplacement) {
  EXPECT_EQ(ValidUtf8("/admi\xB5n"), "/admi" + kReplacement + "n");  // a lone tail byte
  EXPECT_EQ(ValidUtf8("M\xFCller"), "M" + kReplacement + "ller");    // Latin-1
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), kReplacement + kReplacement);     // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // a surrogate
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80").size(), 4 * kReplacement.size());  // past U+10FFFF
  // A sequence cut short keeps the character after it.
  EXPECT_EQ(ValidUtf8(std::string("\xE2\x82") + "A"), kReplacement + kReplacement + "A");
  EXPECT_EQ(ValidUtf8("end \xE2\x82"), "end " + kReplacement + kReplacement);
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is UTF-8
  for (const char* bad : {"\xB5", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
    EXPECT_TRUE(IsValidUtf8(ValidUtf8(bad)));
  }
}

TEST(Utf8Test, FirstInvalidByteIsFoundPastLongAsciiRuns) {
  EXPECT_EQ(FirstInvalidUtf8("plain ASCII longer than eight bytes"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("M\xC3\xBCller, Ren\xC3\xA9" "e and more ASCII"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("0123456789abcdef\xFC"), 16u);
  EXPECT_EQ(FirstInvalidUtf8("0123\xC3\xBC" "6789abcdefgh\xED\xA0\x80"), 18u);  // a surrogate after the fast path
  EXPECT_EQ(FirstInvalidUtf8("ab\xE2\x82"), 2u);                                // cut short at the end
}

TEST(Utf8Test, OtherCharacterSetsAreConvertedByTheirIconvNames) {
  auto latin1 = IconvToUtf8("M\xFCller", "ISO-8859-1");
  ASSERT_TRUE(latin1.ok());
  EXPECT_EQ(*latin1, "M\xC3\xBCller");
  auto cp1252 = IconvToUtf8("\x80 12 \x93quoted\x94", "WINDOWS-1252");  // the euro sign and curly quotes
  ASSERT_TRUE(cp1252.ok());
  EXPECT_EQ(*cp1252, "\xE2\x82\xAC 12 \xE2\x80\x9Cquoted\xE2\x80\x9D");
  auto unknown = IconvToUtf8("x", "KLINGON-8");
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  auto bad = IconvToUtf8("ok \x81", "WINDOWS-1252");  // 0x81 is not in code page 1252
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status().message().find("byte 3 "), std::string::npos);
}

}  // namespace
}  // namespace ketamine
