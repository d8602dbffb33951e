#include "http/operators.h"

#include <gtest/gtest.h>

namespace ketamine::http {
namespace {

const std::string kAlice = "alice-0123456789abcdef0123456789abcdef";
const std::string kBob = "bob-0123456789abcdef0123456789abcdef-xyz";

Request WithAuthorization(const std::string& value) {
  Request r;
  r.method = "POST";
  r.path = "/admin/dead-letters/1/replay";
  r.headers["authorization"] = value;
  return r;
}

TEST(OperatorTokens, NamesTheOperatorWhoseTokenIsPresented) {
  auto tokens = OperatorTokens::Parse("# operators\n\nalice " + kAlice + "\n  bob\t" + kBob + "  \n", "ops");
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->Authorize(WithAuthorization("Bearer " + kAlice)), "alice");
  EXPECT_EQ(tokens->Authorize(WithAuthorization("bearer " + kBob)), "bob");
  EXPECT_EQ(tokens->Authorize(WithAuthorization("Bearer  " + kBob + " ")), "bob");
}

TEST(OperatorTokens, RefusesWhatIsNotAListedToken) {
  auto tokens = OperatorTokens::Parse("alice " + kAlice + "\n", "ops");
  ASSERT_TRUE(tokens.ok());
  EXPECT_FALSE(tokens->Authorize(Request{}));                                      // no header
  EXPECT_FALSE(tokens->Authorize(WithAuthorization("Bearer " + kAlice + "x")));    // longer
  EXPECT_FALSE(tokens->Authorize(WithAuthorization("Bearer " + kAlice.substr(1)))); // shorter
  EXPECT_FALSE(tokens->Authorize(WithAuthorization("Basic " + kAlice)));            // other scheme
  EXPECT_FALSE(tokens->Authorize(WithAuthorization("Bearer alice")));               // the name is no token
  EXPECT_FALSE(tokens->Authorize(WithAuthorization("Bearer")));
}

TEST(OperatorTokens, RefusesWeakOrMalformedFilesNamingTheLine) {
  auto short_token = OperatorTokens::Parse("alice " + kAlice + "\nbob short\n", "ops");
  ASSERT_FALSE(short_token.ok());
  EXPECT_NE(short_token.status().message().find("ops line 2"), std::string::npos) << short_token.status().message();
  EXPECT_NE(short_token.status().message().find("at least 32"), std::string::npos);
  auto no_name = OperatorTokens::Parse(kAlice + "\n", "ops");
  EXPECT_FALSE(no_name.ok());
  auto twice = OperatorTokens::Parse("alice " + kAlice + "\nalice " + kBob + "\n", "ops");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("named twice"), std::string::npos);
  auto two_words = OperatorTokens::Parse("alice " + kAlice + " " + kBob + "\n", "ops");
  EXPECT_FALSE(two_words.ok());
  auto empty = OperatorTokens::Parse("# nobody yet\n", "ops");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no operator token"), std::string::npos);
  EXPECT_FALSE(LoadOperatorTokens("/nonexistent/operators").ok());
  EXPECT_FALSE(LoadOperatorTokens("-").ok());          // never standard input
  EXPECT_FALSE(LoadOperatorTokens("/dev/zero").ok());  // never a device
}

}  // namespace
}  // namespace ketamine::http
