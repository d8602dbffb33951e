#include "hl7v2/charset.h"

#include <array>
#include <utility>

#include "common/utf8.h"

namespace ketamine::hl7v2 {
namespace {

struct CharsetName {
  std::string_view hl7;
  std::string_view iconv;  // "" = no conversion
};

// HL7 table 0211 (v2.8) with the glibc iconv name of each.
constexpr std::array<CharsetName, 22> kCharsets{{
    {"ASCII", ""},
    {"ISO IR6", ""},
    {"UNICODE", ""},  // used by older senders for UTF-8
    {"UNICODE UTF-8", ""},
    {"UTF-8", ""},  // not in the table, but common in the field
    {"8859/1", "ISO-8859-1"},
    {"8859/2", "ISO-8859-2"},
    {"8859/3", "ISO-8859-3"},
    {"8859/4", "ISO-8859-4"},
    {"8859/5", "ISO-8859-5"},
    {"8859/6", "ISO-8859-6"},
    {"8859/7", "ISO-8859-7"},
    {"8859/8", "ISO-8859-8"},
    {"8859/9", "ISO-8859-9"},
    {"8859/15", "ISO-8859-15"},
    {"ISO IR14", "JIS_C6220-1969-RO"},
    {"ISO IR87", "ISO-2022-JP"},
    {"ISO IR159", "ISO-2022-JP-1"},
    {"GB 18030-2000", "GB18030"},
    {"KS X 1001", "EUC-KR"},
    {"CNS 11643-1992", "EUC-TW"},
    {"BIG-5", "BIG5"},
}};

// Input quoted in an error message: printable ASCII only, so the message (and the ACK carrying it)
// stays valid whatever bytes the sender put there.
std::string Quoted(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 64)) out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  return out;
}
}  // namespace

Result<std::string> IconvNameFor(std::string_view name) {
  if (name.empty()) return std::string();
  for (const auto& entry : kCharsets) {
    if (entry.hl7 == name) return std::string(entry.iconv);
  }
  if (name == "UNICODE UTF-16" || name == "UNICODE UTF-32") {
    return Unsupported("character set " + Quoted(name) + " cannot carry ASCII delimiters; send UTF-8",
                       Location("MSH-18"));
  }
  return Unsupported("unknown character set '" + Quoted(name) + "' (HL7 table 0211)",
                     Location("MSH-18"));
}

Status ValidateUtf8(std::string_view bytes) {
  const size_t bad = FirstInvalidUtf8(bytes);
  if (bad == std::string_view::npos) return Status::Ok();
  return InvalidInput("byte " + std::to_string(bad) +
                          " is not valid UTF-8; name the character set in MSH-18 or set the listener's "
                          "default_charset",
                      Location("MSH-18"));
}

Result<std::string> ConvertToUtf8(std::string_view bytes, std::string_view name) {
  KETAMINE_ASSIGN_OR_RETURN(std::string from, IconvNameFor(name));
  if (from.empty()) return std::string(bytes);
  auto converted = IconvToUtf8(bytes, from);
  if (converted.ok()) return converted;
  if (converted.status().code() == StatusCode::kUnsupported) {
    return Unsupported("character set " + Quoted(name) + " is not available", Location("MSH-18"));
  }
  // "byte N is not valid ISO-8859-1" names the set by its HL7 name.
  std::string message = converted.status().message();
  return InvalidInput(message.substr(0, message.rfind(' ') + 1) + Quoted(name), Location("MSH-18"));
}

}  // namespace ketamine::hl7v2
