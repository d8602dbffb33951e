#include "profiles/primitives.h"

namespace ketamine::profiles {
namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

bool Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!Digit(s[pos + i])) return false;
  }
  return true;
}

int Number(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; ++i) v = v * 10 + (s[pos + i] - '0');
  return v;
}

// YYYY[-MM[-DD]] from pos; returns the position after it, or npos. full: all three parts.
size_t ReadDate(std::string_view s, size_t pos, bool full) {
  if (!Digits(s, pos, 4) || Number(s, pos, 4) == 0) return std::string_view::npos;
  pos += 4;
  if (pos == s.size() || s[pos] != '-') return full ? std::string_view::npos : pos;
  if (!Digits(s, pos + 1, 2)) return std::string_view::npos;
  int month = Number(s, pos + 1, 2);
  if (month < 1 || month > 12) return std::string_view::npos;
  pos += 3;
  if (pos == s.size() || s[pos] != '-') return full ? std::string_view::npos : pos;
  if (!Digits(s, pos + 1, 2)) return std::string_view::npos;
  int day = Number(s, pos + 1, 2);
  if (day < 1 || day > 31) return std::string_view::npos;
  return pos + 3;
}

// hh:mm:ss[.fff...] from pos; returns the position after it, or npos.
size_t ReadTime(std::string_view s, size_t pos) {
  if (!Digits(s, pos, 2) || s.size() < pos + 8 || s[pos + 2] != ':' || !Digits(s, pos + 3, 2) ||
      s[pos + 5] != ':' || !Digits(s, pos + 6, 2)) {
    return std::string_view::npos;
  }
  if (Number(s, pos, 2) > 23 || Number(s, pos + 3, 2) > 59 || Number(s, pos + 6, 2) > 60) {
    return std::string_view::npos;
  }
  pos += 8;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && Digit(s[pos])) ++pos;
    if (pos == start) return std::string_view::npos;
  }
  return pos;
}

// Z or +hh:mm / -hh:mm (00:00 to 13:59, or 14:00); true when it is exactly the rest of s.
bool ZoneIsRest(std::string_view s, size_t pos) {
  if (pos == s.size()) return false;
  if (s[pos] == 'Z') return pos + 1 == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  if (s.size() != pos + 6 || !Digits(s, pos + 1, 2) || s[pos + 3] != ':' || !Digits(s, pos + 4, 2)) {
    return false;
  }
  int hours = Number(s, pos + 1, 2);
  int minutes = Number(s, pos + 4, 2);
  if (minutes > 59) return false;
  return hours < 14 || (hours == 14 && minutes == 0);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

bool ValidCode(std::string_view v) {
  // [^\s]+(\s[^\s]+)*
  if (v.empty() || IsSpace(v.front()) || IsSpace(v.back())) return false;
  for (size_t i = 1; i < v.size(); ++i) {
    if (IsSpace(v[i]) && IsSpace(v[i - 1])) return false;
  }
  return true;
}

bool ValidId(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || Digit(c) || c == '-' || c == '.')) return false;
  }
  return true;
}

bool NoWhitespace(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (IsSpace(c)) return false;
  }
  return true;
}

bool ValidOid(std::string_view v) {
  // urn:oid:[0-2](\.(0|[1-9][0-9]*))+
  if (v.substr(0, 8) != "urn:oid:" || v.size() < 11) return false;
  size_t pos = 8;
  if (v[pos] < '0' || v[pos] > '2') return false;
  ++pos;
  int arcs = 0;
  while (pos < v.size()) {
    if (v[pos] != '.' || pos + 1 >= v.size() || !Digit(v[pos + 1])) return false;
    ++pos;
    if (v[pos] == '0') {
      ++pos;
    } else {
      while (pos < v.size() && Digit(v[pos])) ++pos;
    }
    ++arcs;
    if (pos < v.size() && v[pos] != '.') return false;
  }
  return arcs > 0;
}

bool ValidUuid(std::string_view v) {
  // urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
  if (v.size() != 45 || v.substr(0, 9) != "urn:uuid:") return false;
  for (size_t i = 9; i < v.size(); ++i) {
    size_t k = i - 9;
    bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? v[i] != '-' : !(Digit(v[i]) || (v[i] >= 'a' && v[i] <= 'f'))) return false;
  }
  return true;
}

bool ValidBase64(std::string_view v) {
  // (\s*([0-9a-zA-Z\+/=]){4}\s*)+
  size_t count = 0;
  for (char c : v) {
    if (IsSpace(c)) continue;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || Digit(c) || c == '+' || c == '/' || c == '=')) {
      return false;
    }
    ++count;
  }
  return count > 0 && count % 4 == 0;
}

}  // namespace

JsonKind JsonKindOf(PrimitiveId type) {
  switch (type) {
    case PrimitiveId::kBoolean: return JsonKind::kBoolean;
    case PrimitiveId::kInteger:
    case PrimitiveId::kPositiveInt:
    case PrimitiveId::kUnsignedInt: return JsonKind::kInteger;
    case PrimitiveId::kDecimal: return JsonKind::kDecimal;
    default: return JsonKind::kString;
  }
}

JsonKind JsonKindOf(std::string_view type) { return JsonKindOf(PrimitiveIdOf(type)); }

bool IsValidDate(std::string_view v) { return ReadDate(v, 0, false) == v.size(); }

bool IsValidDateTime(std::string_view v) {
  size_t pos = ReadDate(v, 0, false);
  if (pos == std::string_view::npos) return false;
  if (pos == v.size()) return true;
  if (v[pos] != 'T' || pos != 10) return false;
  pos = ReadTime(v, pos + 1);
  return pos != std::string_view::npos && ZoneIsRest(v, pos);
}

bool IsValidInstant(std::string_view v) {
  size_t pos = ReadDate(v, 0, true);
  if (pos == std::string_view::npos || pos == v.size() || v[pos] != 'T') return false;
  pos = ReadTime(v, pos + 1);
  return pos != std::string_view::npos && ZoneIsRest(v, pos);
}

bool IsValidTime(std::string_view v) { return ReadTime(v, 0) == v.size(); }

bool IsValidPrimitive(PrimitiveId type, std::string_view v) {
  switch (type) {
    case PrimitiveId::kString:
    case PrimitiveId::kMarkdown:
    case PrimitiveId::kXhtml: return !v.empty();  // [ \r\n\t\S]+ : at least one character
    case PrimitiveId::kCode: return ValidCode(v);
    case PrimitiveId::kId: return ValidId(v);
    case PrimitiveId::kUri:
    case PrimitiveId::kUrl:
    case PrimitiveId::kCanonical: return NoWhitespace(v);
    case PrimitiveId::kOid: return ValidOid(v);
    case PrimitiveId::kUuid: return ValidUuid(v);
    case PrimitiveId::kDate: return IsValidDate(v);
    case PrimitiveId::kDateTime: return IsValidDateTime(v);
    case PrimitiveId::kInstant: return IsValidInstant(v);
    case PrimitiveId::kTime: return IsValidTime(v);
    case PrimitiveId::kBase64Binary: return ValidBase64(v);
    default: return true;
  }
}

bool IsValidPrimitive(std::string_view type, std::string_view v) { return IsValidPrimitive(PrimitiveIdOf(type), v); }

}  // namespace ketamine::profiles
