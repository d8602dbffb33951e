// Fuzzes the JSON configuration reader (RapidJSON behind our size and depth limits).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ketamine::cli::ParseConfig(in, "fuzz.json");
  return 0;
}
