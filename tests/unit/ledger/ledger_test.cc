#include "ledger/ledger.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <random>
#include <thread>

#include "ledger_test_util.h"

namespace ketamine::ledger {
namespace {

// Runs SQL on the ledger file behind the ledger's back (as someone with the file could).
void Tamper(const std::filesystem::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / Ledger::kFileName).c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

constexpr const char* kDropTriggers =
    "DROP TRIGGER ledger_entries_no_update; DROP TRIGGER ledger_entries_no_delete;";

TEST_F(LedgerTest, ScenarioBalancesComputedByHand) {
  // Received 10 vials of 500 mg (5000 mg); gave 112 mg, wasted 88 mg; moved 1000 mg to the
  // infusion room; a count of 3790 mg; an adjustment of -10 mg; a loss of 50 mg; 500 mg destroyed.
  EXPECT_EQ(Post({Make(Kind::kReceipt, "L1", 5000000)}), 5000000);
  EXPECT_EQ(Post({Make(Kind::kAdministration, "L1", 112000)}), 4888000);
  EXPECT_EQ(Post({Make(Kind::kWaste, "L1", 88000)}), 4800000);
  Draft out = Make(Kind::kTransferOut, "L1", 1000000);
  Draft in = Make(Kind::kTransferIn, "L1", 1000000, "room-2");
  EXPECT_EQ(Post({out, in}), 1000000);  // room-2 after the transfer
  EXPECT_EQ(Post({Make(Kind::kCount, "L1", 3790000)}), 3800000);  // a count keeps the book
  EXPECT_EQ(Post({Adjust("L1", -10000)}), 3790000);
  EXPECT_EQ(Post({Make(Kind::kLoss, "L1", 50000)}), 3740000);
  EXPECT_EQ(Post({Make(Kind::kDestruction, "L1", 500000, "room-2")}), 500000);
  auto balances = ledger_->Balances();
  ASSERT_TRUE(balances.ok());
  ASSERT_EQ(balances->size(), 2u);
  EXPECT_EQ((*balances)[0].location, "main");
  EXPECT_EQ((*balances)[0].balance_ug, 3740000);
  EXPECT_EQ((*balances)[0].ndc, "42023-113-10");
  EXPECT_EQ((*balances)[1].location, "room-2");
  EXPECT_EQ((*balances)[1].balance_ug, 500000);
  EXPECT_EQ((*balances)[1].ndc, "42023-113-10");  // the lot's NDC follows it
  auto verdict = ledger_->Verify();
  ASSERT_TRUE(verdict.ok());
  EXPECT_TRUE(verdict->ok) << verdict->problem;
  EXPECT_EQ(verdict->entries, 9);
}

TEST_F(LedgerTest, ManualOverdrawIsRefusedWithTheReasonAndNothingIsWritten) {
  Post({Make(Kind::kReceipt, "L1", 100000)});
  auto r = ledger_->Append({Make(Kind::kAdministration, "L1", 60000), Make(Kind::kAdministration, "L1", 50000)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("would make lot L1 at main negative (balance 40 mg)"), std::string::npos)
      << r.status().message();
  auto head = ledger_->GetHead();
  EXPECT_EQ(head->seq, 1);  // the batch is all or nothing
  auto unknown = ledger_->Append({Make(Kind::kWaste, "NEVER", 1000)});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("never received"), std::string::npos);
  auto mismatch = ledger_->Append({[] {
    Draft d = Make(Kind::kReceipt, "L1", 1000);
    d.ndc = "0409-2051-05";
    return d;
  }()});
  EXPECT_FALSE(mismatch.ok());
}

TEST_F(LedgerTest, FlowPostingsAreNeverRefusedButFlagged) {
  Draft given = Make(Kind::kAdministration, "NEVER-RECEIVED", 112000);
  given.from_flow = true;
  given.source = "MAR|CLINIC|1|ledger|urn:uuid:a#administration";
  auto r = ledger_->Append({given});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].balance_ug, -112000);
  EXPECT_NE(r->entries[0].body.find("\"flags\":[\"unknown-lot\",\"overdraw\"]"), std::string::npos) << r->entries[0].body;
  // The same source again (a resend): not appended.
  auto again = ledger_->Append({given});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->entries.size(), 0u);
  EXPECT_EQ(again->duplicates, 1u);
  EXPECT_EQ(ledger_->GetHead()->seq, 1);
}

TEST_F(LedgerTest, DraftChecksNameTheEntry) {
  Draft no_lot = Make(Kind::kAdministration, "", 1000);
  auto r = ledger_->Append({no_lot});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("entry 1 (administration): lot is required"), std::string::npos);
  Draft zero = Make(Kind::kReceipt, "L1", 0);
  EXPECT_FALSE(ledger_->Append({zero}).ok());
  Draft bad_details = Make(Kind::kReceipt, "L1", 10);
  bad_details.details = "[1]";
  EXPECT_FALSE(ledger_->Append({bad_details}).ok());
}

TEST_F(LedgerTest, TriggersRefuseUpdatesAndDeletes) {
  Post({Make(Kind::kReceipt, "L1", 1000)});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / Ledger::kFileName).c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE ledger_entries SET quantity_ug = 2000", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("append-only"), std::string::npos);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM ledger_entries", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(ledger_->Verify()->ok);
}

class TamperTest : public LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    Post({Make(Kind::kReceipt, "L1", 5000000)});
    for (int i = 0; i < 5; ++i) Post({Make(Kind::kAdministration, "L1", 100000 + i)});  // entries 2..6
  }
};

TEST_F(TamperTest, AChangedEntryIsNamed) {
  Tamper(dir_, std::string(kDropTriggers) + "UPDATE ledger_entries SET quantity_ug = -1000 WHERE seq = 3;");
  auto v = ledger_->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 3);
  EXPECT_EQ(v->problem, "entry 3 was changed: its content does not match its hash");
  EXPECT_EQ(v->entries, 2);
}

TEST_F(TamperTest, AChangedBodyIsNamed) {
  Tamper(dir_, std::string(kDropTriggers) + "UPDATE ledger_entries SET body = replace(body, 'JL', 'XX') WHERE seq = 5;");
  auto v = ledger_->Verify();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 5);
}

TEST_F(TamperTest, ARemovedEntryIsNamed) {
  Tamper(dir_, std::string(kDropTriggers) + "DELETE FROM ledger_entries WHERE seq = 4;");
  auto v = ledger_->Verify();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 4);
  EXPECT_NE(v->problem.find("entry 4 was removed"), std::string::npos) << v->problem;
}

TEST_F(TamperTest, SwappedEntriesAreNamed) {
  // Rows 3 and 4 trade places (every column but seq): each row is intact, the order is not.
  Tamper(dir_, std::string(kDropTriggers) +
                   "CREATE TEMP TABLE s AS SELECT * FROM ledger_entries WHERE seq IN (3, 4);"
                   "UPDATE ledger_entries SET (recorded_at, kind, location, ndc, lot, event_time, quantity_ug, balance_ug,"
                   " source, body, prev_hash, hash) = (SELECT recorded_at, kind, location, ndc, lot, event_time, quantity_ug,"
                   " balance_ug, source, body, prev_hash, hash FROM s WHERE s.seq = 7 - ledger_entries.seq)"
                   " WHERE seq IN (3, 4);");
  auto v = ledger_->Verify();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 3);
  EXPECT_NE(v->problem.find("entry 3 does not follow entry 2: entries were reordered"), std::string::npos) << v->problem;
}

TEST_F(TamperTest, TruncationIsFoundWithAnAnchor) {
  auto head = ledger_->GetHead();
  const std::string anchor = std::to_string(head->seq) + ":" + head->hash;
  EXPECT_TRUE(ledger_->Verify(anchor)->ok);
  Tamper(dir_, std::string(kDropTriggers) + "DELETE FROM ledger_entries WHERE seq = 6;");
  EXPECT_TRUE(ledger_->Verify()->ok);  // without an anchor the shorter chain is consistent
  auto v = ledger_->Verify(anchor);
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 6);
  EXPECT_NE(v->problem.find("truncated"), std::string::npos);
  EXPECT_EQ(ledger_->Verify("nonsense").status().code(), StatusCode::kInvalidInput);
}

TEST_F(LedgerTest, ALargeLedgerIsCheckedInRangesAndTheirBordersToo) {
  // 210,000 entries: verify splits them between threads; a change in the second range and a
  // removal right at the border between two ranges are named as in a serial walk.
  Post({Make(Kind::kReceipt, "L1", 1000000000)});
  for (int done = 1; done < 210000; done += 5000) {
    std::vector<Draft> drafts(5000, Make(Kind::kAdministration, "L1", 1));
    ASSERT_TRUE(ledger_->Append(drafts).ok());
  }
  auto clean = ledger_->Verify();
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->ok) << clean->problem;
  EXPECT_EQ(clean->entries, 210001);
  EXPECT_EQ(clean->head.seq, 210001);
  const int64_t border = 1 + 210001 / 2;  // the first entry of the second range with two threads
  Tamper(dir_, std::string(kDropTriggers) + "UPDATE ledger_entries SET quantity_ug = -2 WHERE seq = 180000;");
  auto changed = ledger_->Verify();
  EXPECT_FALSE(changed->ok);
  EXPECT_EQ(changed->first_bad_seq, 180000);
  Tamper(dir_, "DELETE FROM ledger_entries WHERE seq = " + std::to_string(border) + ";");
  auto removed = ledger_->Verify();
  EXPECT_FALSE(removed->ok);
  EXPECT_EQ(removed->first_bad_seq, border);
  EXPECT_NE(removed->problem.find("was removed"), std::string::npos) << removed->problem;
}

TEST_F(LedgerTest, RandomSequencesKeepTheBalanceEquation) {
  // balance = receipts - administrations - waste +/- adjustments - losses - destructions +/-
  // transfers, per lot and location, after any sequence; refusals change nothing.
  std::mt19937_64 random(20261123);
  const std::vector<std::string> lots = {"A", "B", "C"};
  const std::vector<std::string> places = {"main", "room-2"};
  std::map<std::pair<std::string, std::string>, int64_t> model;
  std::map<std::pair<std::string, std::string>, bool> received;
  int refused = 0, appended = 0;
  for (int step = 0; step < 1500; ++step) {
    const std::string lot = lots[random() % lots.size()];
    const std::string place = places[random() % places.size()];
    const int64_t amount = static_cast<int64_t>(random() % 400000) + 1;
    const int op = static_cast<int>(random() % 8);
    auto key = std::make_pair(place, lot);
    std::vector<Draft> drafts;
    std::map<std::pair<std::string, std::string>, int64_t> change;
    switch (op) {
      case 0:
        drafts = {Make(Kind::kReceipt, lot, amount * 3, place)};
        change[key] = amount * 3;
        break;
      case 1:
        drafts = {Make(Kind::kAdministration, lot, amount, place)};
        change[key] = -amount;
        break;
      case 2:
        drafts = {Make(Kind::kWaste, lot, amount, place)};
        change[key] = -amount;
        break;
      case 3: {
        const int64_t signed_amount = random() % 2 ? amount : -amount;
        drafts = {Adjust(lot, signed_amount)};
        drafts[0].location = place;
        change[key] = signed_amount;
        break;
      }
      case 4: {
        const std::string other = place == "main" ? "room-2" : "main";
        drafts = {Make(Kind::kTransferOut, lot, amount, place), Make(Kind::kTransferIn, lot, amount, other)};
        change[key] = -amount;
        change[{other, lot}] = amount;
        break;
      }
      case 5:
        drafts = {Make(Kind::kLoss, lot, amount, place)};
        change[key] = -amount;
        break;
      case 6:
        drafts = {Make(Kind::kDestruction, lot, amount, place)};
        change[key] = -amount;
        break;
      default:
        drafts = {Make(Kind::kCount, lot, amount, place)};
        change[key] = 0;
        break;
    }
    // What the model says: refused when a taking kind overdraws or takes from an unknown lot.
    bool should_refuse = false;
    for (const auto& [k, delta] : change) {
      if (delta < 0 && (!received[k] || model[k] + delta < 0)) should_refuse = true;
    }
    auto r = ledger_->Append(drafts);
    ASSERT_EQ(r.ok(), !should_refuse) << "step " << step << ": " << (r.ok() ? "appended" : r.status().message());
    if (!r.ok()) {
      ++refused;
      continue;
    }
    ++appended;
    for (const auto& [k, delta] : change) {
      model[k] += delta;
      received[k] = true;
    }
    for (const Entry& e : r->entries) EXPECT_EQ(e.balance_ug, (model[{e.location, e.lot}])) << "step " << step;
  }
  EXPECT_GT(refused, 50);
  EXPECT_GT(appended, 500);
  auto balances = ledger_->Balances();
  ASSERT_TRUE(balances.ok());
  for (const Balance& b : *balances) EXPECT_EQ(b.balance_ug, (model[{b.location, b.lot}])) << b.location << " " << b.lot;
  // The same equation from the entries themselves.
  std::map<std::pair<std::string, std::string>, int64_t> summed;
  ASSERT_TRUE(ledger_->ForEach({}, [&](const Entry& e) {
    summed[{e.location, e.lot}] += e.quantity_ug;
    return true;
  }).ok());
  for (const auto& [k, v] : summed) EXPECT_EQ(v, model[k]);
  auto v = ledger_->Verify();
  EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(LedgerTest, TwoWritersKeepOneChain) {
  // A second Ledger on the same folder is a second connection, as another process would have.
  auto other = Ledger::Open(dir_, options_);
  ASSERT_TRUE(other.ok());
  Post({Make(Kind::kReceipt, "L1", 100000000)});
  constexpr int kEach = 300;
  auto writer = [&](Ledger* ledger, const std::string& who) {
    for (int i = 0; i < kEach; ++i) {
      Draft d = Make(Kind::kAdministration, "L1", 1000);
      d.by = who;
      auto r = ledger->Append({d});
      ASSERT_TRUE(r.ok()) << r.status().message();
    }
  };
  std::thread a(writer, ledger_.get(), "A");
  std::thread b(writer, other->get(), "B");
  a.join();
  b.join();
  auto v = ledger_->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->entries, 1 + 2 * kEach);
  EXPECT_EQ(ledger_->Balances()->at(0).balance_ug, 100000000 - 2 * kEach * 1000);
}

TEST_F(LedgerTest, ForEachFilters) {
  Post({Make(Kind::kReceipt, "L1", 5000), Make(Kind::kReceipt, "L2", 5000)});
  Draft late = Make(Kind::kAdministration, "L2", 1000);
  late.event_time = "2026-12-01T10:00:00Z";
  Post({late});
  int n = 0;
  EntryFilter filter;
  filter.lot = "L2";
  filter.from_time = "2026-11-30T00:00:00Z";
  ASSERT_TRUE(ledger_->ForEach(filter, [&](const Entry& e) {
    EXPECT_EQ(e.kind, Kind::kAdministration);
    ++n;
    return true;
  }).ok());
  EXPECT_EQ(n, 1);
}

TEST(LedgerOptionsTest, ReadsAndRefusesWithThePath) {
  rapidjson::Document d;
  d.Parse(R"({"registration": "AB1234563", "location": "safe", "waste_witness_required": false, "destruction_witnesses": 2})");
  auto o = LedgerOptions::FromJson(d, "ledger");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->location, "safe");
  EXPECT_FALSE(o->waste_witness_required);
  d.Parse(R"({"registration": "AB1234564"})");
  auto bad = LedgerOptions::FromJson(d, "ledger");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ledger.registration"), std::string::npos);
  d.Parse(R"({"witness": true})");
  EXPECT_NE(LedgerOptions::FromJson(d, "ledger").status().message().find("ledger.witness unknown key"), std::string::npos);
}

}  // namespace
}  // namespace ketamine::ledger
