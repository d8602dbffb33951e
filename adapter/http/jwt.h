// SMART Backend Services client authentication (HL7 SMART App Launch, "backend services"): the
// gateway asks a FHIR server's token endpoint for an access token with a JWT it signs with its own
// private key (RS384 or ES384), instead of a shared secret. OpenSSL does the signing and base64.
//   auto signer = http::JwtSigner::Load("keys/kgw-es384.pem", "ES384");
//   std::string assertion = (*signer)->ClientAssertion("kgw", token_url, "key-1", now);
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::http {

// base64url without padding (RFC 7515 section 2), over OpenSSL's base64.
std::string Base64Url(std::string_view bytes);

class JwtSigner {
 public:
  // A PEM private key (RSA for RS384, P-384 EC for ES384). kInvalidInput naming the file when it
  // cannot be read, is not a private key, or does not fit the algorithm.
  static Result<std::shared_ptr<const JwtSigner>> Load(const std::string& pem_file, const std::string& algorithm);
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  // header.payload.signature for the given JSON texts.
  Result<std::string> Sign(std::string_view header_json, std::string_view payload_json) const;
  // The client assertion of a token request: iss = sub = client_id, aud = the token endpoint,
  // exp five minutes ahead (the most SMART allows), a fresh random jti.
  Result<std::string> ClientAssertion(const std::string& client_id, const std::string& token_url, const std::string& kid,
                                      std::chrono::system_clock::time_point now) const;
  const std::string& algorithm() const { return algorithm_; }

 private:
  JwtSigner() = default;
  std::string algorithm_;
  void* key_ = nullptr;  // EVP_PKEY*
};

}  // namespace ketamine::http
