#include "profiles/structure_validator.h"

#include <array>
#include <vector>

#include "profiles/primitives.h"

namespace ketamine::profiles {
namespace {

using rapidjson::Value;

// A FHIRPath location built only when an issue is recorded.
class PathStack {
 public:
  void Push(std::string_view name, int index = -1) { parts_.push_back({name, index}); }
  void Pop() { parts_.pop_back(); }
  void SetIndex(int index) { parts_.back().index = index; }
  std::string ToString() const {
    std::string out;
    for (const auto& part : parts_) {
      if (!out.empty()) out += '.';
      out.append(part.name);
      if (part.index >= 0) {
        out += '[';
        out += std::to_string(part.index);
        out += ']';
      }
    }
    return out;
  }

 private:
  struct Part {
    std::string_view name;
    int index;
  };
  std::vector<Part> parts_;
};

std::string_view JsonTypeName(const Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  return "object";
}


}  // namespace

class StructureValidator::Run {
 public:
  Run(const Model& model, const StructureOptions& options, Issues& issues)
      : model_(model), options_(options), issues_(issues) {}

  void Resource(const Value& v, std::string_view root_name) {
    if (!v.IsObject()) {
      Error("structure-not-object", "a resource must be a JSON object, found " + std::string(JsonTypeName(v)));
      return;
    }
    auto rt = v.FindMember("resourceType");
    if (rt == v.MemberEnd() || !rt->value.IsString()) {
      Error("structure-resource-type", "resourceType is missing or not a string");
      return;
    }
    std::string_view type_name(rt->value.GetString(), rt->value.GetStringLength());
    const TypeDef* type = model_.FindType(type_name);
    bool is_root = root_name.empty();
    if (is_root) path_.Push(type_name);
    if (type == nullptr || type->kind != "resource" || type->abstract) {
      Error("unsupported-resource-type",
            "resource type '" + std::string(type_name) + "' is not one this gateway validates");
    } else {
      Object(v, type->root, /*is_resource=*/true);
    }
    if (is_root) path_.Pop();
  }

 private:
  bool Full() const { return issues_.items().size() >= options_.max_issues; }

  void Error(std::string code, std::string text) {
    if (Full()) return;
    issues_.Error(std::move(code), Location(path_.ToString()), std::move(text));
  }
  void Warning(std::string code, std::string text) {
    if (Full()) return;
    issues_.Warning(std::move(code), Location(path_.ToString()), std::move(text));
  }

  // Validates the members of an object against the children of `node`.
  void Object(const Value& v, const ElementDef& node, bool is_resource) {
    if (v.MemberCount() == 0) {
      Error("structure-empty", "empty objects are not allowed (ele-1)");
      return;
    }
    const auto& properties = node.Properties();
    // Elements seen, for cardinality and choice checks (small: linear scans are fine).
    // Elements seen so far (a handful per object: an inline array, no allocation).
    std::array<const ElementDef*, 96> seen_storage;
    size_t seen_count = 0;
    auto seen_begin = seen_storage.begin();
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string_view name(it->name.GetString(), it->name.GetStringLength());
      if (is_resource && name == "resourceType") continue;
      if (!name.empty() && name[0] == '_') {
        PrimitiveExtension(v, name, it->value, properties);
        continue;
      }
      auto found = properties.find(name);
      if (found == properties.end()) {
        path_.Push(name);
        Error("unknown-element", "unknown element '" + std::string(name) + "'");
        path_.Pop();
        continue;
      }
      const Property& property = found->second;
      const ElementDef* element = property.element;
      for (auto it2 = seen_begin; it2 != seen_begin + static_cast<std::ptrdiff_t>(seen_count); ++it2) {
        if (*it2 == element) {
          path_.Push(name);
          Error("structure-choice", "only one type of " + element->name + "[x] may be given");
          path_.Pop();
        }
      }
      if (seen_count < seen_storage.size()) seen_storage[seen_count++] = element;
      path_.Push(name);
      Member(it->value, property, is_resource && name == "id");
      path_.Pop();
    }
    // Required elements (a primitive given only as _name with an extension counts as present).
    for (const auto& child : node.Children()) {
      if (child->min == 0) continue;
      bool present = false;
      for (size_t k = 0; k < seen_count; ++k) present = present || seen_storage[k] == child.get();
      if (!present && !child->choice) {
        std::string underscored = "_" + child->name;
        present = v.HasMember(underscored.c_str());
      }
      if (!present) {
        Error("cardinality-min", "required element '" + child->name + (child->choice ? "[x]" : "") +
                                     "' is missing (min " + std::to_string(child->min) + ")");
      }
    }
  }

  void ExtensionInvariant(const Value& v) {
    bool has_value = false;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string_view n(it->name.GetString(), it->name.GetStringLength());
      if (n.size() > 5 && n.substr(0, 5) == "value") has_value = true;
    }
    if (has_value && v.HasMember("extension")) {
      Error("invariant-ext-1", "an extension has either a value or nested extensions, not both (ext-1)");
    }
  }

  void PrimitiveExtension(const Value& parent, std::string_view name, const Value& value,
                          const StringMap<Property>& properties) {
    std::string base(name.substr(1));
    path_.Push(base);
    auto found = properties.find(base);
    if (found == properties.end() || !found->second.is_primitive) {
      Error("unknown-element", "'" + std::string(name) + "' does not extend a primitive element");
      path_.Pop();
      return;
    }
    const TypeDef* element_type = model_.FindType("Element");
    auto check_one = [&](const Value& item) {
      if (item.IsNull()) return;  // aligned with a value that has no extension
      if (!item.IsObject()) {
        Error("type-mismatch", "primitive extension must be an object");
        return;
      }
      if (element_type != nullptr) Object(item, element_type->root, false);
    };
    const auto base_member = parent.FindMember(base.c_str());
    if (value.IsArray()) {
      if (found->second.element->max == 1) Error("structure-array-unexpected", "'" + std::string(name) + "' must not be an array");
      if (base_member != parent.MemberEnd() && base_member->value.IsArray() &&
          base_member->value.Size() != value.Size()) {
        Error("structure-primitive-extension", "'" + std::string(name) + "' and '" + base + "' must have the same length");
      }
      int i = 0;
      for (const auto& item : value.GetArray()) {
        path_.SetIndex(i++);
        check_one(item);
      }
    } else {
      check_one(value);
    }
    path_.Pop();
  }

  void Member(const Value& value, const Property& property, bool resource_id) {
    const ElementDef& element = *property.element;
    const bool many = element.max != 1;
    if (value.IsArray()) {
      if (!many) {
        Error("structure-array-unexpected", "'" + element.name + "' allows one value, found an array");
        return;
      }
      if (value.Empty()) {
        Error("structure-empty", "empty arrays are not allowed");
        return;
      }
      if (element.max != kUnbounded && value.Size() > element.max) {
        Error("cardinality-max", "at most " + std::to_string(element.max) + " values allowed, found " +
                                     std::to_string(value.Size()));
      }
      int i = 0;
      for (const auto& item : value.GetArray()) {
        path_.SetIndex(i++);
        if (item.IsNull() && property.is_primitive) {
          continue;  // a null placeholder aligned with _element
        }
        Item(item, property, resource_id);
      }
      path_.SetIndex(-1);
      return;
    }
    if (many) {
      Error("structure-array-expected", "'" + element.name + "' repeats and must be an array");
    }
    Item(value, property, resource_id);
  }

  void Item(const Value& value, const Property& property, bool resource_id) {
    const ElementDef& element = *property.element;
    if (value.IsNull()) {
      Error("structure-empty", "null is not a FHIR value");
      return;
    }
    if (property.is_resource) {
      Resource(value, "nested");
      return;
    }
    const TypeDef* type = property.type;
    if (property.is_primitive) {
      static const std::string kIdType = "id";
      Primitive(value, resource_id ? PrimitiveId::kId : property.primitive,
                resource_id ? kIdType : property.type_code, element);
      return;
    }
    if (!value.IsObject()) {
      Error("type-mismatch", "expected an object (" + property.type_code + "), found " +
                                 std::string(JsonTypeName(value)));
      return;
    }
    if (!element.Children().empty()) {
      Object(value, element, false);  // a backbone element defined in place
    } else if (type != nullptr) {
      Object(value, type->root, false);
    } else {
      return;
    }
    if (property.type_code == "Extension") ExtensionInvariant(value);
    if (element.binding != nullptr) CodedBinding(value, property, element);
    if (property.type_code == "Reference" && !element.reference_targets.empty()) ReferenceTarget(value, element);
  }

  void Primitive(const Value& value, PrimitiveId id, const std::string& type, const ElementDef& element) {
    switch (JsonKindOf(id)) {
      case JsonKind::kBoolean:
        if (!value.IsBool()) Error("type-mismatch", "expected true or false, found " + std::string(JsonTypeName(value)));
        return;
      case JsonKind::kInteger: {
        if (!value.IsInt()) {
          Error("type-mismatch", "expected a whole number (" + type + "), found " +
                                     std::string(JsonTypeName(value)));
          return;
        }
        int n = value.GetInt();
        if ((id == PrimitiveId::kPositiveInt && n < 1) || (id == PrimitiveId::kUnsignedInt && n < 0)) {
          Error("format-" + type, std::to_string(n) + " is not a valid " + type);
        }
        return;
      }
      case JsonKind::kDecimal:
        if (!value.IsNumber()) Error("type-mismatch", "expected a number, found " + std::string(JsonTypeName(value)));
        return;
      case JsonKind::kString:
        break;
    }
    if (!value.IsString()) {
      Error("type-mismatch", "expected a string (" + type + "), found " + std::string(JsonTypeName(value)));
      return;
    }
    std::string_view text(value.GetString(), value.GetStringLength());
    if (!IsValidPrimitive(id, text)) {
      Error("format-" + type, "'" + std::string(text.substr(0, 64)) + "' is not a valid " + type);
      return;
    }
    if (element.binding != nullptr && element.binding->enumerable && id == PrimitiveId::kCode &&
        !element.binding->Contains(text)) {
      Error("binding-required", "'" + std::string(text.substr(0, 64)) + "' is not in the required value set " +
                                    element.binding->url);
    }
  }

  // Required binding on Coding / CodeableConcept: a coding from the value set must be present.
  void CodedBinding(const Value& value, const Property& property, const ElementDef& element) {
    const ValueSetDef& vs = *element.binding;
    if (!vs.enumerable) return;
    auto coding_ok = [&](const Value& coding) {
      if (!coding.IsObject()) return false;
      auto code = coding.FindMember("code");
      auto system = coding.FindMember("system");
      if (code == coding.MemberEnd() || !code->value.IsString()) return false;
      std::string_view system_text = system != coding.MemberEnd() && system->value.IsString()
                                         ? std::string_view(system->value.GetString(), system->value.GetStringLength())
                                         : std::string_view();
      return vs.Contains(system_text, std::string_view(code->value.GetString(), code->value.GetStringLength()));
    };
    bool ok = false;
    if (property.type_code == "Coding") {
      ok = coding_ok(value);
    } else if (property.type_code == "CodeableConcept") {
      auto codings = value.FindMember("coding");
      if (codings != value.MemberEnd() && codings->value.IsArray()) {
        for (const auto& c : codings->value.GetArray()) ok = ok || coding_ok(c);
      }
    } else {
      return;
    }
    if (!ok) Error("binding-required", "no coding from the required value set " + vs.url);
  }

  void ReferenceTarget(const Value& value, const ElementDef& element) {
    auto ref = value.FindMember("reference");
    if (ref == value.MemberEnd() || !ref->value.IsString()) return;
    std::string_view text(ref->value.GetString(), ref->value.GetStringLength());
    if (text.empty() || text[0] == '#' || text.substr(0, 4) == "urn:") return;  // contained / bundle-local
    if (element.reference_targets.count("Resource")) return;
    // "Type/id", "Type/id/_history/n" or an absolute URL ending in Type/id.
    size_t slash = text.rfind('/');
    if (text.find("/_history/") != std::string_view::npos) {
      text = text.substr(0, text.find("/_history/"));
      slash = text.rfind('/');
    }
    if (slash == std::string_view::npos || slash == 0) return;
    size_t type_start = text.rfind('/', slash - 1);
    std::string type(text.substr(type_start == std::string_view::npos ? 0 : type_start + 1,
                                 slash - (type_start == std::string_view::npos ? 0 : type_start + 1)));
    if (!element.reference_targets.count(type)) {
      std::string allowed;
      for (const auto& t : element.reference_targets) allowed += (allowed.empty() ? "" : ", ") + t;
      path_.Push("reference");
      Error("reference-target", "a reference to " + type + " is not allowed here (allowed: " + allowed + ")");
      path_.Pop();
    }
  }

  const Model& model_;
  const StructureOptions& options_;
  Issues& issues_;
  PathStack path_;
};

StructureValidator::StructureValidator(std::shared_ptr<const Model> model, StructureOptions options)
    : model_(std::move(model)), options_(options) {}

void StructureValidator::Validate(const rapidjson::Value& resource, Issues& issues) const {
  Run run(*model_, options_, issues);
  run.Resource(resource, "");
}

}  // namespace ketamine::profiles
