#include "profiles/model.h"

#include <charconv>

#include "common/file.h"
#include "fhir/json.h"

namespace ketamine::profiles {

class ModelBuilder {
 public:
  explicit ModelBuilder(Model& model) : model_(model) {}

  Status Build(const rapidjson::Value& doc) {
    if (!doc.IsObject() || !doc.HasMember("types") || !doc["types"].IsObject()) {
      return InvalidInput("base model: 'types' object missing");
    }
    if (doc.HasMember("source") && doc["source"].IsString()) model_.source_ = doc["source"].GetString();
    if (doc.HasMember("valueSets") && doc["valueSets"].IsObject()) {
      for (auto it = doc["valueSets"].MemberBegin(); it != doc["valueSets"].MemberEnd(); ++it) {
        KETAMINE_RETURN_IF_ERROR(AddValueSet(it->name.GetString(), it->value));
      }
    }
    for (auto it = doc["types"].MemberBegin(); it != doc["types"].MemberEnd(); ++it) {
      KETAMINE_RETURN_IF_ERROR(AddType(it->name.GetString(), it->value));
    }
    for (auto& [name, type] : model_.types_) {
      KETAMINE_RETURN_IF_ERROR(Link(*type, type->root));
    }
    return Status::Ok();
  }

 private:
  static Status Bad(const std::string& where, const std::string& what) {
    return InvalidInput("base model: " + where + ": " + what);
  }

  Status AddValueSet(const std::string& url, const rapidjson::Value& v) {
    auto vs = std::make_unique<ValueSetDef>();
    vs->url = url;
    if (v.IsObject() && v.HasMember("codes") && v["codes"].IsArray()) {
      vs->enumerable = true;
      for (const auto& c : v["codes"].GetArray()) {
        if (!c.IsObject() || !c.HasMember("code") || !c["code"].IsString()) return Bad(url, "bad code entry");
        std::string code = c["code"].GetString();
        std::string system = c.HasMember("system") && c["system"].IsString() ? c["system"].GetString() : "";
        vs->Add(system, code);
      }
    }
    // The same value set is named with and without its version.
    std::string bare = url.substr(0, url.find('|'));
    auto* raw = vs.get();
    model_.value_sets_[url] = std::move(vs);
    if (bare != url && !model_.value_sets_.count(bare)) {
      model_.value_sets_[bare] = std::make_unique<ValueSetDef>(*raw);
    }
    return Status::Ok();
  }

  Status AddType(const std::string& name, const rapidjson::Value& v) {
    if (!v.IsObject() || !v.HasMember("kind") || !v["kind"].IsString()) return Bad(name, "kind missing");
    auto type = std::make_unique<TypeDef>();
    type->name = name;
    type->kind = v["kind"].GetString();
    type->kind_id = type->kind == "primitive-type" ? TypeKind::kPrimitive
                    : type->kind == "resource"     ? TypeKind::kResource
                                                   : TypeKind::kComplex;
    type->abstract = v.HasMember("abstract") && v["abstract"].IsBool() && v["abstract"].GetBool();
    if (v.HasMember("regex") && v["regex"].IsString()) type->regex = v["regex"].GetString();
    type->root.name = name;
    type->root.path = name;
    std::unordered_map<std::string, ElementDef*> by_path{{"", &type->root}};
    if (v.HasMember("elements")) {
      if (!v["elements"].IsArray()) return Bad(name, "elements must be an array");
      for (const auto& e : v["elements"].GetArray()) {
        if (!e.IsObject() || !e.HasMember("path") || !e["path"].IsString()) return Bad(name, "element without path");
        std::string path = e["path"].GetString();
        size_t dot = path.rfind('.');
        std::string parent_path = dot == std::string::npos ? "" : path.substr(0, dot);
        auto parent = by_path.find(parent_path);
        if (parent == by_path.end()) return Bad(name + "." + path, "parent element missing");
        auto element = std::make_unique<ElementDef>();
        std::string last = dot == std::string::npos ? path : path.substr(dot + 1);
        element->choice = last.size() > 3 && last.compare(last.size() - 3, 3, "[x]") == 0;
        element->name = element->choice ? last.substr(0, last.size() - 3) : last;
        element->path = name + "." + path;
        element->min = e.HasMember("min") && e["min"].IsUint() ? e["min"].GetUint() : 0;
        element->summary = e.HasMember("summary") && e["summary"].IsBool() && e["summary"].GetBool();
        std::string max = e.HasMember("max") && e["max"].IsString() ? e["max"].GetString() : "1";
        if (max == "*") {
          element->max = kUnbounded;
        } else {
          auto [ptr, ec] = std::from_chars(max.data(), max.data() + max.size(), element->max);
          if (ec != std::errc() || ptr != max.data() + max.size()) return Bad(element->path, "bad max '" + max + "'");
        }
        if (e.HasMember("types") && e["types"].IsArray()) {
          for (const auto& t : e["types"].GetArray()) {
            if (!t.HasMember("code") || !t["code"].IsString()) return Bad(element->path, "type without code");
            element->type_codes.emplace_back(t["code"].GetString());
            if (t.HasMember("targets") && t["targets"].IsArray()) {
              for (const auto& target : t["targets"].GetArray()) {
                if (target.IsString()) element->reference_targets.insert(target.GetString());
              }
            }
          }
        }
        if (e.HasMember("binding") && e["binding"].IsString()) {
          auto vs = model_.value_sets_.find(std::string_view(e["binding"].GetString()));
          if (vs != model_.value_sets_.end()) element->binding = vs->second.get();
        }
        if (e.HasMember("contentReference") && e["contentReference"].IsString()) {
          pending_refs_.push_back({element.get(), name, e["contentReference"].GetString()});
        }
        by_path[path] = element.get();
        parent->second->children.push_back(std::move(element));
      }
    }
    paths_[name] = std::move(by_path);
    model_.types_[name] = std::move(type);
    return Status::Ok();
  }

  static std::string Capitalized(const std::string& code) {
    std::string out = code;
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
  }

  Status Link(const TypeDef& type, ElementDef& node) {
    for (auto& child : node.children) {
      if (child->type_codes.empty() && child->content_reference == nullptr) {
        for (const auto& ref : pending_refs_) {
          if (ref.element == child.get() && ref.type == type.name) {
            auto& paths = paths_[type.name];
            auto target = paths.find(ref.path);
            if (target == paths.end()) return Bad(child->path, "contentReference " + ref.path + " not found");
            child->content_reference = target->second;
          }
        }
      }
      auto make = [&](const std::string& code) {
        Property p{child.get(), code, model_.FindType(code)};
        p.is_resource = code == "Resource" || code == "DomainResource";
        p.is_primitive = p.type != nullptr && p.type->kind_id == TypeKind::kPrimitive;
        p.primitive = PrimitiveIdOf(code);
        return p;
      };
      if (child->choice) {
        for (const auto& code : child->type_codes) node.properties[child->name + Capitalized(code)] = make(code);
      } else {
        node.properties[child->name] = make(child->type_codes.empty() ? "BackboneElement" : child->type_codes.front());
      }
      KETAMINE_RETURN_IF_ERROR(Link(type, *child));
    }
    return Status::Ok();
  }

  struct PendingRef {
    ElementDef* element;
    std::string type;
    std::string path;
  };
  Model& model_;
  std::unordered_map<std::string, std::unordered_map<std::string, ElementDef*>> paths_;
  std::vector<PendingRef> pending_refs_;
};

PrimitiveId PrimitiveIdOf(std::string_view t) {
  static const std::pair<std::string_view, PrimitiveId> kIds[] = {
      {"boolean", PrimitiveId::kBoolean}, {"integer", PrimitiveId::kInteger},
      {"positiveInt", PrimitiveId::kPositiveInt}, {"unsignedInt", PrimitiveId::kUnsignedInt},
      {"decimal", PrimitiveId::kDecimal}, {"string", PrimitiveId::kString}, {"markdown", PrimitiveId::kMarkdown},
      {"code", PrimitiveId::kCode}, {"id", PrimitiveId::kId}, {"uri", PrimitiveId::kUri}, {"url", PrimitiveId::kUrl},
      {"canonical", PrimitiveId::kCanonical}, {"oid", PrimitiveId::kOid}, {"uuid", PrimitiveId::kUuid},
      {"date", PrimitiveId::kDate}, {"dateTime", PrimitiveId::kDateTime}, {"instant", PrimitiveId::kInstant},
      {"time", PrimitiveId::kTime}, {"base64Binary", PrimitiveId::kBase64Binary}, {"xhtml", PrimitiveId::kXhtml}};
  for (const auto& [name, id] : kIds) {
    if (name == t) return id;
  }
  return PrimitiveId::kOther;
}

Result<std::shared_ptr<const Model>> Model::FromJson(std::string_view text) {
  fhir::JsonLimits limits;
  limits.max_bytes = 64u << 20;
  KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJson(text, limits));
  auto model = std::shared_ptr<Model>(new Model());
  ModelBuilder builder(*model);
  KETAMINE_RETURN_IF_ERROR(builder.Build(*doc));
  return std::shared_ptr<const Model>(std::move(model));
}

Result<std::shared_ptr<const Model>> Model::Load(const std::filesystem::path& base_json) {
  KETAMINE_ASSIGN_OR_RETURN(std::string text, ReadFile(base_json));
  auto model = FromJson(text);
  if (!model.ok()) return InvalidInput(base_json.string() + ": " + model.status().message());
  return model;
}

const TypeDef* Model::FindType(std::string_view name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second.get();
}

const ValueSetDef* Model::FindValueSet(std::string_view url) const {
  auto it = value_sets_.find(url);
  return it == value_sets_.end() ? nullptr : it->second.get();
}

}  // namespace ketamine::profiles
