#include "http/jwt.h"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <vector>

#include "common/sha256.h"

namespace ketamine::http {

std::string Base64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

JwtSigner::~JwtSigner() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

Result<std::shared_ptr<const JwtSigner>> JwtSigner::Load(const std::string& pem_file, const std::string& algorithm) {
  if (algorithm != "RS384" && algorithm != "ES384") return InvalidInput("algorithm '" + algorithm + "' is not RS384 or ES384");
  FILE* f = std::fopen(pem_file.c_str(), "r");
  if (f == nullptr) return InvalidInput("cannot read the private key " + pem_file);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return InvalidInput(pem_file + " holds no PEM private key (unencrypted)");
  const bool rsa = EVP_PKEY_is_a(key, "RSA") == 1;
  const bool ec384 = EVP_PKEY_is_a(key, "EC") == 1 && EVP_PKEY_get_bits(key) == 384;
  if ((algorithm == "RS384" && !rsa) || (algorithm == "ES384" && !ec384)) {
    EVP_PKEY_free(key);
    return InvalidInput(pem_file + " is not " + (algorithm == "RS384" ? "an RSA key" : "a P-384 EC key") + " for " + algorithm);
  }
  std::shared_ptr<JwtSigner> signer(new JwtSigner());
  signer->algorithm_ = algorithm;
  signer->key_ = key;
  return std::shared_ptr<const JwtSigner>(std::move(signer));
}

Result<std::string> JwtSigner::Sign(std::string_view header_json, std::string_view payload_json) const {
  const std::string input = Base64Url(header_json) + "." + Base64Url(payload_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t length = 0;
  std::vector<unsigned char> signature;
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
            EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  if (ok) {
    signature.resize(length);
    ok = EVP_DigestSign(ctx, signature.data(), &length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    signature.resize(length);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Internal("JWT signing failed");
  std::string raw(signature.begin(), signature.end());
  if (algorithm_ == "ES384") {
    // JWS wants r and s as two 48-byte big-endian numbers, not OpenSSL's DER sequence (RFC 7518 3.4).
    const unsigned char* p = signature.data();
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size()));
    if (sig == nullptr) return Internal("JWT signing: unexpected ECDSA signature");
    unsigned char rs[96];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 48);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 48, 48);
    ECDSA_SIG_free(sig);
    raw.assign(reinterpret_cast<const char*>(rs), sizeof(rs));
  }
  return input + "." + Base64Url(raw);
}

Result<std::string> JwtSigner::ClientAssertion(const std::string& client_id, const std::string& token_url,
                                               const std::string& kid, std::chrono::system_clock::time_point now) const {
  unsigned char random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) return Internal("no random bytes for the JWT id");
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + 300;
  rapidjson::StringBuffer header, payload;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(header);
    w.StartObject();
    w.Key("alg");
    w.String(algorithm_.c_str());
    w.Key("typ");
    w.String("JWT");
    if (!kid.empty()) {
      w.Key("kid");
      w.String(kid.c_str());
    }
    w.EndObject();
  }
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(payload);
    w.StartObject();
    w.Key("iss");
    w.String(client_id.c_str());
    w.Key("sub");
    w.String(client_id.c_str());
    w.Key("aud");
    w.String(token_url.c_str());
    w.Key("exp");
    w.Int64(exp);
    w.Key("jti");
    w.String(HexOf(random, sizeof(random)).c_str());
    w.EndObject();
  }
  return Sign(std::string_view(header.GetString(), header.GetSize()), std::string_view(payload.GetString(), payload.GetSize()));
}

}  // namespace ketamine::http
