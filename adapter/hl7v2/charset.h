// MSH-18 character sets (HL7 table 0211) and their conversion to UTF-8 with the C library's
// iconv, so that everything after the parser sees UTF-8.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::hl7v2 {

// The iconv name for a table 0211 value ("8859/1" -> "ISO-8859-1"); "" when the bytes are
// already ASCII/UTF-8 ("", "ASCII", "UNICODE UTF-8", ...). Unknown names are kUnsupported.
[[nodiscard]] Result<std::string> IconvNameFor(std::string_view table_0211_name);

// kOk when `bytes` is valid UTF-8 (checked by iconv, and only when a byte is not ASCII);
// kInvalidInput naming the offset otherwise.
[[nodiscard]] Status ValidateUtf8(std::string_view bytes);

// Converts `bytes` from the named table 0211 character set to UTF-8.
[[nodiscard]] Result<std::string> ConvertToUtf8(std::string_view bytes,
                                                std::string_view table_0211_name);

}  // namespace ketamine::hl7v2
