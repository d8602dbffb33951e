#include "common/utf8.h"

#include <iconv.h>
#include <rapidjson/encodings.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

bool IsValidUtf8(std::string_view text) { return FirstInvalidUtf8(text) == std::string_view::npos; }

size_t FirstInvalidUtf8(std::string_view text) {
  size_t i = 0;
  for (;;) {
    // ASCII, 8 bytes at a time: most traffic never needs the decoder.
    for (uint64_t word; i + 8 <= text.size(); i += 8) {
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ULL) != 0) break;
    }
    while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
    if (i == text.size()) return std::string_view::npos;
    const size_t n = SequenceAt(text, i);
    if (n == 0) return i;
    i += n;
  }
}

Result<std::string> IconvToUtf8(std::string_view bytes, const std::string& charset) {
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return Unsupported("character set '" + ValidUtf8(charset) + "' is not known");
  struct Close {
    iconv_t cd;
    ~Close() { iconv_close(cd); }
  } close{cd};
  std::string out(bytes.size() * 2 + 16, '\0');
  char* in_ptr = const_cast<char*>(bytes.data());  // iconv's signature; it does not write
  size_t in_left = bytes.size();
  size_t out_used = 0;
  while (in_left > 0) {
    char* out_ptr = out.data() + out_used;
    size_t out_left = out.size() - out_used;
    size_t rc = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
    out_used = out.size() - out_left;
    if (rc != static_cast<size_t>(-1)) continue;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    return InvalidInput("byte " + std::to_string(bytes.size() - in_left) + " is not valid " + ValidUtf8(charset));
  }
  // Stateful encodings (ISO-2022-JP) may owe a shift sequence back to ASCII: a few bytes.
  out.resize(out_used + 16);
  char* out_ptr = out.data() + out_used;
  size_t out_left = 16;
  iconv(cd, nullptr, nullptr, &out_ptr, &out_left);
  out_used += 16 - out_left;
  out.resize(out_used);
  return out;
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
