#include "fhir/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <vector>

namespace ketamine::fhir {
namespace {

// Depth of the deepest nesting, stopping early once over `limit` (explicit stack: no recursion).
bool DepthWithin(const rapidjson::Value& root, int limit) {
  struct Frame {
    const rapidjson::Value* value;
    int depth;
  };
  std::vector<Frame> stack{{&root, 1}};
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    if (f.depth > limit) return false;
    if (f.value->IsObject()) {
      for (auto it = f.value->MemberBegin(); it != f.value->MemberEnd(); ++it) {
        if (it->value.IsObject() || it->value.IsArray()) stack.push_back({&it->value, f.depth + 1});
      }
    } else if (f.value->IsArray()) {
      for (const auto& item : f.value->GetArray()) {
        if (item.IsObject() || item.IsArray()) stack.push_back({&item, f.depth + 1});
      }
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<rapidjson::Document>> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return TooLarge("JSON document of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                    std::to_string(limits.max_bytes));
  }
  auto doc = std::make_unique<rapidjson::Document>();
  doc->Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(),
                                                                                 text.size());
  if (doc->HasParseError()) {
    return InvalidInput(std::string("invalid JSON at offset ") + std::to_string(doc->GetErrorOffset()) +
                        ": " + rapidjson::GetParseError_En(doc->GetParseError()));
  }
  if (!DepthWithin(*doc, limits.max_depth)) {
    return TooLarge("JSON nesting deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  return doc;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace ketamine::fhir
