#include "hl7v2/escape.h"

#include "hl7v2/charset.h"

namespace ketamine::hl7v2 {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Appends the bytes of "\Xhhhh\" content; false when the hex is malformed.
bool AppendHex(std::string_view hex, std::string& out) {
  if (hex.empty() || hex.size() % 2 != 0) return false;
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes += static_cast<char>(hi * 16 + lo);
  }
  // The text after the parser is UTF-8; hex that is not (a Latin-1 byte, half a sequence) stays
  // as written rather than producing bytes no JSON or UTF-8 consumer can take.
  if (!ValidateUtf8(bytes).ok()) return false;
  out += bytes;
  return true;
}

}  // namespace

std::string Unescape(std::string_view raw, const Delimiters& d) {
  if (raw.find(d.escape) == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  size_t pos = 0;
  while (pos < raw.size()) {
    char c = raw[pos];
    if (c != d.escape) {
      out += c;
      ++pos;
      continue;
    }
    size_t close = raw.find(d.escape, pos + 1);
    if (close == std::string_view::npos || close == pos + 1) {
      out += c;  // a lone escape character is kept as it is
      ++pos;
      continue;
    }
    std::string_view body = raw.substr(pos + 1, close - pos - 1);
    bool handled = true;
    if (body.size() == 1) {
      switch (body[0]) {
        case 'F': out += d.field; break;
        case 'S': out += d.component; break;
        case 'T': out += d.subcomponent; break;
        case 'R': out += d.repetition; break;
        case 'E': out += d.escape; break;
        case 'P':
          if (d.truncation != '\0') {
            out += d.truncation;
          } else {
            handled = false;
          }
          break;
        default: handled = false;
      }
    } else if (body[0] == 'X') {
      handled = AppendHex(body.substr(1), out);
    } else {
      handled = false;
    }
    if (!handled) out.append(raw.substr(pos, close - pos + 1));  // kept as text
    pos = close + 1;
  }
  return out;
}

std::string Escape(std::string_view text, const Delimiters& d) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == d.escape) {
      out += d.escape;
      out += 'E';
      out += d.escape;
    } else if (c == d.field) {
      out += d.escape;
      out += 'F';
      out += d.escape;
    } else if (c == d.component) {
      out += d.escape;
      out += 'S';
      out += d.escape;
    } else if (c == d.subcomponent) {
      out += d.escape;
      out += 'T';
      out += d.escape;
    } else if (c == d.repetition) {
      out += d.escape;
      out += 'R';
      out += d.escape;
    } else if (d.truncation != '\0' && c == d.truncation) {
      out += d.escape;
      out += 'P';
      out += d.escape;
    } else if (c == '\r') {
      out += d.escape;
      out += "X0D";
      out += d.escape;
    } else if (c == '\n') {
      out += d.escape;
      out += "X0A";
      out += d.escape;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace ketamine::hl7v2
