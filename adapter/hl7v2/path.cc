#include "hl7v2/path.h"

#include <charconv>

namespace ketamine::hl7v2 {
namespace {

constexpr int kMaxIndex = 100000;

bool ReadNumber(std::string_view text, size_t& pos, int& out) {
  const char* begin = text.data() + pos;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || ptr == begin || out < 1 || out > kMaxIndex) return false;
  pos += static_cast<size_t>(ptr - begin);
  return true;
}

bool IsSegmentChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

std::string Path::ToString() const {
  std::string out = segment;
  auto add = [&out](char open, int value, const char* close) {
    out += open;
    out += std::to_string(value);
    out += close;
  };
  if (occurrence != 1) add('[', occurrence, "]");
  if (field == 0) return out;
  add('-', field, "");
  if (repetition != 0) add('(', repetition, ")");
  if (component != 0) add('.', component, "");
  if (subcomponent != 0) add('.', subcomponent, "");
  return out;
}

Result<Path> ParsePath(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidInput("bad HL7 path '" + std::string(text) + "': " + std::string(why));
  };
  if (text.size() < 3) return bad("a segment name has 3 characters");
  Path path;
  for (size_t i = 0; i < 3; ++i) {
    if (!IsSegmentChar(text[i])) return bad("a segment name is 3 upper-case letters or digits");
  }
  path.segment = std::string(text.substr(0, 3));
  size_t pos = 3;
  if (pos < text.size() && text[pos] == '[') {
    ++pos;
    if (!ReadNumber(text, pos, path.occurrence)) return bad("segment occurrence must be >= 1");
    if (pos >= text.size() || text[pos] != ']') return bad("missing ']'");
    ++pos;
  }
  if (pos == text.size()) return path;
  if (text[pos] != '-') return bad("expected '-' before the field number");
  ++pos;
  if (!ReadNumber(text, pos, path.field)) return bad("field number must be >= 1");
  if (pos < text.size() && text[pos] == '(') {
    ++pos;
    if (!ReadNumber(text, pos, path.repetition)) return bad("repetition must be >= 1");
    if (pos >= text.size() || text[pos] != ')') return bad("missing ')'");
    ++pos;
  }
  // Components: ".1" (and "-1", the HAPI Terser spelling, for a component after a repetition).
  if (pos < text.size() && (text[pos] == '.' || text[pos] == '-')) {
    ++pos;
    if (!ReadNumber(text, pos, path.component)) return bad("component must be >= 1");
    if (pos < text.size() && (text[pos] == '.' || text[pos] == '-')) {
      ++pos;
      if (!ReadNumber(text, pos, path.subcomponent)) return bad("sub-component must be >= 1");
    }
  }
  if (pos != text.size()) return bad("unexpected text after the path");
  return path;
}

}  // namespace ketamine::hl7v2
