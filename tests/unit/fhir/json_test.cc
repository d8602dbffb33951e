#include "fhir/json.h"

#include <gtest/gtest.h>

#include "fhir/operation_outcome.h"

namespace ketamine::fhir {
namespace {

std::string Nested(int depth) { return std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']'); }

TEST(JsonTest, DepthLimitCountsOnlyStructure) {
  JsonLimits limits;
  limits.max_depth = 64;
  EXPECT_TRUE(ParseJson(Nested(64), limits).ok());
  auto deep = ParseJson(Nested(65), limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), StatusCode::kTooLarge);
  // Brackets and escaped quotes inside strings are data, however many there are.
  std::string text = R"({"a":")" + std::string(200, '[') + R"(\"{{{{\\"})";
  EXPECT_TRUE(ParseJson(text, limits).ok()) << text;
}

TEST(JsonTest, Utf8IsValidatedWhenNotAscii) {
  EXPECT_TRUE(ParseJson("{\"name\":\"M\xC3\xBCller\"}").ok());
  EXPECT_FALSE(ParseJson("{\"name\":\"M\xFCller\"}").ok());
  EXPECT_FALSE(ParseJson("{\"a\":1} x").ok());
  EXPECT_FALSE(ParseJson("").ok());
}

TEST(JsonTest, AByteOrderMarkIsReadPast) {
  auto doc = ParseJson("\xEF\xBB\xBF{\"resourceType\":\"Patient\"}");
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_STREQ((**doc)["resourceType"].GetString(), "Patient");
  EXPECT_FALSE(ParseJson("\xEF\xBB\xBF").ok());                // nothing after it
  EXPECT_FALSE(ParseJson("{\"a\":1}\xEF\xBB\xBF").ok());        // only at the start
  EXPECT_FALSE(ParseJson("\xEF\xBB\xBF\xEF\xBB\xBF{}").ok());  // once
}

TEST(JsonTest, ATruncatedCharacterAtTheEndIsRefusedWithoutReadingPastIt) {
  // A lead byte announcing three bytes, with nothing after it (found by fuzzing; under ASan the
  // parser read past the buffer before the fix).
  for (std::string text : {std::string("{\"a\": \"x\xe0"), std::string("{\"container_if\xe0"), std::string("\"\xf0"),
                           std::string("{\"a\":\"\xf0\x9f")}) {
    auto doc = ParseJson(text);
    EXPECT_FALSE(doc.ok()) << text;
  }
}

TEST(JsonTest, TextThatIsNotUtf8IsWrittenWithReplacementCharacters) {
  // What an answer echoes (a request's path, a destination's error) may hold any bytes; the JSON
  // written must still parse, in a member name as in a value.
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember(rapidjson::Value("n\xB5me", a), rapidjson::Value("/admi\xB5n/dead-letters \"quoted\"", a), a);
  doc.AddMember("ok", rapidjson::Value("M\xC3\xBCller", a), a);
  const std::string text = ToJson(doc);
  auto back = ParseJson(text);
  ASSERT_TRUE(back.ok()) << text;
  EXPECT_EQ(StringMember(**back, "n\xEF\xBF\xBDme"), "/admi\xEF\xBF\xBDn/dead-letters \"quoted\"");
  EXPECT_EQ(StringMember(**back, "ok"), "M\xC3\xBCller");

  Issues issues;
  issues.Error("not-found", Location("Patient.id"), "no such resource: Patient/\xB5\xFF");
  auto outcome = ParseJson(OperationOutcomeJson(issues));
  ASSERT_TRUE(outcome.ok());
}

TEST(JsonTest, SizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 10;
  auto big = ParseJson(R"({"a":"0123456789"})", limits);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kTooLarge);
}

TEST(JsonTest, DeepCopyOutlivesTheParsedDocument) {
  rapidjson::Document target;
  {
    auto doc = ParseJson(R"({"coding":[{"system":"http://loinc.org","code":"72514-3"}]})");
    ASSERT_TRUE(doc.ok());
    rapidjson::Value copy = DeepCopy(**doc, target.GetAllocator());
    static_cast<rapidjson::Value&>(target) = copy;
  }
  EXPECT_EQ(ToJson(target), R"({"coding":[{"system":"http://loinc.org","code":"72514-3"}]})");
}

TEST(OperationOutcomeTest, IssueTypesAndEmptyOutcome) {
  EXPECT_EQ(IssueTypeFor("cardinality-min"), "required");
  EXPECT_EQ(IssueTypeFor("format-dateTime"), "value");
  EXPECT_EQ(IssueTypeFor("binding-required"), "code-invalid");
  EXPECT_EQ(IssueTypeFor("clinical-rate"), "business-rule");
  EXPECT_EQ(IssueTypeFor("too-large"), "too-costly");
  EXPECT_EQ(IssueTypeFor("too-costly"), "too-costly");  // what the listener answers itself (413)
  EXPECT_EQ(IssueTypeFor("transient"), "transient");    // a store that cannot write, a stopping listener
  auto ok = ParseJson(OperationOutcomeJson(Issues{}));
  ASSERT_TRUE(ok.ok());
  EXPECT_STREQ((**ok)["issue"][0]["severity"].GetString(), "information");
}

}  // namespace
}  // namespace ketamine::fhir
