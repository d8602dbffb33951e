#include "hl7v2/parser.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "hl7v2/charset.h"
#include "hl7v2/escape.h"

namespace ketamine::hl7v2 {

const Path Message::kMsh3{"MSH", 1, 3, 0, 0, 0};
const Path Message::kMsh4{"MSH", 1, 4, 0, 0, 0};
const Path Message::kMsh9_1{"MSH", 1, 9, 0, 1, 0};
const Path Message::kMsh9_2{"MSH", 1, 9, 0, 2, 0};
const Path Message::kMsh10{"MSH", 1, 10, 0, 0, 0};
const Path Message::kMsh12_1{"MSH", 1, 12, 0, 1, 0};

std::string Delimiters::EncodingCharacters() const {
  std::string out{component, repetition, escape, subcomponent};
  if (truncation != '\0') out += truncation;
  return out;
}

// Builds the Message's index of segments and fields; a friend of Message.
class Parser {
 public:
  Parser(Message& msg, const ParseOptions& options) : msg_(msg), options_(options) {}

  // Fills msg_ from `text` (prefix already removed). With header_only, stops after MSH.
  Status Run(std::string_view text, bool header_only) {
    msg_.text_ = text;
    msg_.segments_.clear();
    msg_.fields_.clear();
    if (text.size() > options_.max_message_bytes) {
      return TooLarge("message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                          std::to_string(options_.max_message_bytes),
                      Location("MSH"));
    }
    KETAMINE_RETURN_IF_ERROR(ReadDelimiters(text));
    BuildClassTable();
    msg_.fields_.reserve(text.size() / 6 + 16);
    msg_.segments_.reserve(text.size() / 60 + 4);
    size_t pos = 0;
    while (pos < text.size()) {
      KETAMINE_RETURN_IF_ERROR(ReadSegment(text, pos));
      if (header_only) break;
    }
    return Status::Ok();
  }

 private:
  enum : uint8_t { kPlain = 0, kField = 1, kNewline = 2, kForbidden = 3 };

  Status ReadDelimiters(std::string_view text) {
    if (text.size() < 3 || text.substr(0, 3) != "MSH") {
      return InvalidInput("a message starts with an MSH segment", Location("MSH"));
    }
    if (text.size() < 4 || text[3] == '\r' || text[3] == '\n') {
      return InvalidInput("the field separator (MSH-1) is missing", Location("MSH-1"));
    }
    Delimiters& d = msg_.delimiters_;
    d.field = text[3];
    size_t end = 4;
    while (end < text.size() && text[end] != d.field && text[end] != '\r' && text[end] != '\n') {
      ++end;
    }
    std::string_view enc = text.substr(4, end - 4);
    if (enc.size() < 4 || enc.size() > 5) {
      return InvalidInput("the encoding characters (MSH-2) must be 4 or 5 characters, got " +
                              std::to_string(enc.size()),
                          Location("MSH-2"));
    }
    d.component = enc[0];
    d.repetition = enc[1];
    d.escape = enc[2];
    d.subcomponent = enc[3];
    d.truncation = enc.size() == 5 ? enc[4] : '\0';
    std::array<char, 6> all{d.field, d.component, d.repetition, d.escape, d.subcomponent,
                            d.truncation};
    size_t count = enc.size() + 1;
    for (size_t i = 0; i < count; ++i) {
      unsigned char c = static_cast<unsigned char>(all[i]);
      if (std::isalnum(c) || c < 0x20 || c >= 0x7f) {
        return InvalidInput("delimiter characters must be printable and not letters or digits",
                            Location(i == 0 ? "MSH-1" : "MSH-2"));
      }
      for (size_t j = i + 1; j < count; ++j) {
        if (all[i] == all[j]) {
          return InvalidInput("delimiter characters must all differ", Location("MSH-2"));
        }
      }
    }
    return Status::Ok();
  }

  void BuildClassTable() {
    classes_.fill(kPlain);
    classes_[static_cast<unsigned char>(msg_.delimiters_.field)] = kField;
    classes_['\r'] = kNewline;
    classes_['\n'] = kNewline;
    // Bytes no text message carries; they mean binary data or a broken MLLP frame.
    classes_[0x00] = kForbidden;
    classes_[0x0b] = kForbidden;
    classes_[0x1c] = kForbidden;
  }

  static bool ValidSegmentName(std::string_view name) {
    if (name.size() != 3 || name[0] < 'A' || name[0] > 'Z') return false;
    for (char c : name.substr(1)) {
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
  }

  Location SegmentLocation() const {
    return Location("segment " + std::to_string(msg_.segments_.size() + 1));
  }

  Status Forbidden(std::string_view text, size_t pos) const {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", static_cast<unsigned char>(text[pos]));
    return InvalidInput(std::string("binary byte ") + hex + " at offset " + std::to_string(pos),
                        SegmentLocation());
  }

  // Scans plain bytes from pos; returns the class of the byte that stopped the scan.
  uint8_t Scan(std::string_view text, size_t& pos) const {
    const size_t n = text.size();
    const char* data = text.data();
    while (pos < n) {
      uint8_t k = classes_[static_cast<unsigned char>(data[pos])];
      if (k != kPlain) return k;
      ++pos;
    }
    return kNewline;  // end of text ends the segment
  }

  Status ReadSegment(std::string_view text, size_t& pos) {
    const size_t n = text.size();
    const size_t start = pos;
    Message::SegmentRecord record{static_cast<uint32_t>(msg_.fields_.size()), 0, {}};
    uint8_t stop = Scan(text, pos);
    std::string_view name = text.substr(start, pos - start);
    const bool is_msh = msg_.segments_.empty();
    if (stop == kForbidden) return Forbidden(text, pos);
    if (is_msh) {
      // MSH-1 is the field separator itself and MSH-2 the encoding characters: never split.
      name = text.substr(0, 3);
      msg_.fields_.push_back(name);
      msg_.fields_.push_back(text.substr(3, 1));
      size_t enc_len = msg_.delimiters_.EncodingCharacters().size();
      msg_.fields_.push_back(text.substr(4, enc_len));
      pos = 4 + enc_len;
      stop = pos < n ? classes_[static_cast<unsigned char>(text[pos])] : uint8_t{kNewline};
    } else {
      if (!ValidSegmentName(name)) {
        return InvalidInput("segment names are 3 upper-case letters or digits, got '" +
                                std::string(name.substr(0, 8)) + "'",
                            SegmentLocation());
      }
      if (name == "MSH") {
        return InvalidInput("a second MSH segment starts another message; send one message per "
                            "frame or a batch",
                            Location("MSH[2]"));
      }
      msg_.fields_.push_back(name);
    }
    size_t fields = is_msh ? 3 : 1;
    while (stop == kField) {
      ++pos;
      size_t field_start = pos;
      stop = Scan(text, pos);
      if (stop == kForbidden) return Forbidden(text, pos);
      msg_.fields_.push_back(text.substr(field_start, pos - field_start));
      if (++fields > options_.max_fields_per_segment) {
        return TooLarge("more than " + std::to_string(options_.max_fields_per_segment) +
                            " fields in one segment",
                        Location(std::string(name)));
      }
    }
    size_t term_start = pos;
    while (pos < n && (text[pos] == '\r' || text[pos] == '\n')) ++pos;
    record.terminator = text.substr(term_start, pos - term_start);
    record.field_count = static_cast<uint32_t>(fields);
    msg_.segments_.push_back(record);
    if (msg_.segments_.size() > options_.max_segments) {
      return TooLarge("more than " + std::to_string(options_.max_segments) + " segments",
                      SegmentLocation());
    }
    return Status::Ok();
  }

  Message& msg_;
  const ParseOptions& options_;
  std::array<uint8_t, 256> classes_{};
};

namespace {

// Byte-order mark and blank lines before MSH are tolerated and kept for Serialize().
size_t PrefixLength(std::string_view bytes) {
  size_t pos = 0;
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < bytes.size() && (bytes[pos] == '\r' || bytes[pos] == '\n')) ++pos;
  return pos;
}

// A plain loop: the values are a few bytes long, where a memchr call per delimiter costs more
// than the scan.
std::string_view Split(std::string_view value, int index, char delimiter) {
  if (index < 1) return {};
  const char* p = value.data();
  const char* end = p + value.size();
  for (int i = 1; i < index; ++i) {
    while (p != end && *p != delimiter) ++p;
    if (p == end) return {};
    ++p;
  }
  const char* start = p;
  while (p != end && *p != delimiter) ++p;
  return {start, static_cast<size_t>(p - start)};
}

}  // namespace

Result<Message> Parse(std::string_view bytes, const ParseOptions& options) {
  if (bytes.empty()) return InvalidInput("the message is empty", Location("MSH"));
  Message msg;
  size_t prefix = PrefixLength(bytes);
  msg.prefix_ = bytes.substr(0, prefix);
  std::string_view text = bytes.substr(prefix);
  Parser parser(msg, options);
  // First the header alone, to learn the character set from MSH-18.
  KETAMINE_RETURN_IF_ERROR(parser.Run(text, /*header_only=*/true));
  // Unescaped: a sender whose delimiters include '-' (or a space) writes "UNICODE UTF\T\8", as our
  // own ACKs to it do (found by fuzzing: the ACK to such a message did not parse).
  std::string charset = Unescape(Repetition(msg.Field(0, 18), 1, msg.delimiters()), msg.delimiters());
  if (charset.empty()) charset = options.default_charset;
  KETAMINE_ASSIGN_OR_RETURN(std::string iconv_name, IconvNameFor(charset));
  if (iconv_name.empty()) {
    // Everything after the parser (FHIR JSON above all) needs valid UTF-8.
    KETAMINE_RETURN_IF_ERROR(ValidateUtf8(text));
  } else {
    KETAMINE_ASSIGN_OR_RETURN(std::string utf8, ConvertToUtf8(text, charset));
    msg.owned_ = std::make_shared<const std::string>(std::move(utf8));
    msg.decoded_from_ = charset;
    msg.prefix_ = {};
    text = *msg.owned_;
  }
  KETAMINE_RETURN_IF_ERROR(parser.Run(text, /*header_only=*/false));
  return msg;
}

std::string Serialize(const Message& msg) {
  std::string out;
  out.reserve(msg.prefix_.size() + msg.text_.size());
  out.append(msg.prefix_);
  const char fs = msg.delimiters_.field;
  for (size_t s = 0; s < msg.segments_.size(); ++s) {
    const auto& record = msg.segments_[s];
    const std::string_view* fields = msg.fields_.data() + record.first_field;
    out.append(fields[0]);
    size_t i = 1;
    if (s == 0) {  // MSH: the separator is MSH-1, MSH-2 follows it directly
      out.append(fields[1]);
      out.append(fields[2]);
      i = 3;
    }
    for (; i < record.field_count; ++i) {
      out += fs;
      out.append(fields[i]);
    }
    out.append(record.terminator);
  }
  return out;
}

std::string_view Message::SegmentName(size_t index) const {
  if (index >= segments_.size()) return {};
  return fields_[segments_[index].first_field];
}

size_t Message::FieldCount(size_t index) const {
  if (index >= segments_.size()) return 0;
  return segments_[index].field_count - 1;
}

std::string_view Message::Field(size_t index, size_t field) const {
  if (index >= segments_.size()) return {};
  const auto& record = segments_[index];
  if (field == 0 || field >= record.field_count) return {};
  return fields_[record.first_field + field];
}

int Message::FindSegment(std::string_view name, int occurrence) const {
  int seen = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (fields_[segments_[i].first_field] == name && ++seen == occurrence) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int Message::CountSegments(std::string_view name) const {
  int seen = 0;
  for (const auto& record : segments_) {
    if (fields_[record.first_field] == name) ++seen;
  }
  return seen;
}

std::string_view Message::Get(const Path& path) const {
  int index = FindSegment(path.segment, path.occurrence);
  if (index < 0) return {};
  const auto& record = segments_[static_cast<size_t>(index)];
  if (path.field == 0) {
    const std::string_view& first = fields_[record.first_field];
    const std::string_view& last = fields_[record.first_field + record.field_count - 1];
    return {first.data(), static_cast<size_t>(last.data() + last.size() - first.data())};
  }
  std::string_view raw = Field(static_cast<size_t>(index), static_cast<size_t>(path.field));
  if (path.segment == "MSH" && path.field <= 2) {  // delimiters are never split
    return path.repetition <= 1 && path.component <= 1 && path.subcomponent <= 1 ? raw
                                                                                 : std::string_view{};
  }
  if (path.repetition == 0 && path.component == 0) return raw;
  std::string_view value = Repetition(raw, path.repetition == 0 ? 1 : path.repetition, delimiters_);
  if (path.component == 0) return value;
  value = Component(value, path.component, delimiters_);
  if (path.subcomponent == 0) return value;
  return Subcomponent(value, path.subcomponent, delimiters_);
}

std::string_view Message::Get(std::string_view path) const {
  auto parsed = ParsePath(path);
  if (!parsed.ok()) return {};
  return Get(*parsed);
}

std::string Message::GetText(std::string_view path) const {
  return Unescape(Get(path), delimiters_);
}

std::string_view Repetition(std::string_view field, int repetition, const Delimiters& d) {
  return Split(field, repetition, d.repetition);
}
std::string_view Component(std::string_view value, int component, const Delimiters& d) {
  return Split(value, component, d.component);
}
std::string_view Subcomponent(std::string_view component, int subcomponent, const Delimiters& d) {
  return Split(component, subcomponent, d.subcomponent);
}
int CountRepetitions(std::string_view field, const Delimiters& d) {
  if (field.empty()) return 0;
  int count = 1;
  for (char c : field) count += c == d.repetition ? 1 : 0;
  return count;
}

}  // namespace ketamine::hl7v2
