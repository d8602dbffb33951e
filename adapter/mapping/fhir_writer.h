// Writing into FHIR JSON by path: "dosageInstruction[0].doseAndRate[0].rateQuantity",
// "identifier[+]" (append). Objects and arrays along the path are created as needed.
//   SetAt(resource, "name[0].family", Value("Doe"), alloc);
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ketamine::mapping {

struct PathStep {
  std::string name;
  int index = -1;       // -1: not an array step; >= 0: that element
  bool append = false;  // [+]
};

// "a[0].b[+].c" -> steps; kInvalidInput for bad syntax.
[[nodiscard]] Result<std::vector<PathStep>> ParseFhirPath(std::string_view path);

// Puts `value` at `steps` under `root` (an object). An existing value at the end is replaced.
void SetAt(rapidjson::Value& root, const std::vector<PathStep>& steps, rapidjson::Value value,
           rapidjson::Document::AllocatorType& allocator);

}  // namespace ketamine::mapping
