#include "hl7v2/escape.h"

#include <gtest/gtest.h>

namespace ketamine::hl7v2 {
namespace {

TEST(EscapeTest, DelimiterEscapes) {
  Delimiters d;
  EXPECT_EQ(Unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", d), "a|b^c&d~e\\f");
}

TEST(EscapeTest, HexBecomesBytes) {
  Delimiters d;
  EXPECT_EQ(Unescape("x\\X0D0A\\y", d), "x\r\ny");
  EXPECT_EQ(Unescape("caf\\XC3A9\\", d), "caf\xC3\xA9");
  EXPECT_EQ(Unescape("M\\XFC\\ller", d), "M\\XFC\\ller");  // not UTF-8: kept as written
}

TEST(EscapeTest, FormattingAndCharsetEscapesAreKeptAsText) {
  Delimiters d;
  EXPECT_EQ(Unescape("line1\\.br\\line2", d), "line1\\.br\\line2");
  EXPECT_EQ(Unescape("\\H\\bold\\N\\", d), "\\H\\bold\\N\\");
  EXPECT_EQ(Unescape("\\.sp2\\x\\.in+4\\", d), "\\.sp2\\x\\.in+4\\");
  EXPECT_EQ(Unescape("\\C2842\\abc\\M2442\\", d), "\\C2842\\abc\\M2442\\");
  EXPECT_EQ(Unescape("\\Zlocal\\", d), "\\Zlocal\\");
}

TEST(EscapeTest, MalformedSequencesAreKept) {
  Delimiters d;
  EXPECT_EQ(Unescape("a\\b", d), "a\\b");
  EXPECT_EQ(Unescape("a\\\\b", d), "a\\\\b");
  EXPECT_EQ(Unescape("\\XZZ\\", d), "\\XZZ\\");
  EXPECT_EQ(Unescape("\\X0\\", d), "\\X0\\");
  EXPECT_EQ(Unescape("trailing\\", d), "trailing\\");
}

TEST(EscapeTest, CustomEscapeCharacter) {
  Delimiters d{'#', '*', '!', '?', '%', '\0'};
  EXPECT_EQ(Unescape("a?F?b?S?c", d), "a#b*c");
  EXPECT_EQ(Escape("a#b*c", d), "a?F?b?S?c");
}

TEST(EscapeTest, EscapeRoundTrips) {
  Delimiters d;
  std::string text = "5 mg | 10 mg ^ line\nbreak & ~ \\ \r end";
  std::string escaped = Escape(text, d);
  EXPECT_EQ(escaped.find('|'), std::string::npos);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_EQ(escaped.find('\r'), std::string::npos);
  EXPECT_EQ(Unescape(escaped, d), text);
}

}  // namespace
}  // namespace ketamine::hl7v2
