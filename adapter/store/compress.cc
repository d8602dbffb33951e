#include "store/compress.h"

#include <lz4.h>

#include <cstdint>

namespace ketamine::store {

namespace {

constexpr size_t kHeader = 4;
// Larger than any message or payload the gateway takes (its HTTP and MLLP limits are far lower);
// a header claiming more is damage, not data.
constexpr uint32_t kMaxPlain = 256u << 20;

}  // namespace

std::string Lz4Pack(std::string_view plain) {
  if (plain.size() < 64 || plain.size() > kMaxPlain) return {};
  const int bound = LZ4_compressBound(static_cast<int>(plain.size()));
  std::string packed(kHeader + static_cast<size_t>(bound), '\0');
  const auto n = static_cast<uint32_t>(plain.size());
  for (size_t i = 0; i < kHeader; ++i) packed[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  const int written = LZ4_compress_default(plain.data(), packed.data() + kHeader, static_cast<int>(plain.size()), bound);
  if (written <= 0) return {};
  packed.resize(kHeader + static_cast<size_t>(written));
  if (packed.size() > plain.size() - plain.size() / 8) return {};
  return packed;
}

Result<std::string> Lz4Unpack(std::string_view packed) {
  if (packed.size() < kHeader) return Internal("a packed blob shorter than its header");
  uint32_t n = 0;
  for (size_t i = 0; i < kHeader; ++i) n |= static_cast<uint32_t>(static_cast<unsigned char>(packed[i])) << (8 * i);
  // LZ4 expands at most ~255 times (a match length grows by 255 per byte), so a header that
  // claims more than that of its block is damage: refused before anything is allocated for it.
  const uint64_t most = static_cast<uint64_t>(packed.size() - kHeader) * 255 + 16;
  if (n > kMaxPlain || n > most) return Internal("a packed blob that claims " + std::to_string(n) + " bytes");
  std::string plain(n, '\0');
  const int got = LZ4_decompress_safe(packed.data() + kHeader, plain.data(), static_cast<int>(packed.size() - kHeader),
                                      static_cast<int>(n));
  if (got < 0 || static_cast<uint32_t>(got) != n) return Internal("a packed blob that does not unpack");
  return plain;
}

}  // namespace ketamine::store
