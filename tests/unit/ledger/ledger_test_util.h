// Helpers of the ledger tests: a fresh data folder per test and drafts with defaults.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "ledger/ledger.h"

namespace ketamine::ledger {

class LedgerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgw-ledger-" + std::to_string(::getpid()) + "-" + testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto opened = Ledger::Open(dir_, options_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    ledger_ = std::move(*opened);
  }
  void TearDown() override {
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }

  static Draft Make(Kind kind, const std::string& lot, int64_t amount_ug, const std::string& location = "main") {
    Draft d;
    d.kind = kind;
    d.location = location;
    d.lot = lot;
    d.amount_ug = amount_ug;
    d.event_time = "2026-11-23T15:00:00Z";
    d.by = "JL";
    if (kind == Kind::kReceipt) d.ndc = "42023-113-10";
    return d;
  }
  static Draft Adjust(const std::string& lot, int64_t change_ug) {
    Draft d = Make(Kind::kAdjustment, lot, 0);
    d.change_ug = change_ug;
    return d;
  }
  // Appends and expects success; the balance after the last entry.
  int64_t Post(std::vector<Draft> drafts) {
    auto r = ledger_->Append(drafts);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok() || r->entries.empty()) return INT64_MIN;
    return r->entries.back().balance_ug;
  }

  LedgerOptions options_;
  std::filesystem::path dir_;
  std::unique_ptr<Ledger> ledger_;
};

}  // namespace ketamine::ledger
