#include "mapping/v2_datatypes.h"

#include <gtest/gtest.h>

#include "fhir/json.h"

namespace ketamine::mapping {
namespace {

TEST(DtmText, FhirDateTimesBecomeV2) {
  EXPECT_EQ(DtmText("2026-11-23T08:30:00-05:00"), "20261123083000-0500");
  EXPECT_EQ(DtmText("2026-11-23T08:30:00Z"), "20261123083000+0000");
  EXPECT_EQ(DtmText("2026-11-23T08:30:00.123456+01:00"), "20261123083000.1234+0100");
  EXPECT_EQ(DtmText("2026-11-23"), "20261123");
  EXPECT_EQ(DtmText("2026-11"), "202611");
  EXPECT_EQ(DtmText("2026"), "2026");
}

TEST(DtmText, NotADateGivesNothing) {
  for (const char* bad : {"", "yesterday", "2026-1-23", "2026-11-23T8:30", "2026-11-23T08:30:00+0500",
                          "2026-11-23T08:30:00-05:00x", "2026-11-23T08:30:00."}) {
    EXPECT_EQ(DtmText(bad), "") << bad;
  }
}

TEST(NumberText, NoExponentNoNoise) {
  rapidjson::Document d;
  d.Parse("[0.35, 28, 1e21, -4.5, 0.1]");
  EXPECT_EQ(NumberText(d[0]), "0.35");
  EXPECT_EQ(NumberText(d[1]), "28");
  EXPECT_EQ(NumberText(d[2]), "1000000000000000000000");
  EXPECT_EQ(NumberText(d[3]), "-4.5");
  EXPECT_EQ(NumberText(d[4]), "0.1");
}

class V2DatatypesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = Vocabulary::Load({KETAMINE_MAPPINGS_DIR});
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    vocabulary_ = *loaded;
  }
  rapidjson::Document Json(const char* text) {
    rapidjson::Document d;
    d.Parse(text);
    return d;
  }
  static std::string Text(const V2Value& value) {
    std::string out;
    for (const auto& p : value) out += std::to_string(p.component) + "." + std::to_string(p.subcomponent) + "=" + p.text + ";";
    return out;
  }
  std::shared_ptr<const Vocabulary> vocabulary_;
};

TEST_F(V2DatatypesTest, IdentifierSystemsGoBackToTheirAssigningAuthority) {
  EXPECT_EQ(Text(FromIdentifier(Json(R"({"system":"urn:ketamine-gateway:assigner:RIVERSIDE","value":"M1",
      "type":{"coding":[{"code":"MR"}]}})"), *vocabulary_)), "1.0=M1;4.1=RIVERSIDE;5.0=MR;");
  EXPECT_EQ(Text(FromIdentifier(Json(R"({"system":"urn:oid:2.16.840.1","value":"M1"})"), *vocabulary_)),
            "1.0=M1;4.2=2.16.840.1;4.3=ISO;");
  EXPECT_EQ(Text(FromIdentifier(Json(R"({"system":"http://hl7.org/fhir/sid/us-ssn","value":"1"})"), *vocabulary_)),
            "1.0=1;4.1=SSA;");
  EXPECT_EQ(Text(FromIdentifier(Json(R"({"system":"https://example.org/ids","value":"1"})"), *vocabulary_)),
            "1.0=1;4.2=https://example.org/ids;4.3=URI;");
  EXPECT_TRUE(FromIdentifier(Json(R"({"system":"x"})"), *vocabulary_).empty());
}

TEST_F(V2DatatypesTest, XcnLeavesTheAuthorityEmptyWhenTheTypeImpliesTheSystem) {
  EXPECT_EQ(Text(FromXcnIdentifier(Json(R"({"system":"http://terminology.hl7.org/NamingSystem/USDEANumber",
      "value":"AB1234563","type":{"coding":[{"code":"DEA"}]}})"), *vocabulary_)), "1.0=AB1234563;13.0=DEA;");
  EXPECT_EQ(Text(FromXcnIdentifier(Json(R"({"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"})"),
                                   *vocabulary_)), "1.0=1234567893;9.1=NPI;");
}

TEST_F(V2DatatypesTest, CodeableConceptKeepsBothCodingsAndOriginalText) {
  EXPECT_EQ(Text(FromCodeableConcept(Json(R"({"coding":[{"system":"http://loinc.org","code":"72514-3","display":"Pain"},
      {"system":"urn:local","code":"P"}],"text":"pain now"})"), *vocabulary_)),
            "1.0=72514-3;2.0=Pain;3.0=LN;4.0=P;6.0=urn:local;9.0=pain now;");
  EXPECT_EQ(Text(FromCodeableConcept(Json(R"({"text":"not stated"})"), *vocabulary_)), "2.0=not stated;");
}

TEST_F(V2DatatypesTest, NamesAddressesContacts) {
  EXPECT_EQ(Text(FromHumanName(Json(R"({"family":"Doe","given":["Jane","Q"],"prefix":["Dr"]})"), 1)),
            "1.0=Doe;2.0=Jane;3.0=Q;5.0=Dr;");
  EXPECT_EQ(Text(FromHumanName(Json(R"({"family":"Doe","given":["Jane"]})"), 2)), "2.0=Doe;3.0=Jane;");
  EXPECT_EQ(Text(FromAddress(Json(R"({"line":["12 Elm St"],"city":"Springfield","postalCode":"62704"})"))),
            "1.0=12 Elm St;3.0=Springfield;5.0=62704;");
  EXPECT_EQ(Text(FromContactPoint(Json(R"({"system":"email","value":"a@b.org"})"))), "2.0=NET;3.0=Internet;4.0=a@b.org;");
  EXPECT_EQ(Text(FromContactPoint(Json(R"({"system":"phone","value":"555-1234","use":"work"})"))),
            "1.0=555-1234;2.0=WPN;3.0=PH;");
}

TEST_F(V2DatatypesTest, VocabularyGoesBothWays) {
  const std::string* v2 = vocabulary_->Untranslate("v2-0162-route", "47625008");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(*v2, "IV");
  EXPECT_EQ(vocabulary_->SystemName("http://www.nlm.nih.gov/research/umls/rxnorm"), "RXNORM") << "the first name listed";
  EXPECT_EQ(vocabulary_->SystemName("http://terminology.hl7.org/CodeSystem/v2-0162"), "HL70162");
  EXPECT_EQ(vocabulary_->SystemName("urn:unknown"), "");
  EXPECT_EQ(vocabulary_->Untranslate("v2-0162-route", "no-such-code"), nullptr);
}

}  // namespace
}  // namespace ketamine::mapping
