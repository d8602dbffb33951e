#include "fhir/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
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
  enum : uint8_t { kPlain, kQuote, kBackslash, kOpen, kClose, kHigh };
  static const auto kClass = [] {
    std::array<uint8_t, 256> t{};
    t['"'] = kQuote;
    t['\\'] = kBackslash;
    t['{'] = t['['] = kOpen;
    t['}'] = t[']'] = kClose;
    for (int c = 0x80; c < 0x100; ++c) t[static_cast<size_t>(c)] = kHigh;
    return t;
  }();
  Scan scan;
  int depth = 0;
  bool in_string = false;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    switch (kClass[p[i]]) {
      case kPlain: break;
      case kHigh: scan.ascii = false; break;
      case kQuote: in_string = !in_string; break;
      case kBackslash:
        if (in_string) ++i;  // the escaped character is not structure
        break;
      case kOpen:
        if (!in_string && ++depth > limit) {
          scan.too_deep = true;
          return scan;
        }
        break;
      case kClose:
        if (!in_string) --depth;
        break;
    }
  }
  return scan;
}

}  // namespace

Status ParseJsonInto(std::string_view text, std::string& scratch, rapidjson::Document& doc,
                     const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return TooLarge("JSON document of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                    std::to_string(limits.max_bytes));
  }
  Scan scan = ScanDocument(text, limits.max_depth);
  if (scan.too_deep) {
    return TooLarge("JSON nesting deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  scratch.assign(text);  // NUL-terminated by std::string; strings are parsed in place
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

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace ketamine::fhir
