// Numbers from HL7 v2 that a JSON document cannot carry (infinity, NaN, or a rate that overflows)
// are data errors; the Bundle's text stays well-formed whatever the message says.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "common/file.h"
#include "fhir/json.h"
#include "hl7v2/parser.h"
#include "mapping/converter.h"
#include "mapping/datatypes.h"

namespace ketamine::mapping {
namespace {

TEST(ParseDecimal, TakesPlainDecimalsOnly) {
  double v = 0;
  EXPECT_TRUE(ParseDecimal("8", &v));
  EXPECT_EQ(v, 8);
  EXPECT_TRUE(ParseDecimal("+0.35", &v));
  EXPECT_EQ(v, 0.35);
  EXPECT_TRUE(ParseDecimal("-4.5", &v));
  EXPECT_EQ(v, -4.5);
  for (const char* bad : {"", "INF", "inf", "-inf", "Infinity", "nan", "NAN", "-nan", "1e3", "0x10", "8 ", "8mg"}) {
    EXPECT_FALSE(ParseDecimal(bad, &v)) << bad;
  }
}

class NumbersTest : public ::testing::Test {
 protected:
  // Converts `file` with `from` replaced by `to`; the Bundle's text must parse again.
  Conversion Convert(const std::string& file, const std::string& from, const std::string& to) {
    auto converter = Converter::Load({KETAMINE_MAPPINGS_DIR});
    EXPECT_TRUE(converter.ok());
    std::string text = *ReadFile(std::string(KETAMINE_TEST_DATA_DIR) + "/hl7v2/" + file);
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    auto message = hl7v2::Parse(text);
    EXPECT_TRUE(message.ok());
    auto conversion = (*converter)->ToFhir(*message);
    EXPECT_TRUE(conversion.ok());
    const std::string json = fhir::ToJson(*conversion->bundle);
    EXPECT_TRUE(fhir::ParseJson(json).ok()) << json;
    return std::move(*conversion);
  }
  static bool HasIssue(const Conversion& c, const std::string& code, const std::string& text_part) {
    for (const Issue& i : c.issues.items()) {
      if (i.code == code && i.text.find(text_part) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(NumbersTest, AnObservationValueOfInfinityOrNanIsNotANumber) {
  for (const char* value : {"INF", "nan", "-Infinity"}) {
    Conversion c = Convert("ORU_R01-ketamine-1.hl7", "|before|8|", std::string("|before|") + value + "|");
    EXPECT_TRUE(HasIssue(c, "map-datatype", "is not a number")) << value;
  }
}

TEST_F(NumbersTest, ARatePerTimeThatIsNoPositiveNumberOrOverflowsIsAnError) {
  for (const char* per : {"HNaN", "Hinf", "H0", "H-1"}) {
    Conversion c = Convert("RDE_O11-ketamine-1.hl7", "|H1|28|", std::string("|") + per + "|28|");
    EXPECT_TRUE(HasIssue(c, "map-datatype", "is not S/M/H/D/W followed by a number")) << per;
  }
  // 1e308 mg per second is more per hour than a double holds.
  Conversion c = Convert("RDE_O11-ketamine-1.hl7", "|H1|28|", "|S1|1" + std::string(308, '0') + "|");
  EXPECT_TRUE(HasIssue(c, "map-datatype", "out of range"));
}

TEST(JsonText, ANonFiniteNumberIsWrittenAsNullNotCutOff) {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("a", rapidjson::Value(std::numeric_limits<double>::infinity()), d.GetAllocator());
  d.AddMember("b", rapidjson::Value(std::numeric_limits<double>::quiet_NaN()), d.GetAllocator());
  d.AddMember("c", 1.5, d.GetAllocator());
  EXPECT_EQ(fhir::ToJson(d), R"({"a":null,"b":null,"c":1.5})");
}

}  // namespace
}  // namespace ketamine::mapping
