#include "ledger/reports.h"

#include <gtest/gtest.h>

#include "fhir/json.h"
#include "ledger/request.h"
#include "ledger_test_util.h"

namespace ketamine::ledger {
namespace {

class ReportsTest : public LedgerTest {
 protected:
  void Manual(const std::string& json, const std::string& now = "2026-11-23T15:00:00Z") {
    auto drafts = DraftsFromRequestText(json, ledger_->options(), now);
    ASSERT_TRUE(drafts.ok()) << drafts.status().message();
    auto r = ledger_->Append(*drafts);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  Table Report(const std::string& name, ReportOptions options = {}) {
    auto t = MakeReport(*ledger_, name, options);
    EXPECT_TRUE(t.ok()) << t.status().message();
    return t.ok() ? *t : Table{};
  }
  static std::string Column(const Table& t, size_t row, const std::string& name) {
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i] == name) return t.rows.at(row).at(i);
    }
    return "(no column " + name + ")";
  }
  static std::vector<std::string> Types(const Table& t) {
    std::vector<std::string> out;
    for (size_t r = 0; r < t.rows.size(); ++r) out.push_back(Column(t, r, "type"));
    return out;
  }
  void Clinic() {
    Manual(R"({"kind":"receipt","ndc":"42023-113-10","lot":"L1","expiry":"2027-06-30","containers":2,"container_amount":"500",
               "product":"Ketamine HCl 50 mg/mL","form":"injection","supplier":{"name":"Acme","dea":"BB1388568"},
               "invoice":"INV-1","invoice_containers":3,"by":"JL","time":"2026-11-01T09:00:00Z"})");
    Manual(R"({"kind":"administration","lot":"L1","amount":"112","by":"Sam Lee","order":"ORD-1",
               "patient":{"id":"MRN-1","name":"Alex Test","address":"1 Elm St"},"time":"2026-11-02T10:00:00Z"})");
    Manual(R"({"kind":"waste","lot":"L1","amount":"88","by":"Sam Lee","witness":"Kim Ortiz","reason":"drawn-not-used",
               "order":"ORD-1","time":"2026-11-02T10:05:00Z"})");
    Manual(R"({"kind":"waste","lot":"L1","amount":"10","by":"Sam Lee","witness":"Kim Ortiz","reason":"contaminated",
               "time":"2026-11-20T10:05:00Z"})");
    Manual(R"({"kind":"count","lot":"L1","amount":"780","by":"JL","inventory":"biennial","business":"close",
               "method":"estimated","time":"2026-11-21T18:00:00Z"})");
  }
};

TEST_F(ReportsTest, AdministrationLogHasTheFieldsOf130422c) {
  Clinic();
  Table t = Report("administration-log");
  ASSERT_EQ(t.rows.size(), 3u);  // the administration and two wastes ("disposed of in other manner")
  EXPECT_EQ(Column(t, 0, "kind"), "administration");
  EXPECT_EQ(Column(t, 0, "product"), "Ketamine HCl 50 mg/mL");
  EXPECT_EQ(Column(t, 0, "form"), "injection");
  EXPECT_EQ(Column(t, 0, "container_mg"), "500");
  EXPECT_EQ(Column(t, 0, "amount_mg"), "112");
  EXPECT_EQ(Column(t, 0, "patient_name"), "Alex Test");
  EXPECT_EQ(Column(t, 0, "patient_address"), "1 Elm St");
  EXPECT_EQ(Column(t, 0, "by"), "Sam Lee");
  EXPECT_EQ(Column(t, 1, "witness"), "Kim Ortiz");
  ReportOptions november_2;
  november_2.from = "2026-11-02";
  november_2.to = "2026-11-02";
  EXPECT_EQ(Report("administration-log", november_2).rows.size(), 2u);
  const std::string csv = ToCsv(t);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "seq,time,kind,location,ndc,product,form,container_mg,lot,amount_mg,patient_id,patient_name,patient_address,"
            "order,by,witness,reason,method,flags");
  auto bundle = ToFhirBundle(t);
  ASSERT_TRUE(bundle.ok());
  auto doc = fhir::ParseJson(*bundle);
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ((**doc)["entry"].Size(), 1u);  // administrations; disposals are in the CSV and JSON forms
  const auto& ma = (**doc)["entry"][0]["resource"];
  EXPECT_STREQ(ma["resourceType"].GetString(), "MedicationAdministration");
  EXPECT_EQ(ma["dosage"]["dose"]["value"].GetDouble(), 112.0);
}

TEST_F(ReportsTest, InventoryAsOfATime) {
  Clinic();
  ReportOptions before_waste;
  before_waste.as_of = "2026-11-02T10:01:00Z";
  before_waste.inventory_kind = "biennial";
  before_waste.business = "close";
  Table t = Report("inventory", before_waste);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(Column(t, 0, "on_hand_mg"), "888");
  EXPECT_EQ(Column(t, 0, "containers"), "1.77");  // 888 of 500 mg containers, estimated
  EXPECT_EQ(Column(t, 0, "inventory"), "biennial");
  Table now = Report("inventory");
  EXPECT_EQ(Column(now, 0, "on_hand_mg"), "790");
  EXPECT_EQ(Column(now, 0, "last_count_mg"), "780");
  EXPECT_EQ(Column(now, 0, "last_count_method"), "estimated");
  EXPECT_EQ(Column(now, 0, "expiry"), "2027-06-30");
  auto bundle = ToFhirBundle(now);
  ASSERT_TRUE(bundle.ok());
  EXPECT_NE(bundle->find("\"lotNumber\":\"L1\""), std::string::npos);
  EXPECT_NE(bundle->find("\"expirationDate\":\"2027-06-30\""), std::string::npos);
}

TEST_F(ReportsTest, DiscrepanciesAsAnAuditorChasesThem) {
  Clinic();
  // A count mismatch (780 counted, 790 book), an invoice for 3 containers with 2 received, and:
  Manual(R"({"kind":"receipt","ndc":"42023-113-10","lot":"L2","expiry":"2020-01-31","containers":1,"container_amount":"100",
             "supplier":{"name":"Acme","dea":"BB1388568"},"by":"JL","time":"2026-11-03T09:00:00Z"})");
  Manual(R"({"kind":"loss","lot":"L2","amount":"10","by":"JL","loss_type":"theft","description":"safe forced",
             "discovered":"2026-11-22T08:00:00Z"})");
  Draft flow = Make(Kind::kAdministration, "L9", 5000);
  flow.from_flow = true;
  flow.flags = {"no-order"};
  ASSERT_TRUE(ledger_->Append({flow}).ok());
  Table t = Report("discrepancies");
  std::vector<std::string> types = Types(t);
  for (const char* expected : {"receipt-invoice-mismatch", "receipt-without-invoice", "loss-reported", "no-order", "unknown-lot",
                               "overdraw", "count-mismatch", "negative-balance", "expired-on-hand"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), expected), types.end()) << expected;
  }
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (Column(t, r, "type") == "loss-reported") {
      EXPECT_NE(Column(t, r, "detail").find("Form 106 due by 2027-01-06"), std::string::npos) << Column(t, r, "detail");
    }
    if (Column(t, r, "type") == "count-mismatch") {
      EXPECT_EQ(Column(t, r, "detail"), "counted 780 mg, book 790 mg, difference -10 mg");
      EXPECT_EQ(Column(t, r, "severity"), "high");
    }
  }
  // The correction is a new entry; the mismatch then shows as corrected.
  Manual(R"({"kind":"adjustment","lot":"L1","change":"-10","reason":"biennial count","by":"JL","corrects":5})");
  Table after = Report("discrepancies");
  for (size_t r = 0; r < after.rows.size(); ++r) {
    if (Column(after, r, "type") == "count-mismatch") {
      EXPECT_EQ(Column(after, r, "severity"), "low");
    }
  }
  auto bundle = ToFhirBundle(after);
  ASSERT_TRUE(bundle.ok());
  EXPECT_NE(bundle->find("\"resourceType\":\"DetectedIssue\""), std::string::npos);
}

TEST_F(ReportsTest, OrdersAgainstAdministrationsPlusWaste) {
  Clinic();
  Draft order = Make(Kind::kOrder, "", 150000);
  order.from_flow = true;
  order.details = R"({"order":"ORD-1","ordered_known":true})";
  ASSERT_TRUE(ledger_->Append({order}).ok());
  // ORD-1: 112 given + 88 wasted = 200 mg against 150 mg ordered.
  Table t = Report("discrepancies");
  bool exceeded = false;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (Column(t, r, "type") == "order-exceeded") {
      exceeded = true;
      EXPECT_EQ(Column(t, r, "detail"), "order ORD-1: administered 112 mg + wasted 88 mg is more than the 150 mg ordered");
    }
  }
  EXPECT_TRUE(exceeded);
}

TEST_F(ReportsTest, WastePerClinicianAndPeriod) {
  Clinic();
  Manual(R"({"kind":"waste","lot":"L1","amount":"5","by":"Kim Ortiz","witness":"Sam Lee","reason":"x","time":"2026-12-01T10:00:00Z"})");
  Table t = Report("waste-by-clinician");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"2026-11", "Sam Lee", "2", "98", "2", "0"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2026-12", "Kim Ortiz", "1", "5", "1", "0"}));
  ReportOptions weekly;
  weekly.period = "week";
  EXPECT_EQ(Report("waste-by-clinician", weekly).rows[0][0], "2026-W45");
  weekly.period = "fortnight";
  EXPECT_FALSE(MakeReport(*ledger_, "waste-by-clinician", weekly).ok());
}

TEST_F(ReportsTest, EntriesExportForAnalytics) {
  Clinic();
  Table t = Report("entries");
  EXPECT_EQ(t.rows.size(), 5u);
  const std::string ndjson = ToNdjson(t);
  size_t lines = 0;
  for (size_t at = 0; (at = ndjson.find('\n', at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 5u);
  auto first = fhir::ParseJson(ndjson.substr(0, ndjson.find('\n')));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE((**first)["body"].IsObject());  // the body is JSON, not a string in JSON
  EXPECT_FALSE(ToFhirBundle(t).ok());
  EXPECT_FALSE(MakeReport(*ledger_, "everything", {}).ok());
  ReportOptions bad;
  bad.as_of = "soon";
  EXPECT_FALSE(MakeReport(*ledger_, "inventory", bad).ok());
}

}  // namespace
}  // namespace ketamine::ledger
