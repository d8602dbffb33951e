#include "ledger/entry.h"

#include <array>
#include <cstdlib>

namespace ketamine::ledger {
namespace {

struct KindRow {
  Kind kind;
  std::string_view name;
  int sign;
};
constexpr std::array<KindRow, 10> kKinds = {{
    {Kind::kReceipt, "receipt", +1},
    {Kind::kAdministration, "administration", -1},
    {Kind::kWaste, "waste", -1},
    {Kind::kTransferOut, "transfer-out", -1},
    {Kind::kTransferIn, "transfer-in", +1},
    {Kind::kCount, "count", 0},
    {Kind::kAdjustment, "adjustment", 0},
    {Kind::kLoss, "loss", -1},
    {Kind::kDestruction, "destruction", -1},
    {Kind::kOrder, "order", 0},
}};

}  // namespace

std::string_view KindName(Kind kind) {
  for (const KindRow& row : kKinds) {
    if (row.kind == kind) return row.name;
  }
  return "unknown";
}

std::optional<Kind> KindFromName(std::string_view name) {
  for (const KindRow& row : kKinds) {
    if (row.name == name) return row.kind;
  }
  return std::nullopt;
}

int KindSign(Kind kind) {
  for (const KindRow& row : kKinds) {
    if (row.kind == kind) return row.sign;
  }
  return 0;
}

int64_t Draft::QuantityUg() const {
  if (kind == Kind::kAdjustment) return change_ug;
  return KindSign(kind) * amount_ug;
}

Result<int64_t> ParseAmountUg(std::string_view value, std::string_view unit, bool allow_negative) {
  auto bad = [&](const std::string& why) {
    return InvalidInput("amount '" + std::string(value) + "' " + std::string(unit) + ": " + why);
  };
  int scale_digits;  // decimal places that still make whole micrograms
  int64_t factor;
  if (unit == "mg") {
    scale_digits = 3, factor = 1000;
  } else if (unit == "ug" || unit == "mcg" || unit == "µg") {
    scale_digits = 0, factor = 1;
  } else if (unit == "g") {
    scale_digits = 6, factor = 1000000;
  } else {
    return bad("unit must be mg, ug (mcg) or g");
  }
  std::string_view v = value;
  bool negative = false;
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) {
    negative = v[0] == '-';
    v.remove_prefix(1);
  }
  if (negative && !allow_negative) return bad("must not be negative");
  size_t dot = v.find('.');
  std::string_view whole = v.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : v.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return bad("is not a number");
  if (dot != std::string_view::npos && fraction.empty()) return bad("is not a number");
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (static_cast<int>(fraction.size()) > scale_digits) return bad("is more precise than 1 microgram");
  if (whole.size() > 12) return bad("is too large");
  int64_t result = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return bad("is not a number");
    result = result * 10 + (c - '0');
  }
  result *= factor;
  int64_t place = factor;
  for (char c : fraction) {
    if (c < '0' || c > '9') return bad("is not a number");
    place /= 10;
    result += (c - '0') * place;
  }
  return negative ? -result : result;
}

std::string FormatMg(int64_t ug) {
  std::string out = ug < 0 ? "-" : "";
  uint64_t magnitude = ug < 0 ? static_cast<uint64_t>(-(ug + 1)) + 1 : static_cast<uint64_t>(ug);
  out += std::to_string(magnitude / 1000);
  uint64_t rest = magnitude % 1000;
  if (rest != 0) {
    std::string digits = std::to_string(rest);
    digits.insert(0, 3 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

}  // namespace ketamine::ledger
