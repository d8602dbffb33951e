// The compiled FHIR R4 structure model: every type and resource the gateway handles, with its
// elements as a tree, the JSON property names of choice types expanded ("value[x]" ->
// "valueQuantity", ...), cardinalities, Reference targets and required value sets. Built once at
// start-up from fhir-profiles/r4/base.json (made by fhir-profiles/tools/compact-r4.mjs) and shared
// read-only.
//   auto model = Model::Load("fhir-profiles/r4/base.json");
//   const TypeDef* mr = (*model)->FindType("MedicationRequest");
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace ketamine::profiles {

struct TypeDef;
struct ElementDef;

inline constexpr uint32_t kUnbounded = UINT32_MAX;

struct ValueSetDef {
  std::string url;
  bool enumerable = false;  // false: needs a terminology server, codes are not checked here
  std::unordered_set<std::string> codes;          // "code"
  std::unordered_set<std::string> system_codes;   // "system|code"
};

// One property an element can appear as in JSON: "valueQuantity" for value[x] of type Quantity.
struct Property {
  const ElementDef* element = nullptr;
  std::string type_code;         // "Quantity", "dateTime", "BackboneElement"
  const TypeDef* type = nullptr;  // resolved type (primitive or complex); null for inline backbone
};

struct ElementDef {
  std::string name;     // "value[x]" -> "value"
  std::string path;     // "MedicationRequest.dosageInstruction" (for messages)
  bool choice = false;
  uint32_t min = 0;
  uint32_t max = 1;
  std::vector<std::string> type_codes;
  std::set<std::string> reference_targets;  // empty: any
  const ValueSetDef* binding = nullptr;     // required binding only
  // Inline children (BackboneElement / Element defined in place), or the element a
  // contentReference points to.
  std::vector<std::unique_ptr<ElementDef>> children;
  const ElementDef* content_reference = nullptr;
  std::unordered_map<std::string, Property> properties;  // JSON name -> property of children
  const std::unordered_map<std::string, Property>& Properties() const {
    return content_reference != nullptr ? content_reference->properties : properties;
  }
  const std::vector<std::unique_ptr<ElementDef>>& Children() const {
    return content_reference != nullptr ? content_reference->children : children;
  }
};

struct TypeDef {
  std::string name;
  std::string kind;  // primitive-type, complex-type, resource
  bool abstract = false;
  std::string regex;       // primitive types: the spec's regex (documentation; checks are native)
  ElementDef root;         // children = the type's elements
};

class Model {
 public:
  static Result<std::shared_ptr<const Model>> Load(const std::filesystem::path& base_json);
  static Result<std::shared_ptr<const Model>> FromJson(std::string_view text);

  const TypeDef* FindType(std::string_view name) const;
  const ValueSetDef* FindValueSet(std::string_view url) const;
  const std::string& source() const { return source_; }

 private:
  std::map<std::string, std::unique_ptr<TypeDef>, std::less<>> types_;
  std::map<std::string, std::unique_ptr<ValueSetDef>, std::less<>> value_sets_;
  std::string source_;
  friend class ModelBuilder;
};

}  // namespace ketamine::profiles
