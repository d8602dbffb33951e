#include "hl7v2/charset.h"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

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

class IconvHandle {
 public:
  explicit IconvHandle(iconv_t handle) : handle_(handle) {}
  ~IconvHandle() {
    if (handle_ != reinterpret_cast<iconv_t>(-1)) iconv_close(handle_);
  }
  IconvHandle(const IconvHandle&) = delete;
  IconvHandle& operator=(const IconvHandle&) = delete;
  iconv_t get() const { return handle_; }

 private:
  iconv_t handle_;
};

}  // namespace

namespace {
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
  // ASCII fast path, 8 bytes at a time: most HL7 traffic never needs iconv.
  size_t i = 0;
  bool ascii = true;
  for (; i + 8 <= bytes.size() && ascii; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    ascii = (word & 0x8080808080808080ULL) == 0;
  }
  for (; i < bytes.size() && ascii; ++i) ascii = static_cast<unsigned char>(bytes[i]) < 0x80;
  if (ascii) return Status::Ok();
  // To UTF-32: glibc's UTF-8 -> UTF-8 passes code points above U+10FFFF; this direction refuses
  // them, surrogates and overlong forms.
  IconvHandle cd(iconv_open("UTF-32LE", "UTF-8"));
  if (cd.get() == reinterpret_cast<iconv_t>(-1)) return Internal("iconv has no UTF-8");
  char* in_ptr = const_cast<char*>(bytes.data());  // iconv's signature; it does not write
  size_t in_left = bytes.size();
  std::string out(4096, '\0');
  while (in_left > 0) {
    char* out_ptr = out.data();
    size_t out_left = out.size();
    if (iconv(cd.get(), &in_ptr, &in_left, &out_ptr, &out_left) == static_cast<size_t>(-1) && errno != E2BIG) {
      return InvalidInput("byte " + std::to_string(bytes.size() - in_left) +
                              " is not valid UTF-8; name the character set in MSH-18 or set the listener's "
                              "default_charset",
                          Location("MSH-18"));
    }
  }
  return Status::Ok();
}

Result<std::string> ConvertToUtf8(std::string_view bytes, std::string_view name) {
  KETAMINE_ASSIGN_OR_RETURN(std::string from, IconvNameFor(name));
  if (from.empty()) return std::string(bytes);
  IconvHandle cd(iconv_open("UTF-8", from.c_str()));
  if (cd.get() == reinterpret_cast<iconv_t>(-1)) {
    return Unsupported("character set " + Quoted(name) + " is not available",
                       Location("MSH-18"));
  }
  std::string out(bytes.size() * 2 + 16, '\0');
  char* in_ptr = const_cast<char*>(bytes.data());  // iconv's signature; it does not write
  size_t in_left = bytes.size();
  size_t out_used = 0;
  while (in_left > 0) {
    char* out_ptr = out.data() + out_used;
    size_t out_left = out.size() - out_used;
    size_t rc = iconv(cd.get(), &in_ptr, &in_left, &out_ptr, &out_left);
    out_used = out.size() - out_left;
    if (rc != static_cast<size_t>(-1)) continue;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    size_t offset = bytes.size() - in_left;
    return InvalidInput("byte " + std::to_string(offset) + " is not valid " + Quoted(name),
                        Location("MSH-18"));
  }
  // Stateful encodings (ISO-2022-JP) may owe a shift sequence; ours ends in ASCII so it is short.
  out.resize(out_used + 16);
  char* out_ptr = out.data() + out_used;
  size_t out_left = 16;
  iconv(cd.get(), nullptr, nullptr, &out_ptr, &out_left);
  out_used += 16 - out_left;
  out.resize(out_used);
  return out;
}

}  // namespace ketamine::hl7v2
