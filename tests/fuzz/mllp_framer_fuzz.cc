// Fuzzes the MLLP framer. Property: feeding the input in two pieces (split where the first byte
// says) gives the same frames as feeding it whole, and no buffer grows past the limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"
#include "mllp/framer.h"

namespace {

std::vector<std::string> Frames(std::string_view in, size_t split) {
  ketamine::mllp::Framer framer(256);
  std::vector<std::string> out;
  auto collect = [&](const ketamine::mllp::FrameEvent& f) {
    out.push_back(std::to_string(f.kind) + ":" + std::to_string(f.total_bytes) + ":" +
                  std::string(f.payload));
  };
  framer.Feed(in.substr(0, split), collect);
  KETAMINE_CHECK(framer.buffered_bytes() <= ketamine::mllp::kOversizeHeadBytes);
  framer.Feed(in.substr(split), collect);
  KETAMINE_CHECK(framer.buffered_bytes() <= ketamine::mllp::kOversizeHeadBytes);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = size == 0 ? 0 : data[0] % (size + 1);
  KETAMINE_CHECK(Frames(in, 0) == Frames(in, split));
  return 0;
}
