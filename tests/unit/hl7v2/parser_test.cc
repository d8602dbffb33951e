#include "hl7v2/parser.h"

#include <gtest/gtest.h>

#include <string>

namespace ketamine::hl7v2 {
namespace {

const std::string kRde =
    "MSH|^~\\&|PHARM|CLINIC|GW|HOSP|20261123101500||RDE^O11^RDE_O11|MSG0001|P|2.5.1\r"
    "PID|1||MRN123^^^CLINIC^MR~999-88-7777^^^SSA^SS||Doe^Jane||19800101|F\r"
    "ORC|NW|PL1001|FL2002\r"
    "RXE|^^^20261123|238082^ketamine 10 MG/ML Injectable Solution^RXNORM|0.35||mg/kg/h\r"
    "RXR|IV^Intravenous^HL70162\r"
    "OBX|1|NM|29463-7^Body weight^LN||80|kg\r"
    "OBX|2|NM|72514-3^Pain severity 0-10^LN||7|{score}\r";

TEST(ParseTest, FieldsComponentsRepetitions) {
  auto msg = Parse(kRde);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->segment_count(), 7u);
  EXPECT_EQ(msg->MessageCode(), "RDE");
  EXPECT_EQ(msg->TriggerEvent(), "O11");
  EXPECT_EQ(msg->ControlId(), "MSG0001");
  EXPECT_EQ(msg->VersionId(), "2.5.1");
  EXPECT_EQ(msg->Get("MSH-1"), "|");
  EXPECT_EQ(msg->Get("MSH-2"), "^~\\&");
  EXPECT_EQ(msg->Get("PID-3"), "MRN123^^^CLINIC^MR~999-88-7777^^^SSA^SS");
  EXPECT_EQ(msg->Get("PID-3(2).1"), "999-88-7777");
  EXPECT_EQ(msg->Get("PID-3.5"), "MR");
  EXPECT_EQ(msg->Get("PID-3(1)-4"), "CLINIC");
  EXPECT_EQ(msg->Get("PID-5.2"), "Jane");
  EXPECT_EQ(msg->Get("OBX[2]-5"), "7");
  EXPECT_EQ(msg->Get("OBX[2]-3.1"), "72514-3");
  EXPECT_EQ(msg->Get("RXE-5"), "mg/kg/h");
  EXPECT_EQ(msg->Get("RXE-1.4"), "20261123");
  EXPECT_EQ(msg->Get("RXE-23"), "");
  EXPECT_EQ(msg->Get("OBX[3]-5"), "");
  EXPECT_EQ(msg->Get("ZZZ-1"), "");
  EXPECT_EQ(msg->CountSegments("OBX"), 2);
}

TEST(ParseTest, CustomDelimitersAreReadFromMsh) {
  std::string text = "MSH#*!?%#SND#FAC#RCV#FAC#20260101##ADT*A04#X1#P#2.3\rPID#1##A*B*C!D*E\r";
  auto msg = Parse(text);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->delimiters().field, '#');
  EXPECT_EQ(msg->delimiters().component, '*');
  EXPECT_EQ(msg->delimiters().repetition, '!');
  EXPECT_EQ(msg->delimiters().escape, '?');
  EXPECT_EQ(msg->delimiters().subcomponent, '%');
  EXPECT_EQ(msg->MessageCode(), "ADT");
  EXPECT_EQ(msg->Get("PID-3(2).1"), "D");
  EXPECT_EQ(Serialize(*msg), text);
}

TEST(ParseTest, TruncationCharacterOfV27) {
  auto msg = Parse("MSH|^~\\&#|A|B|C|D|20260101||ORU^R01|1|P|2.7\rOBX|1|ST|x||a\\P\\b\r");
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->delimiters().truncation, '#');
  EXPECT_EQ(msg->GetText("OBX-5"), "a#b");
}

TEST(ParseTest, SegmentEndingsAreToleratedAndKept) {
  for (std::string end : {"\r", "\n", "\r\n"}) {
    std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5" + end + "PID|1||X" + end;
    auto msg = Parse(text);
    ASSERT_TRUE(msg.ok()) << msg.status().ToString();
    EXPECT_EQ(msg->segment_count(), 2u);
    EXPECT_EQ(msg->Get("PID-3"), "X");
    EXPECT_EQ(Serialize(*msg), text);
  }
}

TEST(ParseTest, ZSegmentsAndUnknownSegmentsAreKept) {
  std::string text = "MSH|^~\\&|A|B|C|D|1||RAS^O17|1|P|2.5\rZRX|5|mg|WITNESS^Nurse\rABC|x";
  auto msg = Parse(text);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->Get("ZRX-3.2"), "Nurse");
  EXPECT_EQ(msg->Get("ABC-1"), "x");
  EXPECT_EQ(Serialize(*msg), text);
}

TEST(ParseTest, ByteOrderMarkIsSkippedAndKept) {
  std::string text = "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|1||ORM^O01|1|P|2.6\r";
  auto msg = Parse(text);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->MessageCode(), "ORM");
  EXPECT_EQ(Serialize(*msg), text);
}

TEST(ParseTest, WholeSegmentByPath) {
  auto msg = Parse(kRde);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->Get("ORC"), "ORC|NW|PL1001|FL2002");
}

struct Malformed {
  const char* name;
  std::string bytes;
  StatusCode code;
  const char* location;
};

class MalformedTest : public testing::TestWithParam<Malformed> {};

TEST_P(MalformedTest, IsAClearErrorNotACrash) {
  auto msg = Parse(GetParam().bytes);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.status().code(), GetParam().code) << msg.status().ToString();
  EXPECT_EQ(msg.status().location().ToString(), GetParam().location) << msg.status().ToString();
  EXPECT_FALSE(msg.status().message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, MalformedTest,
    testing::Values(
        Malformed{"Empty", "", StatusCode::kInvalidInput, "MSH"},
        Malformed{"NoMsh", "PID|1||X\r", StatusCode::kInvalidInput, "MSH"},
        Malformed{"TruncatedMsh", "MSH|^~", StatusCode::kInvalidInput, "MSH-2"},
        Malformed{"OnlyName", "MSH", StatusCode::kInvalidInput, "MSH-1"},
        Malformed{"TooManyEncodingChars", "MSH|^~\\&#!|A", StatusCode::kInvalidInput, "MSH-2"},
        Malformed{"DuplicateDelimiters", "MSH|^^\\&|A", StatusCode::kInvalidInput, "MSH-2"},
        Malformed{"LetterDelimiter", "MSHA^~\\&A", StatusCode::kInvalidInput, "MSH-1"},
        Malformed{"BadSegmentName", "MSH|^~\\&|A\r1PD|1\r", StatusCode::kInvalidInput, "segment 2"},
        Malformed{"TruncatedSegment", "MSH|^~\\&|A\rPI", StatusCode::kInvalidInput, "segment 2"},
        Malformed{"LowerCaseSegment", "MSH|^~\\&|A\rpid|1\r", StatusCode::kInvalidInput,
                  "segment 2"},
        Malformed{"NulByte", std::string("MSH|^~\\&|A\rPID|1|\0|x", 20), StatusCode::kInvalidInput,
                  "segment 2"},
        Malformed{"FramingByteInside", "MSH|^~\\&|A\x1c\r", StatusCode::kInvalidInput, "segment 1"},
        Malformed{"SecondMsh", "MSH|^~\\&|A\rMSH|^~\\&|B\r", StatusCode::kInvalidInput, "MSH[2]"},
        Malformed{"BinaryGarbage", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", StatusCode::kInvalidInput,
                  "MSH"},
        Malformed{"UnknownCharset", "MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5||||||KLINGON\r",
                  StatusCode::kUnsupported, "MSH-18"}),
    [](const testing::TestParamInfo<Malformed>& p) { return std::string(p.param.name); });

TEST(ParseTest, LimitsAreEnforced) {
  ParseOptions options;
  options.max_segments = 3;
  std::string text = "MSH|^~\\&|A\rNTE|1\rNTE|2\rNTE|3\r";
  auto msg = Parse(text, options);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.status().code(), StatusCode::kTooLarge);
  options = {};
  options.max_fields_per_segment = 4;
  msg = Parse("MSH|^~\\&|A\rNTE|1|2|3|4|5\r", options);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(msg.status().location().ToString(), "NTE");
  options = {};
  options.max_message_bytes = 10;
  msg = Parse("MSH|^~\\&|A|B|C|D\r", options);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.status().code(), StatusCode::kTooLarge);
}

TEST(ParseTest, ViewsPointIntoTheCallersBuffer) {
  auto msg = Parse(kRde);
  ASSERT_TRUE(msg.ok());
  std::string_view pid3 = msg->Get("PID-3");
  EXPECT_GE(pid3.data(), kRde.data());
  EXPECT_LT(pid3.data(), kRde.data() + kRde.size());
}

}  // namespace
}  // namespace ketamine::hl7v2

namespace ketamine::hl7v2 {
namespace {

TEST(VisitComponentsTest, VisitsEverySubcomponentInOrder) {
  std::vector<std::string> seen;
  VisitComponents("a^b&c~d", Delimiters{}, [&](int r, int c, int s, std::string_view v) {
    seen.push_back(std::to_string(r) + "." + std::to_string(c) + "." + std::to_string(s) + "=" +
                   std::string(v));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"1.1.1=a", "1.2.1=b", "1.2.2=c", "2.1.1=d"}));
}

}  // namespace
}  // namespace ketamine::hl7v2
