// SHA-256 over OpenSSL's EVP interface, with the digest fetched once and the context reused:
// OpenSSL 3's implicit fetch in EVP_sha256() and a fresh EVP_MD_CTX per call cost more than the
// hash of a few hundred bytes. One Sha256 per thread (it is not shared).
//   Sha256 h; h.Update("a"); h.Update("b"); Sha256::Digest d = h.Final();  // h is ready again
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ketamine {

class Sha256 {
 public:
  using Digest = std::array<unsigned char, 32>;
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view bytes);
  void Update(const void* data, size_t size);
  // The digest of everything updated since the last Final; starts over.
  Digest Final();

 private:
  struct Impl;
  Impl* impl_;
};

// The digest of `parts`, each followed by a unit separator (0x1F) so ("ab","c") != ("a","bc"),
// on a per-thread hasher.
Sha256::Digest Sha256OfParts(std::initializer_list<std::string_view> parts);

std::string HexOf(const unsigned char* bytes, size_t size);
inline std::string HexOf(const Sha256::Digest& digest) { return HexOf(digest.data(), digest.size()); }

}  // namespace ketamine
