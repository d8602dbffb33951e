#include "profiles/identifiers.h"

namespace ketamine::profiles {

bool IsKnownDeaRegistrantType(char c) {
  static constexpr std::string_view kTypes = "ABCDEFGHJKLMPRSTUX";
  return kTypes.find(c) != std::string_view::npos;
}

bool IsValidDeaNumber(std::string_view v) {
  if (v.size() != 9 || !IsKnownDeaRegistrantType(v[0])) return false;
  if (!((v[1] >= 'A' && v[1] <= 'Z') || v[1] == '9')) return false;
  int d[7];
  for (int i = 0; i < 7; ++i) {
    char c = v[static_cast<size_t>(2 + i)];
    if (c < '0' || c > '9') return false;
    d[i] = c - '0';
  }
  int sum = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5]);
  return sum % 10 == d[6];
}

bool IsValidNpi(std::string_view v) {
  if (v.size() != 10) return false;
  // Luhn over "80840" + the first nine digits; the constant prefix contributes 24.
  int sum = 24;
  for (int i = 8; i >= 0; --i) {
    char c = v[static_cast<size_t>(i)];
    if (c < '0' || c > '9') return false;
    int digit = c - '0';
    if ((8 - i) % 2 == 0) {  // doubled, counting from the right of the nine digits
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  if (v[9] < '0' || v[9] > '9') return false;
  return (10 - sum % 10) % 10 == v[9] - '0';
}

}  // namespace ketamine::profiles
