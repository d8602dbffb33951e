#include "store/sqlite_terms.h"

#include <gtest/gtest.h>

namespace ketamine::store {
namespace {

using Op = SearchCondition::Op;

TEST(SqliteTermsTest, KeepsEachEntryOnceAndOnlyThoseNotLookedUpByValue) {
  const std::string terms = EncodeTerms({{"code", "http://loinc.org", "72514-3"},
                                         {"subject", "", "Patient/1"},
                                         {"identifier", "urn:x", "1"},
                                         {"code", "http://loinc.org", "72514-3"},
                                         {"date", "", "2026-11-23T14:00:00Z"}});
  EXPECT_EQ(terms, EncodeTerms({{"date", "", "2026-11-23T14:00:00Z"},
                                {"code", "http://loinc.org", "72514-3"}}));
  EXPECT_TRUE(TermsMatch(terms, {"code", Op::kEq, true, "http://loinc.org", "72514-3"}));
  EXPECT_TRUE(TermsMatch(terms, {"code", Op::kEq, false, "", "72514-3"}));
  EXPECT_FALSE(TermsMatch(terms, {"code", Op::kEq, true, "", "72514-3"}));  // "|code": no system
  EXPECT_FALSE(TermsMatch(terms, {"subject", Op::kEq, false, "", "Patient/1"}));
  EXPECT_TRUE(TermsMatch(terms, {"date", Op::kGe, false, "", "2026-11-23"}));
  EXPECT_TRUE(TermsMatch(terms, {"date", Op::kPrefix, false, "", "2026-11"}));
  EXPECT_FALSE(TermsMatch(terms, {"date", Op::kLt, false, "", "2026-11-23"}));
  EXPECT_TRUE(TermsMatch(terms, {"date", Op::kEq, false, "", ""}));  // has a date at all
  EXPECT_FALSE(TermsMatch(terms, {"status", Op::kEq, false, "", ""}));
}

TEST(SqliteTermsTest, AnyBytesRoundTripAndADamagedBlobMatchesNothing) {
  const std::string odd =
      std::string("a\x1e\x1f\0b", 5) + std::string(300, 'x');  // separators, NUL, a 2-byte length
  const std::string terms = EncodeTerms({{"name", "", odd}});
  EXPECT_TRUE(TermsMatch(terms, {"name", Op::kEq, false, "", odd}));
  EXPECT_TRUE(TermsMatch(terms, {"name", Op::kPrefix, false, "", "a\x1e"}));
  EXPECT_FALSE(TermsMatch(terms.substr(0, terms.size() - 1), {"name", Op::kEq, false, "", odd}));
  EXPECT_FALSE(TermsMatch(std::string(12, '\xff'), {"name", Op::kEq, false, "", ""}));
  EXPECT_FALSE(TermsMatch("", {"name", Op::kEq, false, "", ""}));
}

TEST(SqliteTermsTest, EdgeIsTheHighestOrLowestValueOfTheParamAndNoneWithoutOne) {
  const std::string terms = EncodeTerms({{"date", "", "2026-11-23T14:00:00Z"},
                                         {"date", "", "2026-11-01"},
                                         {"code", "http://loinc.org", "72514-3"},
                                         {"status", "", "final"}});
  EXPECT_EQ(TermsEdge(terms, "date", true), std::optional<std::string_view>("2026-11-23T14:00:00Z"));
  EXPECT_EQ(TermsEdge(terms, "date", false), std::optional<std::string_view>("2026-11-01"));
  EXPECT_EQ(TermsEdge(terms, "name", true), std::nullopt);
  EXPECT_EQ(TermsEdge("", "date", false), std::nullopt);
  EXPECT_EQ(TermsEdge(terms.substr(0, 3), "date", true), std::nullopt);  // cut short: what parses, here nothing
}

}  // namespace
}  // namespace ketamine::store
