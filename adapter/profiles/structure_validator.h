// Validates FHIR R4 JSON resources against the base structure model: JSON types, unknown
// elements, cardinality, arrays vs single values, choice types, primitive formats, required
// bindings, Reference targets, primitive extensions (_element), empty values, and the invariants
// every element carries (ele-1: no empty elements; ext-1: extensions have a value or nested
// extensions, not both). Bundle entries and contained resources are validated as resources.
// Issues carry our rule code and a FHIRPath location with indexes.
//   StructureValidator v(model);
//   Issues issues; v.Validate(resource_json, issues);
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>

#include "common/issue.h"
#include "profiles/model.h"

namespace ketamine::profiles {

struct StructureOptions {
  size_t max_issues = 200;  // stop collecting after this many
};

class StructureValidator {
 public:
  explicit StructureValidator(std::shared_ptr<const Model> model, StructureOptions options = {});

  // `resource` is a parsed JSON value; its resourceType selects the definition.
  void Validate(const rapidjson::Value& resource, Issues& issues) const;

  const Model& model() const { return *model_; }

 private:
  class Run;
  std::shared_ptr<const Model> model_;
  StructureOptions options_;
};

}  // namespace ketamine::profiles
