// FHIR JSON documents over RapidJSON, read behind our own limits: a size cap before parsing and a
// nesting cap after an iterative (stack-safe) parse, so hostile input cannot exhaust the stack or
// memory. Errors are kInvalidInput / kTooLarge with a readable message.
//   auto doc = fhir::ParseJson(body);            // Result<std::unique_ptr<JsonDocument>>
//   if (doc.ok()) validator.Validate(**doc);
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::fhir {

struct JsonLimits {
  size_t max_bytes = 16u << 20;
  int max_depth = 64;
};

// A parsed document that owns the bytes it was parsed from: strings are parsed in place
// (RapidJSON's insitu mode), so they point into `buffer` and are never copied.
class JsonDocument : public rapidjson::Document {
 public:
  JsonDocument() = default;
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

 private:
  friend Result<std::unique_ptr<JsonDocument>> ParseJson(std::string_view, const JsonLimits&);
  std::string buffer_;
};

[[nodiscard]] Result<std::unique_ptr<JsonDocument>> ParseJson(std::string_view text,
                                                              const JsonLimits& limits = {});

// Reads and parses a JSON data file; errors name the file.
[[nodiscard]] Result<std::unique_ptr<JsonDocument>> ParseJsonFile(const std::filesystem::path& path,
                                                                  const JsonLimits& limits = {});

// The same into a caller's document and scratch buffer (both may be reused between calls, e.g.
// with an arena allocator on a hot path). `doc` refers into `scratch` afterwards.
[[nodiscard]] Status ParseJsonInto(std::string_view text, std::string& scratch, rapidjson::Document& doc,
                                   const JsonLimits& limits = {});

// A copy of `value` whose strings are owned by `allocator` (RapidJSON's CopyFrom keeps
// references to strings parsed in place, which die with their document).
rapidjson::Value DeepCopy(const rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator);

// Compact JSON text of a value.
std::string ToJson(const rapidjson::Value& value);

// Calls f(reference) for the string of every Reference.reference inside `value`, in document order;
// `value` may be const (to read the references) or not (to rewrite them).
template <typename V, typename F>
void ForEachReference(V& value, F&& f) {
  if (value.IsObject()) {
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      if (it->value.IsString() && std::string_view(it->name.GetString(), it->name.GetStringLength()) == "reference") {
        f(it->value);
      } else {
        ForEachReference(it->value, f);
      }
    }
  } else if (value.IsArray()) {
    for (auto& element : value.GetArray()) ForEachReference(element, f);
  }
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
// Writes "key": value into an object being written, unless value is empty (optional members).
void PutIfNotEmpty(JsonWriter& w, const char* key, std::string_view value);

// The string member `key` of an object; "" when `object` is no object or the member is absent or
// not a string.
std::string StringMember(const rapidjson::Value& object, const char* key);
// The same as a view into the document (valid while the document is).
std::string_view StringMemberView(const rapidjson::Value& object, const char* key);

}  // namespace ketamine::fhir
