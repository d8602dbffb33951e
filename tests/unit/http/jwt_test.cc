#include "http/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace ketamine::http {
namespace {

std::string Unbase64Url(std::string text) {
  for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (text.size() % 4 != 0) text += '=';
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  out.resize(static_cast<size_t>(n) - (text.size() - text.find_last_not_of('=') - 1));
  return out;
}

TEST(JwtTest, Base64UrlHasNoPaddingAndUrlLetters) {
  EXPECT_EQ(Base64Url(std::string("\x03\xec\xff\xe0\xc1", 5)), "A-z_4ME");  // RFC 7515 appendix C
  EXPECT_EQ(Base64Url(""), "");
  EXPECT_EQ(Base64Url("f"), "Zg");
  EXPECT_EQ(Base64Url("fo"), "Zm8");
  EXPECT_EQ(Base64Url("foo"), "Zm9v");
}

class JwtSignerTest : public testing::Test {
 protected:
  void SetUp() override {
    file_ = std::filesystem::temp_directory_path() / ("kgw-jwt-" + std::to_string(::getpid()) + ".pem");
    key_ = EVP_RSA_gen(2048);
    FILE* f = std::fopen(file_.c_str(), "w");
    PEM_write_PrivateKey(f, key_, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
  }
  void TearDown() override {
    EVP_PKEY_free(key_);
    std::filesystem::remove(file_);
  }
  std::filesystem::path file_;
  EVP_PKEY* key_ = nullptr;
};

TEST_F(JwtSignerTest, AnRs384AssertionVerifiesWithThePublicKey) {
  auto signer = JwtSigner::Load(file_, "RS384");
  ASSERT_TRUE(signer.ok()) << signer.status().message();
  auto jwt = (*signer)->ClientAssertion("kgw", "https://fhir.example/token", "k1", std::chrono::system_clock::time_point(std::chrono::seconds(1800000000)));
  ASSERT_TRUE(jwt.ok());
  const size_t dot1 = jwt->find('.'), dot2 = jwt->rfind('.');
  EXPECT_EQ(Unbase64Url(jwt->substr(0, dot1)), R"({"alg":"RS384","typ":"JWT","kid":"k1"})");
  const std::string claims = Unbase64Url(jwt->substr(dot1 + 1, dot2 - dot1 - 1));
  EXPECT_NE(claims.find(R"("iss":"kgw","sub":"kgw","aud":"https://fhir.example/token","exp":1800000300,"jti":")"),
            std::string::npos)
      << claims;
  const std::string input = jwt->substr(0, dot2), signature = Unbase64Url(jwt->substr(dot2 + 1));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha384(), nullptr, key_), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  // Two assertions never share a jti.
  auto jti = [](const std::string& token) {
    const size_t a = token.find('.') + 1, b = token.rfind('.');
    const std::string c = Unbase64Url(token.substr(a, b - a));
    return c.substr(c.find("\"jti\":\""));
  };
  auto again = (*signer)->ClientAssertion("kgw", "https://fhir.example/token", "k1", std::chrono::system_clock::now());
  EXPECT_NE(jti(*again), jti(*jwt));
}

TEST_F(JwtSignerTest, KeysThatDoNotFitAreRefused) {
  EXPECT_FALSE(JwtSigner::Load(file_, "ES384").ok());  // an RSA key
  EXPECT_FALSE(JwtSigner::Load(file_, "HS256").ok());
  EXPECT_FALSE(JwtSigner::Load(file_.string() + ".missing", "RS384").ok());
}

}  // namespace
}  // namespace ketamine::http
