#include "ledger/request.h"

#include <gtest/gtest.h>

namespace ketamine::ledger {
namespace {

constexpr const char* kNow = "2026-11-23T15:00:00Z";

Result<std::vector<Draft>> Drafts(const std::string& json, const LedgerOptions& options = {}) {
  return DraftsFromRequestText(json, options, kNow);
}

std::string Error(const std::string& json, const LedgerOptions& options = {}) {
  auto r = Drafts(json, options);
  return r.ok() ? "(accepted)" : r.status().message();
}

TEST(RequestTest, ReceiptWithSupplierAndInvoice) {
  auto r = Drafts(R"({"kind":"receipt","ndc":"42023-113-10","lot":"L1","expiry":"2027-06-30","containers":10,
      "container_amount":"500","container_volume_ml":"10","product":"Ketamine HCl 50 mg/mL","form":"injection, solution",
      "supplier":{"name":"Acme","address":"1 Main St","dea":"BB1388568"},"invoice":"INV-1","invoice_containers":10,
      "time":"2026-11-20T09:00:00-05:00","by":"JL"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  const Draft& d = (*r)[0];
  EXPECT_EQ(d.kind, Kind::kReceipt);
  EXPECT_EQ(d.amount_ug, 5000000);
  EXPECT_EQ(d.location, "main");
  EXPECT_EQ(d.event_time, "2026-11-20T14:00:00Z");
  EXPECT_NE(d.details.find("\"dea\":\"BB1388568\""), std::string::npos);
  EXPECT_NE(d.details.find("\"container_ug\":500000"), std::string::npos);
}

TEST(RequestTest, DeaNumbersAreChecked) {
  const std::string base = R"({"kind":"receipt","ndc":"1","lot":"L1","containers":1,"container_amount":"5","by":"JL",)";
  EXPECT_NE(Error(base + R"("supplier":{"name":"Acme","dea":"AB1234564"}})").find("supplier.dea: 'AB1234564' is not a valid DEA number"),
            std::string::npos);
  EXPECT_NE(Error(base + R"("supplier":{"name":"Acme","dea":"ZB1234563"}})").find("not a valid DEA number"), std::string::npos);
  EXPECT_NE(Error(base + R"("supplier":{"name":"Acme"}})").find("supplier.dea: is required"), std::string::npos);
  EXPECT_EQ(Error(base + R"("supplier":{"name":"Acme","dea":"CF1234563"}})"), "(accepted)");
}

TEST(RequestTest, WasteNeedsAnotherPersonAsWitness) {
  const std::string base = R"({"kind":"waste","lot":"L1","amount":"12.5","reason":"drawn-not-used","by":"Sam Lee")";
  EXPECT_NE(Error(base + "}").find("witness: is required"), std::string::npos);
  EXPECT_NE(Error(base + R"(,"witness":"Sam Lee"})").find("someone other than the person wasting"), std::string::npos);
  EXPECT_EQ(Error(base + R"(,"witness":"Kim Ortiz"})"), "(accepted)");
  LedgerOptions relaxed;
  relaxed.waste_witness_required = false;  // a state without the rule
  EXPECT_EQ(Error(base + "}", relaxed), "(accepted)");
}

TEST(RequestTest, TransferMakesTwoEntries) {
  auto r = Drafts(R"({"kind":"transfer","lot":"L1","amount":250,"from":"main","to":"room-2","by":"JL","request_id":"t-1"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].kind, Kind::kTransferOut);
  EXPECT_EQ((*r)[0].location, "main");
  EXPECT_EQ((*r)[1].kind, Kind::kTransferIn);
  EXPECT_EQ((*r)[1].location, "room-2");
  EXPECT_EQ((*r)[1].amount_ug, 250000);
  EXPECT_EQ((*r)[0].source, "request:t-1");
  EXPECT_EQ((*r)[1].source, "request:t-1#in");
  EXPECT_NE(Error(R"({"kind":"transfer","lot":"L1","amount":1,"from":"a","to":"a","by":"JL"})").find("to: must differ"),
            std::string::npos);
}

TEST(RequestTest, DestructionNeedsTwoWitnessesAndReturnsNameTheDistributor) {
  const std::string base = R"({"kind":"destruction","lot":"L1","amount":"500","by":"JL",)";
  EXPECT_NE(Error(base + R"("disposition":"destroyed","method":"rx destroyer","witnesses":["A"]})").find("needs 2 witnesses"),
            std::string::npos);
  EXPECT_NE(Error(base + R"("disposition":"destroyed","method":"m","witnesses":["JL","A"]})").find("needs 2 witnesses"),
            std::string::npos);
  EXPECT_EQ(Error(base + R"("disposition":"destroyed","method":"m","witnesses":["A","B"],"full_containers":1})"), "(accepted)");
  EXPECT_NE(Error(base + R"("disposition":"returned"})").find("reverse_distributor: is required"), std::string::npos);
  EXPECT_EQ(Error(base + R"("disposition":"returned","reverse_distributor":{"name":"RD Inc","dea":"AB1234563"}})"), "(accepted)");
}

TEST(RequestTest, LossCarriesWhatForm106Asks) {
  auto r = Drafts(R"({"kind":"loss","lot":"L1","amount":"20","by":"JL","loss_type":"employee-pilferage",
                      "description":"vial missing from the safe","discovered":"2026-11-22","police_report":"PR-1"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NE((*r)[0].details.find("\"discovered\":\"2026-11-22\""), std::string::npos);
  EXPECT_NE(Error(R"({"kind":"loss","lot":"L1","amount":"20","by":"JL","loss_type":"misplaced","description":"x"})")
                .find("loss_type: must be"),
            std::string::npos);
}

TEST(RequestTest, CountsAndAdjustments) {
  EXPECT_NE(Error(R"({"kind":"count","lot":"L1","amount":"10","by":"JL","inventory":"biennial"})").find("business: is required"),
            std::string::npos);
  EXPECT_EQ(Error(R"({"kind":"count","lot":"L1","amount":"10","by":"JL","inventory":"initial","business":"open","method":"estimated"})"),
            "(accepted)");
  auto adj = Drafts(R"({"kind":"adjustment","lot":"L1","change":"-0.5","reason":"count","by":"JL","corrects":7})");
  ASSERT_TRUE(adj.ok()) << adj.status().message();
  EXPECT_EQ((*adj)[0].change_ug, -500);
  EXPECT_NE(Error(R"({"kind":"adjustment","lot":"L1","change":"5","by":"JL"})").find("reason: is required"), std::string::npos);
}

TEST(RequestTest, BadInputIsNamed) {
  EXPECT_NE(Error("[").find("JSON"), std::string::npos);
  EXPECT_NE(Error("[]").find("a JSON object"), std::string::npos);
  EXPECT_NE(Error(R"({"kind":"gift"})").find("kind: 'gift' is not one of"), std::string::npos);
  EXPECT_NE(Error(R"({"kind":"order","lot":"L1"})").find("kind: 'order'"), std::string::npos);
  EXPECT_NE(Error(R"({"kind":"administration","lot":"L1","amount":"1","by":"A","patient":{"name":"P"},"colour":"red"})")
                .find("colour: unknown field"),
            std::string::npos);
  EXPECT_NE(Error(R"({"kind":"administration","lot":"L1","amount":0.0001,"by":"A","patient":{"name":"P"}})")
                .find("finer than 1 microgram"),
            std::string::npos);
  EXPECT_NE(Error(R"({"kind":"administration","lot":"L1","amount":"1","by":"A"})").find("patient: is required"),
            std::string::npos);
  EXPECT_NE(Error(R"({"kind":"administration","lot":"L1","amount":"1","by":"A","patient":{"name":"P"},"time":"yesterday"})")
                .find("time: 'yesterday'"),
            std::string::npos);
  EXPECT_NE(Error(R"({"kind":"receipt","lot":"L1","by":"A","ndc":"1","containers":-1})").find("containers"), std::string::npos);
  auto no_order = Drafts(R"({"kind":"administration","lot":"L1","amount":12.5,"by":"A","patient":{"name":"P"}})");
  ASSERT_TRUE(no_order.ok());
  EXPECT_EQ((*no_order)[0].amount_ug, 12500);
  EXPECT_EQ((*no_order)[0].flags, std::vector<std::string>{"no-order"});
  EXPECT_EQ((*no_order)[0].event_time, kNow);
}

}  // namespace
}  // namespace ketamine::ledger
