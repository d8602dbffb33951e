// Check digits of US identifiers the ketamine profiles require.
//   IsValidDeaNumber("AB1234563") -> true; IsValidNpi("1234567893") -> true
#pragma once

#include <string_view>

namespace ketamine::profiles {

// DEA registration number: registrant-type letter, a second letter (the registrant's last-name
// initial, or 9 for some business registrants), seven digits; the last digit is the check digit
// ((d1 + d3 + d5) + 2 * (d2 + d4 + d6)) mod 10. Sources: shared/domain.md section 3.
bool IsValidDeaNumber(std::string_view value);
// The registrant-type letters DEA issues (A B C D E F G H J K L M P R S T U X).
bool IsKnownDeaRegistrantType(char letter);

// NPI: ten digits, Luhn check digit over the number prefixed with 80840 (CMS NPI standard).
bool IsValidNpi(std::string_view value);

}  // namespace ketamine::profiles
