// FHIR JSON documents over RapidJSON, read behind our own limits: a size cap before parsing and a
// nesting cap after an iterative (stack-safe) parse, so hostile input cannot exhaust the stack or
// memory. Errors are kInvalidInput / kTooLarge with a readable message.
//   auto doc = fhir::ParseJson(body);            // Result<std::unique_ptr<rapidjson::Document>>
//   if (doc.ok()) validator.Validate(**doc);
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::fhir {

struct JsonLimits {
  size_t max_bytes = 16u << 20;
  int max_depth = 64;
};

[[nodiscard]] Result<std::unique_ptr<rapidjson::Document>> ParseJson(std::string_view text,
                                                                     const JsonLimits& limits = {});

// Compact JSON text of a value.
std::string ToJson(const rapidjson::Value& value);

}  // namespace ketamine::fhir
