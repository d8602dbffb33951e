#include "ledger/posting.h"

#include <gtest/gtest.h>

#include "common/file.h"
#include "fhir/json.h"
#include "hl7v2/parser.h"
#include "ledger_test_util.h"
#include "mapping/converter.h"
#include "profiles/validator.h"

namespace ketamine::ledger {
namespace {

// The RAS^O17 of the test data, converted by the gateway's own mappings (as the flow does).
class PostingTest : public LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    auto validator = profiles::Validator::Load(KETAMINE_PROFILES_DIR);
    ASSERT_TRUE(validator.ok()) << validator.status().message();
    validator_ = *validator;
    context_.source = "INFUSION_MAR|RIVERSIDE_PAIN|KET-RAS-0001|ledger";
    context_.location = "main";
    context_.ketamine_codes = validator_->profiles().FindValueSet(kKetamineValueSet);
    ASSERT_NE(context_.ketamine_codes, nullptr);
  }
  std::unique_ptr<rapidjson::Document> Convert(const std::string& file) {
    auto converter = mapping::Converter::Load({KETAMINE_MAPPINGS_DIR});
    EXPECT_TRUE(converter.ok());
    text_ = *ReadFile(std::string(KETAMINE_TEST_DATA_DIR) + "/hl7v2/" + file);
    auto message = hl7v2::Parse(text_);
    EXPECT_TRUE(message.ok());
    auto conversion = (*converter)->ToFhir(*message);
    EXPECT_TRUE(conversion.ok());
    return std::move(conversion->bundle);
  }
  std::shared_ptr<const profiles::Validator> validator_;
  PostingContext context_;
  std::string text_;
};

TEST_F(PostingTest, AnAdministrationWithWastePostsTwoEntries) {
  auto bundle = Convert("RAS_O17-ketamine-1.hl7");
  auto drafts = DraftsFromFhir(*bundle, context_);
  ASSERT_TRUE(drafts.ok()) << drafts.status().message();
  ASSERT_EQ(drafts->size(), 2u);
  const Draft& given = (*drafts)[0];
  EXPECT_EQ(given.kind, Kind::kAdministration);
  EXPECT_EQ(given.amount_ug, 112000);  // RXA-6/7: 112 mg
  EXPECT_EQ(given.lot, "LOT-KX2291");  // RXA-15
  EXPECT_EQ(given.by, "Sam Lee");      // RXA-10: who administered (21 CFR 1304.22(c))
  EXPECT_EQ(given.event_time, "2026-11-23T18:05:00Z");
  EXPECT_TRUE(given.from_flow);
  EXPECT_TRUE(given.flags.empty());
  EXPECT_NE(given.details.find("\"order\":\"ORD-7001\""), std::string::npos) << given.details;
  EXPECT_NE(given.details.find("\"name\":\"Alex J Testpatient\""), std::string::npos);
  const Draft& waste = (*drafts)[1];
  EXPECT_EQ(waste.kind, Kind::kWaste);
  EXPECT_EQ(waste.amount_ug, 88000);
  EXPECT_NE(waste.details.find("\"witness\":\"Kim Ortiz\""), std::string::npos) << waste.details;
  EXPECT_NE(given.source, waste.source);
  EXPECT_EQ(given.source.rfind(context_.source, 0), 0u);

  // Posted twice (a resend after an unknown outcome): one administration, one waste.
  ASSERT_TRUE(ledger_->Append({Make(Kind::kReceipt, "LOT-KX2291", 1000000)}).ok());
  auto first = ledger_->Append(*drafts);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->entries.size(), 2u);
  EXPECT_EQ(first->entries[1].balance_ug, 800000);
  auto second = ledger_->Append(*drafts);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->entries.size(), 0u);
  EXPECT_EQ(second->duplicates, 2u);
}

TEST_F(PostingTest, OnlyCompletedKetamineAdministrationsPost) {
  auto bundle = Convert("RAS_O17-ketamine-1.hl7");
  for (auto& e : (*bundle)["entry"].GetArray()) {
    auto& r = e["resource"];
    if (fhir::StringMember(r, "resourceType") == "MedicationAdministration") r["status"].SetString("in-progress");
  }
  EXPECT_TRUE(DraftsFromFhir(*bundle, context_)->empty());
  auto other = Convert("RAS_O17-ketamine-1.hl7");
  for (auto& e : (*other)["entry"].GetArray()) {
    auto& r = e["resource"];
    if (fhir::StringMember(r, "resourceType") == "Medication") {
      r["code"]["coding"][0]["code"].SetString("1191");  // aspirin
      r.RemoveMember("extension");                         // and no schedule III claim
    }
  }
  EXPECT_TRUE(DraftsFromFhir(*other, context_)->empty());
}

TEST_F(PostingTest, MissingWitnessAndOrderAreFlagged) {
  auto bundle = Convert("RAS_O17-ketamine-1.hl7");
  for (auto& e : (*bundle)["entry"].GetArray()) {
    auto& r = e["resource"];
    if (fhir::StringMember(r, "resourceType") != "MedicationAdministration") continue;
    auto& parts = r["extension"][0]["extension"];
    for (auto it = parts.Begin(); it != parts.End(); ++it) {
      if (fhir::StringMember(*it, "url") == "witness") {
        parts.Erase(it);
        break;
      }
    }
    r.RemoveMember("request");
  }
  auto drafts = DraftsFromFhir(*bundle, context_);
  ASSERT_EQ(drafts->size(), 2u);
  EXPECT_EQ((*drafts)[0].flags, std::vector<std::string>{"no-order"});
  EXPECT_EQ((*drafts)[1].flags, std::vector<std::string>{"waste-without-witness"});
}

TEST_F(PostingTest, AnOrderPostsWithThePrescribersDea) {
  auto bundle = Convert("RDE_O11-ketamine-1.hl7");
  auto drafts = DraftsFromFhir(*bundle, context_);
  ASSERT_TRUE(drafts.ok());
  ASSERT_EQ(drafts->size(), 1u);
  EXPECT_EQ((*drafts)[0].kind, Kind::kOrder);
  EXPECT_EQ((*drafts)[0].lot, "");
  EXPECT_NE((*drafts)[0].details.find("\"order\":\"ORD-7001\""), std::string::npos) << (*drafts)[0].details;
  EXPECT_NE((*drafts)[0].details.find("\"prescriber_dea\":\"AB1234563\""), std::string::npos);
  EXPECT_TRUE((*drafts)[0].flags.empty());
  ASSERT_TRUE(ledger_->Append(*drafts).ok());
}

TEST_F(PostingTest, AResourceAloneResolvesReferencesThroughTheResolver) {
  auto doc = fhir::ParseJsonFile(std::string(KETAMINE_PROFILES_DIR) + "/examples/valid/MedicationAdministration-ketamine-infusion.json");
  ASSERT_TRUE(doc.ok());
  int asked = 0;
  context_.resolve = [&](std::string_view reference) -> std::unique_ptr<rapidjson::Document> {
    ++asked;
    std::string file;
    if (reference.rfind("Medication/", 0) == 0) file = "Medication-ketamine-10mg-ml.json";
    if (reference.rfind("Patient/", 0) == 0) file = "Patient-infusion-patient.json";
    if (file.empty()) return nullptr;
    auto text = ReadFile(std::string(KETAMINE_PROFILES_DIR) + "/examples/valid/" + file);
    auto d = std::make_unique<rapidjson::Document>();
    d->Parse(text->c_str());
    return d;
  };
  auto drafts = DraftsFromFhir(**doc, context_);
  ASSERT_TRUE(drafts.ok());
  ASSERT_FALSE(drafts->empty());
  EXPECT_GT(asked, 0);
  EXPECT_NE((*drafts)[0].lot, "UNKNOWN");
  EXPECT_FALSE((*drafts)[0].ndc.empty());
}

TEST_F(PostingTest, NotFhirIsRefused) {
  rapidjson::Document d;
  d.Parse("[1,2]");
  EXPECT_FALSE(DraftsFromFhir(d, context_).ok());
}

}  // namespace
}  // namespace ketamine::ledger
