// Parses one HL7 v2 message (v2.3 to v2.8) into a view over the caller's buffer: nothing is
// copied, so the Message must not outlive `bytes`. Delimiters are read from MSH-1/MSH-2, never
// assumed. A message whose MSH-18 (or the listener's default) names a character set other than
// ASCII/UTF-8 is converted to UTF-8 first; the Message then owns the converted copy.
//   if (auto msg = hl7v2::Parse(bytes); msg.ok()) { auto mrn = msg->GetText("PID-3(1).1"); }
// Segments may end in "\r" (the standard), "\n" or "\r\n"; Serialize() gives the bytes back.
#pragma once

#include <cstdint>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hl7v2/path.h"

namespace ketamine::hl7v2 {

struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = '\0';  // v2.7+: '#' when MSH-2 has five characters
  std::string EncodingCharacters() const;  // MSH-2 as written: "^~\&" (+ truncation)
};

struct ParseOptions {
  size_t max_message_bytes = 16u << 20;
  size_t max_segments = 5000;
  size_t max_fields_per_segment = 500;
  // Table 0211 name to assume when MSH-18 is empty (a per-listener setting); "" means ASCII/UTF-8.
  std::string default_charset;
};

class Message {
 public:
  const Delimiters& delimiters() const { return delimiters_; }

  size_t segment_count() const { return segments_.size(); }
  std::string_view SegmentName(size_t index) const;
  // Number of fields after the name; for MSH this counts MSH-1 (the field separator).
  size_t FieldCount(size_t index) const;
  // Raw (still escaped) field `field` (1-based) of segment `index`; empty when absent.
  std::string_view Field(size_t index, size_t field) const;
  // Index of the n-th (1-based) segment named `name`, or -1.
  int FindSegment(std::string_view name, int occurrence = 1) const;
  int CountSegments(std::string_view name) const;

  // Raw value at a path ("PID-3(2).1"), still escaped; empty when absent or the path is bad.
  std::string_view Get(std::string_view path) const;
  std::string_view Get(const Path& path) const;
  // The same with escape sequences resolved (see escape.h).
  std::string GetText(std::string_view path) const;

  // Header shortcuts (raw values).
  std::string_view MessageCode() const { return Get(kMsh9_1); }     // "RDE"
  std::string_view TriggerEvent() const { return Get(kMsh9_2); }    // "O11"
  std::string_view ControlId() const { return Get(kMsh10); }
  std::string_view VersionId() const { return Get(kMsh12_1); }      // "2.5.1"
  std::string_view SendingApplication() const { return Get(kMsh3); }
  std::string_view SendingFacility() const { return Get(kMsh4); }

  // The UTF-8 text that was parsed (after any charset conversion), without a byte-order mark.
  std::string_view text() const { return text_; }
  // Table 0211 name the message was decoded from ("" for ASCII/UTF-8 as received).
  const std::string& decoded_from() const { return decoded_from_; }

 private:
  friend Result<Message> Parse(std::string_view, const ParseOptions&);
  friend std::string Serialize(const Message&);
  friend class Parser;

  struct SegmentRecord {
    uint32_t first_field;  // index into fields_ of the segment name
    uint32_t field_count;  // including the name
    std::string_view terminator;  // "\r", "\n", "\r\n", or "" for the last segment
  };

  static const Path kMsh3, kMsh4, kMsh9_1, kMsh9_2, kMsh10, kMsh12_1;

  Delimiters delimiters_;
  std::shared_ptr<const std::string> owned_;  // set when the text was converted to UTF-8
  std::string_view prefix_;  // byte-order mark and blank lines before MSH, kept for Serialize
  std::string_view text_;
  std::string decoded_from_;
  std::vector<SegmentRecord> segments_;
  std::vector<std::string_view> fields_;
};

[[nodiscard]] Result<Message> Parse(std::string_view bytes, const ParseOptions& options = {});
// A temporary string would leave the views dangling: keep the bytes alive and pass a view.
Result<Message> Parse(std::string&& bytes, const ParseOptions& options = {}) = delete;
template <size_t N>
[[nodiscard]] Result<Message> Parse(const char (&literal)[N], const ParseOptions& options = {}) {
  return Parse(std::string_view(literal, N - 1), options);
}

// Writes a parsed message back: byte for byte what was parsed (in UTF-8).
std::string Serialize(const Message& message);

// Splitting of a raw field value by the message's delimiters (1-based; empty when absent).
std::string_view Repetition(std::string_view field, int repetition, const Delimiters& d);
std::string_view Component(std::string_view value, int component, const Delimiters& d);
std::string_view Subcomponent(std::string_view component, int subcomponent, const Delimiters& d);
int CountRepetitions(std::string_view field, const Delimiters& d);

// Calls visit(repetition, component, subcomponent, raw_value) for every sub-component of a raw
// field value in one pass (indexes 1-based), e.g. to read a whole message.
namespace internal {
// Bit i set when byte i of the 16 at p is one of the three delimiters (SSE2 on x86-64).
inline uint32_t DelimiterMask16(const char* p, char a, char b, char c) {
#if defined(__SSE2__)
  __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(a)),
                                           _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b))),
                              _mm_cmpeq_epi8(bytes, _mm_set1_epi8(c)));
  return static_cast<uint32_t>(_mm_movemask_epi8(hits));
#else
  uint32_t mask = 0;
  for (int i = 0; i < 16; ++i) mask |= static_cast<uint32_t>((p[i] == a) | (p[i] == b) | (p[i] == c)) << i;
  return mask;
#endif
}
}  // namespace internal

template <typename Visit>
void VisitComponents(std::string_view field, const Delimiters& d, Visit&& visit) {
  const char rep_char = d.repetition, comp_char = d.component, sub_char = d.subcomponent;
  int rep = 1, comp = 1, sub = 1;
  size_t start = 0;
  const size_t n = field.size();
  auto at_delimiter = [&](size_t i) {
    const char c = field[i];
    visit(rep, comp, sub, field.substr(start, i - start));
    start = i + 1;
    if (c == rep_char) {
      ++rep;
      comp = sub = 1;
    } else if (c == comp_char) {
      ++comp;
      sub = 1;
    } else {
      ++sub;
    }
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {  // 16 bytes at a time, then each delimiter found
    uint32_t mask = internal::DelimiterMask16(field.data() + i, rep_char, comp_char, sub_char);
    while (mask != 0) {
      at_delimiter(i + static_cast<size_t>(__builtin_ctz(mask)));
      mask &= mask - 1;
    }
  }
  for (; i < n; ++i) {
    const char c = field[i];
    if ((c == rep_char) | (c == comp_char) | (c == sub_char)) at_delimiter(i);
  }
  visit(rep, comp, sub, field.substr(start));
}

}  // namespace ketamine::hl7v2
