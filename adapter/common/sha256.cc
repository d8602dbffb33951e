#include "common/sha256.h"

#include <openssl/evp.h>

#include "common/check.h"

namespace ketamine {

struct Sha256::Impl {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
};

Sha256::Sha256() : impl_(new Impl) {
  KETAMINE_CHECK(impl_->md != nullptr && impl_->ctx != nullptr);
  EVP_DigestInit_ex2(impl_->ctx, impl_->md, nullptr);
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(impl_->ctx);
  EVP_MD_free(impl_->md);
  delete impl_;
}

void Sha256::Update(std::string_view bytes) { EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()); }
void Sha256::Update(const void* data, size_t size) { EVP_DigestUpdate(impl_->ctx, data, size); }

Sha256::Digest Sha256::Final() {
  Digest digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(impl_->ctx, digest.data(), &length);
  EVP_DigestInit_ex2(impl_->ctx, impl_->md, nullptr);
  return digest;
}

Sha256::Digest Sha256OfParts(std::initializer_list<std::string_view> parts) {
  thread_local Sha256 hasher;
  for (std::string_view part : parts) {
    hasher.Update(part);
    hasher.Update("\x1f", 1);
  }
  return hasher.Final();
}

std::string HexOf(const unsigned char* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace ketamine
