#include "fhir/json.h"

#include "common/file.h"
#include "common/utf8.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ketamine::fhir {
namespace {

struct Scan {
  bool ascii = true;
  bool too_deep = false;
};

// One pass before parsing: the deepest nesting of objects and arrays outside strings (so that
// the recursive parser never meets a document deep enough to exhaust the stack), and whether
// every byte is ASCII (then RapidJSON's slower UTF-8 validation can be skipped).
Scan ScanDocument(std::string_view text, int limit) {
  Scan scan;
  int depth = 0;
  bool in_string = false;
  size_t next_allowed = 0;  // after a backslash in a string, the escaped byte is not structure
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  // Returns false once the nesting is over the limit.
  auto visit = [&](size_t k) {
    if (k < next_allowed) return true;
    unsigned char c = p[k];
    if (c >= 0x80) {
      scan.ascii = false;
    } else if (c == '"') {
      in_string = !in_string;
    } else if (c == '\\') {
      if (in_string) next_allowed = k + 2;
    } else if (!in_string) {
      if (c == '{' || c == '[') {
        if (++depth > limit) return false;
      } else if (c == '}' || c == ']') {
        --depth;
      }
    }
    return true;
  };
  size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes at a time: only quotes, backslashes, brackets and non-ASCII bytes need a look.
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  const __m128i open_brace = _mm_set1_epi8('{'), close_brace = _mm_set1_epi8('}');
  const __m128i open_bracket = _mm_set1_epi8('['), close_bracket = _mm_set1_epi8(']');
  for (; i + 16 <= n; i += 16) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i hits = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)),
                     _mm_or_si128(_mm_cmpeq_epi8(b, open_brace), _mm_cmpeq_epi8(b, close_brace))),
        _mm_or_si128(_mm_cmpeq_epi8(b, open_bracket), _mm_cmpeq_epi8(b, close_bracket)));
    auto mask = static_cast<uint32_t>(_mm_movemask_epi8(hits) | _mm_movemask_epi8(b));
    while (mask != 0) {
      if (!visit(i + static_cast<size_t>(__builtin_ctz(mask)))) {
        scan.too_deep = true;
        return scan;
      }
      mask &= mask - 1;
    }
  }
#endif
  for (; i < n; ++i) {
    if (!visit(i)) {
      scan.too_deep = true;
      return scan;
    }
  }
  return scan;
}

}  // namespace

Status ParseJsonInto(std::string_view text, std::string& scratch, rapidjson::Document& doc,
                     const JsonLimits& limits) {
  // A UTF-8 byte order mark, as Windows tools write them, is read past (RFC 8259 section 8.1 allows it).
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (text.size() > limits.max_bytes) {
    return TooLarge("JSON document of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                    std::to_string(limits.max_bytes));
  }
  Scan scan = ScanDocument(text, limits.max_depth);
  if (scan.too_deep) {
    return TooLarge("JSON nesting deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  // Strings are parsed in place. RapidJSON's UTF-8 validation reads the whole multibyte sequence a
  // lead byte announces before it checks what it read, so a lead byte at the very end (a truncated
  // character) made it read past the terminating NUL: three more NULs keep those reads inside.
  scratch.reserve(text.size() + 4);
  scratch.assign(text);
  scratch.append(3, '\0');
  if (scan.ascii) {
    doc.ParseInsitu<rapidjson::kParseDefaultFlags>(scratch.data());
  } else {
    doc.ParseInsitu<rapidjson::kParseValidateEncodingFlag>(scratch.data());
  }
  if (doc.HasParseError()) {
    return InvalidInput(std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                        ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return Status::Ok();
}

Result<std::unique_ptr<JsonDocument>> ParseJson(std::string_view text, const JsonLimits& limits) {
  auto doc = std::make_unique<JsonDocument>();
  KETAMINE_RETURN_IF_ERROR(ParseJsonInto(text, doc->buffer_, *doc, limits));
  return doc;
}

Result<std::unique_ptr<JsonDocument>> ParseJsonFile(const std::filesystem::path& path, const JsonLimits& limits) {
  KETAMINE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto doc = ParseJson(text, limits);
  if (!doc.ok()) return Status(doc.status().code(), path.filename().string() + ": " + doc.status().message());
  return std::move(*doc);
}

rapidjson::Value DeepCopy(const rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator) {
  if (value.IsString()) return rapidjson::Value(value.GetString(), value.GetStringLength(), allocator);
  if (value.IsArray()) {
    rapidjson::Value out(rapidjson::kArrayType);
    for (const auto& item : value.GetArray()) out.PushBack(DeepCopy(item, allocator), allocator);
    return out;
  }
  if (value.IsObject()) {
    rapidjson::Value out(rapidjson::kObjectType);
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      out.AddMember(rapidjson::Value(it->name.GetString(), it->name.GetStringLength(), allocator),
                    DeepCopy(it->value, allocator), allocator);
    }
    return out;
  }
  rapidjson::Value out;
  out.CopyFrom(value, allocator);  // numbers, booleans, null
  return out;
}

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// RapidJSON's Writer escapes strings one character at a time. Most FHIR strings (codes, ids,
// URLs, dates) hold nothing to escape: for those the Writer still places the separators (a raw
// value of length 0 keeps its state), and the characters go into the buffer in one copy. A string
// with bytes past ASCII is checked for UTF-8: what the gateway echoes (a request's path, a
// destination's answer) need not be, and JSON text must (see common/utf8.h).
void WriteString(const rapidjson::Value& s, JsonWriter& writer, rapidjson::StringBuffer& buffer, bool key) {
  const char* text = s.GetString();
  const rapidjson::SizeType length = s.GetStringLength();
  static constexpr auto kEscaped = [] {
    std::array<unsigned char, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[static_cast<size_t>(c)] = 1;
    table['"'] = table['\\'] = 1;
    return table;
  }();
  unsigned bad = 0;
  unsigned high = 0;  // a byte past ASCII
  rapidjson::SizeType i = 0;
#if defined(__SSE2__)
  // 16 bytes at a time, unaligned loads that stay inside the string; the tail goes through the table.
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1f);
  for (; i + 16 <= length; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + i));
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                     _mm_cmpeq_epi8(_mm_max_epu8(x, control), control));
    bad |= static_cast<unsigned>(_mm_movemask_epi8(hit));
    high |= static_cast<unsigned>(_mm_movemask_epi8(x));
  }
#endif
  for (; i < length; ++i) {
    bad |= kEscaped[static_cast<unsigned char>(text[i])];
    high |= static_cast<unsigned char>(text[i]) & 0x80u;
  }
  if (high != 0 && !IsValidUtf8({text, length})) {
    const std::string valid = ValidUtf8({text, length});
    const auto size = static_cast<rapidjson::SizeType>(valid.size());
    if (key) {
      writer.Key(valid.data(), size);
    } else {
      writer.String(valid.data(), size);
    }
    return;
  }
  if (bad != 0) {
    if (key) {
      writer.Key(text, length);
    } else {
      writer.String(text, length);
    }
    return;
  }
  writer.RawValue("", 0, rapidjson::kStringType);
  char* out = buffer.Push(length + 2);
  out[0] = '"';
  std::memcpy(out + 1, text, length);
  out[length + 1] = '"';
}

void Write(const rapidjson::Value& v, JsonWriter& writer, rapidjson::StringBuffer& buffer) {
  switch (v.GetType()) {
    case rapidjson::kNullType: writer.Null(); break;
    case rapidjson::kFalseType: writer.Bool(false); break;
    case rapidjson::kTrueType: writer.Bool(true); break;
    case rapidjson::kStringType: WriteString(v, writer, buffer, false); break;
    case rapidjson::kObjectType:
      writer.StartObject();
      for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        WriteString(m->name, writer, buffer, true);
        Write(m->value, writer, buffer);
      }
      writer.EndObject(v.MemberCount());
      break;
    case rapidjson::kArrayType:
      writer.StartArray();
      for (const auto& element : v.GetArray()) Write(element, writer, buffer);
      writer.EndArray(v.Size());
      break;
    case rapidjson::kNumberType:  // the order of GenericValue::Accept
      if (v.IsDouble()) {
        // JSON has no infinity or NaN; RapidJSON's writer would stop there and leave the text cut
        // off. What makes a document checks its numbers; this keeps the text well-formed anyway.
        if (!std::isfinite(v.GetDouble())) {
          writer.Null();
        } else {
          writer.Double(v.GetDouble());
        }
      } else if (v.IsInt()) {
        writer.Int(v.GetInt());
      } else if (v.IsUint()) {
        writer.Uint(v.GetUint());
      } else if (v.IsInt64()) {
        writer.Int64(v.GetInt64());
      } else {
        writer.Uint64(v.GetUint64());
      }
      break;
  }
}

}  // namespace

std::string_view StringMemberView(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) return {};
  auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsString()
             ? std::string_view(it->value.GetString(), it->value.GetStringLength())
             : std::string_view();
}

std::string StringMember(const rapidjson::Value& object, const char* key) {
  return std::string(StringMemberView(object, key));
}

std::string ToJson(const rapidjson::Value& value) {
  // One buffer and writer per thread, kept warm: no regrowth or level-stack allocation per call.
  thread_local rapidjson::StringBuffer buffer(nullptr, 16 * 1024);
  thread_local JsonWriter writer(buffer);
  buffer.Clear();
  writer.Reset(buffer);
  Write(value, writer, buffer);
  std::string out(buffer.GetString(), buffer.GetSize());
  if (buffer.GetSize() > 1024 * 1024) buffer.ShrinkToFit();  // do not keep a huge one forever
  return out;
}

void PutIfNotEmpty(JsonWriter& w, const char* key, std::string_view value) {
  if (value.empty()) return;
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

}  // namespace ketamine::fhir
