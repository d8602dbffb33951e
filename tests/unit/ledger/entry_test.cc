#include "ledger/entry.h"

#include <gtest/gtest.h>

namespace ketamine::ledger {
namespace {

TEST(AmountTest, ParsesExactMicrograms) {
  EXPECT_EQ(*ParseAmountUg("12.5", "mg"), 12500);
  EXPECT_EQ(*ParseAmountUg("0.001", "mg"), 1);
  EXPECT_EQ(*ParseAmountUg("112", "mg"), 112000);
  EXPECT_EQ(*ParseAmountUg("250", "mcg"), 250);
  EXPECT_EQ(*ParseAmountUg("1.5", "g"), 1500000);
  EXPECT_EQ(*ParseAmountUg("12.500", "mg"), 12500);  // trailing zeros are not precision
  EXPECT_EQ(*ParseAmountUg(".5", "mg"), 500);
  EXPECT_EQ(*ParseAmountUg("-5", "mg", /*allow_negative=*/true), -5000);
}

TEST(AmountTest, RefusesWhatIsNotExact) {
  EXPECT_FALSE(ParseAmountUg("0.0001", "mg").ok());  // finer than a microgram
  EXPECT_FALSE(ParseAmountUg("1.5", "ug").ok());
  EXPECT_FALSE(ParseAmountUg("-5", "mg").ok());
  EXPECT_FALSE(ParseAmountUg("5", "mL").ok());
  EXPECT_FALSE(ParseAmountUg("", "mg").ok());
  EXPECT_FALSE(ParseAmountUg(".", "mg").ok());
  EXPECT_FALSE(ParseAmountUg("1e3", "mg").ok());
  EXPECT_FALSE(ParseAmountUg("12.", "mg").ok());
  EXPECT_FALSE(ParseAmountUg("9999999999999", "mg").ok());
}

TEST(AmountTest, FormatsMilligrams) {
  EXPECT_EQ(FormatMg(12500), "12.5");
  EXPECT_EQ(FormatMg(112000), "112");
  EXPECT_EQ(FormatMg(1), "0.001");
  EXPECT_EQ(FormatMg(-3), "-0.003");
  EXPECT_EQ(FormatMg(0), "0");
  EXPECT_EQ(FormatMg(INT64_MIN), "-9223372036854775.808");
}

TEST(KindTest, NamesRoundTripAndSigns) {
  for (Kind k : {Kind::kReceipt, Kind::kAdministration, Kind::kWaste, Kind::kTransferOut, Kind::kTransferIn, Kind::kCount,
                 Kind::kAdjustment, Kind::kLoss, Kind::kDestruction, Kind::kOrder}) {
    EXPECT_EQ(KindFromName(KindName(k)), k);
  }
  EXPECT_EQ(KindSign(Kind::kReceipt), 1);
  EXPECT_EQ(KindSign(Kind::kWaste), -1);
  EXPECT_EQ(KindSign(Kind::kCount), 0);
  Draft d;
  d.kind = Kind::kAdjustment;
  d.change_ug = -7;
  EXPECT_EQ(d.QuantityUg(), -7);
}

}  // namespace
}  // namespace ketamine::ledger
