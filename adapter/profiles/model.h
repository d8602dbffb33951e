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

// Heterogeneous lookup: find by std::string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

enum class TypeKind { kPrimitive, kComplex, kResource };
enum class PrimitiveId {
  kOther, kBoolean, kInteger, kPositiveInt, kUnsignedInt, kDecimal, kString, kMarkdown, kCode, kId, kUri,
  kUrl, kCanonical, kOid, kUuid, kDate, kDateTime, kInstant, kTime, kBase64Binary, kXhtml
};
PrimitiveId PrimitiveIdOf(std::string_view type_name);

inline constexpr uint32_t kUnbounded = UINT32_MAX;

struct ValueSetDef {
  std::string url;
  bool enumerable = false;  // false: needs a terminology server, codes are not checked here
  StringSet codes;                  // any system
  StringMap<StringSet> by_system;   // system -> codes
  void Add(std::string_view system, std::string_view code) {
    codes.emplace(code);
    by_system[std::string(system)].emplace(code);
  }
  bool Contains(std::string_view code) const { return codes.find(code) != codes.end(); }
  bool Contains(std::string_view system, std::string_view code) const {
    auto it = by_system.find(system);
    return it != by_system.end() && it->second.find(code) != it->second.end();
  }
};

// One property an element can appear as in JSON: "valueQuantity" for value[x] of type Quantity.
struct Property {
  const ElementDef* element = nullptr;
  std::string type_code;         // "Quantity", "dateTime", "BackboneElement"
  const TypeDef* type = nullptr;  // resolved type (primitive or complex); null for inline backbone
  bool is_resource = false;       // Resource / DomainResource: a nested resource
  bool is_primitive = false;
  PrimitiveId primitive = PrimitiveId::kOther;
};

struct ElementDef {
  std::string name;     // "value[x]" -> "value"
  std::string path;     // "MedicationRequest.dosageInstruction" (for messages)
  bool choice = false;
  uint32_t min = 0;
  uint32_t max = 1;
  bool summary = false;  // isSummary: part of what _summary=true returns
  std::vector<std::string> type_codes;
  std::set<std::string> reference_targets;  // empty: any
  const ValueSetDef* binding = nullptr;     // required binding only
  // Inline children (BackboneElement / Element defined in place), or the element a
  // contentReference points to.
  std::vector<std::unique_ptr<ElementDef>> children;
  const ElementDef* content_reference = nullptr;
  StringMap<Property> properties;  // JSON name -> property of children
  const StringMap<Property>& Properties() const {
    return content_reference != nullptr ? content_reference->properties : properties;
  }
  const std::vector<std::unique_ptr<ElementDef>>& Children() const {
    return content_reference != nullptr ? content_reference->children : children;
  }
};

struct TypeDef {
  std::string name;
  std::string kind;  // primitive-type, complex-type, resource
  TypeKind kind_id = TypeKind::kComplex;
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
