#include "common/utf8.h"

#include <rapidjson/encodings.h>

#include <cstddef>

namespace ketamine {
namespace {

// RapidJSON's decoder reads from a stream; this one reads a view and says how far it got.
struct ViewStream {
  using Ch = char;
  std::string_view text;
  size_t at = 0;
  Ch Peek() const { return at < text.size() ? text[at] : '\0'; }
  Ch Take() { return at < text.size() ? text[at++] : '\0'; }
  size_t Tell() const { return at; }
};

// The length of the well-formed sequence at `start` (overlong forms, surrogates and code points
// past U+10FFFF are not), or 0.
size_t SequenceAt(std::string_view text, size_t start) {
  const auto lead = static_cast<unsigned char>(text[start]);
  if (lead < 0x80) return 1;
  ViewStream in{text, start};
  unsigned code_point = 0;
  // The decoder takes the tail bytes its lead byte announces; past the end it reads NULs, which
  // fail as a tail byte, so a cut-off sequence is refused too.
  const bool ok = rapidjson::UTF8<>::Decode(in, &code_point);
  return ok && in.Tell() <= text.size() ? in.Tell() - start : 0;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = SequenceAt(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = SequenceAt(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD; the next byte is looked at afresh
      ++i;
      continue;
    }
    out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace ketamine
