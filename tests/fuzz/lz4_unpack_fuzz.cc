// Fuzzes the unpacking of stored blobs (raw messages and outbox payloads of the SQLite store): a
// damaged file gives an error, never a crash or a read past the input; and whatever unpacks packs
// back to something that unpacks to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/check.h"
#include "store/compress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto plain = ketamine::store::Lz4Unpack(in);
  if (plain.ok()) {
    const std::string again = ketamine::store::Lz4Pack(*plain);
    if (!again.empty()) {
      auto back = ketamine::store::Lz4Unpack(again);
      KETAMINE_CHECK(back.ok() && *back == *plain);
    }
  }
  const std::string packed = ketamine::store::Lz4Pack(in);
  if (!packed.empty()) {
    auto back = ketamine::store::Lz4Unpack(packed);
    KETAMINE_CHECK(back.ok() && *back == in);
  }
  return 0;
}
