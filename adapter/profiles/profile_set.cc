#include "profiles/profile_set.h"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/file.h"
#include "fhir/json.h"
#include "profiles/identifiers.h"

namespace ketamine::profiles {
namespace {

using rapidjson::Value;
constexpr const char* kUcum = "http://unitsofmeasure.org";
constexpr const char* kDosingWeightUrl = "http://fhir.ketamine-gateway.org/StructureDefinition/dosing-weight";

std::unique_ptr<rapidjson::Document> CopyOf(const Value& v) {
  auto doc = std::make_unique<rapidjson::Document>();
  rapidjson::Value copy = fhir::DeepCopy(v, doc->GetAllocator());
  static_cast<rapidjson::Value&>(*doc) = copy;  // moves the copy into the document root
  return doc;
}

// A member read from anything the validator is given: not every value is an object (an extension
// array may hold a number).
std::string_view Str(const Value& v, const char* key) { return fhir::StringMemberView(v, key); }

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t next = text.find(sep, start);
    out.emplace_back(text.substr(start, next == std::string_view::npos ? text.size() - start : next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Members of `obj` that stand for element `name` ("rate[x]" -> rateQuantity, rateRatio ...).
struct Item {
  const Value* value;
  std::string_view json_name;  // points into the JSON document
  int index;                   // -1 when the member is not an array
};
using Items = boost::container::small_vector<Item, 8>;

Items Collect(const Value& obj, const std::string& name) {
  Items items;
  if (!obj.IsObject()) return items;
  auto add = [&](const Value& v, std::string_view json_name) {
    if (v.IsArray()) {
      int i = 0;
      for (const auto& item : v.GetArray()) items.push_back({&item, json_name, i++});
    } else {
      items.push_back({&v, std::move(json_name), -1});
    }
  };
  if (EndsWith(name, "[x]")) {
    std::string base = name.substr(0, name.size() - 3);
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (key.size() > base.size() && key.substr(0, base.size()) == base && key[base.size()] >= 'A' &&
          key[base.size()] <= 'Z') {
        add(it->value, key);
      }
    }
  } else {
    auto it = obj.FindMember(rapidjson::StringRef(name.data(), name.size()));
    if (it != obj.MemberEnd()) add(it->value, std::string_view(it->name.GetString(), it->name.GetStringLength()));
  }
  return items;
}

// A FHIRPath location kept as a chain of stack frames and rendered only for an issue.
struct PathNode {
  const PathNode* parent;
  std::string_view name;
  int index;
  std::string ToString() const {
    std::string out = parent != nullptr ? parent->ToString() + "." : std::string();
    out.append(name);
    if (index >= 0) out += "[" + std::to_string(index) + "]";
    return out;
  }
};

bool CodingIn(const Value& coding, const ValueSetDef& vs) {
  if (!coding.IsObject()) return false;
  return vs.Contains(Str(coding, "system"), Str(coding, "code"));
}

bool CodeableConceptIn(const Value& cc, const ValueSetDef& vs) {
  if (!cc.IsObject()) return false;
  auto codings = cc.FindMember("coding");
  if (codings == cc.MemberEnd() || !codings->value.IsArray()) return false;
  for (const auto& c : codings->value.GetArray()) {
    if (CodingIn(c, vs)) return true;
  }
  return false;
}

}  // namespace

bool MatchesPattern(const Value& value, const Value& pattern) {
  if (pattern.IsObject()) {
    if (!value.IsObject()) return false;
    for (auto it = pattern.MemberBegin(); it != pattern.MemberEnd(); ++it) {
      auto found = value.FindMember(it->name);
      if (found == value.MemberEnd() || !MatchesPattern(found->value, it->value)) return false;
    }
    return true;
  }
  if (pattern.IsArray()) {
    if (!value.IsArray()) return false;
    for (const auto& want : pattern.GetArray()) {
      bool any = false;
      for (const auto& have : value.GetArray()) any = any || MatchesPattern(have, want);
      if (!any) return false;
    }
    return true;
  }
  return value == pattern;
}

ProfileNode* ProfileNode::Child(const std::string& child_name) {
  for (auto& c : children) {
    if (c->name == child_name) return c.get();
  }
  children.push_back(std::make_unique<ProfileNode>());
  children.back()->name = child_name;
  children.back()->path = path + "." + child_name;
  return children.back().get();
}

class ProfileLoader {
 public:
  explicit ProfileLoader(ProfileSet& set) : set_(set) {}

  Status Load(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir / "definitions", ec)) {
      return InvalidInput("cannot list " + (dir / "definitions").string() + ": not a folder");
    }
    const std::vector<std::filesystem::path> files = FilesIn(dir / "definitions", ".json");
    std::vector<std::pair<std::filesystem::path, std::unique_ptr<fhir::JsonDocument>>> docs;
    for (const auto& file : files) {
      KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJsonFile(file));
      docs.emplace_back(file, std::move(doc));
    }
    // Code systems first, then value sets (which expand them), then profiles (which bind them).
    for (const auto& [file, doc] : docs) {
      if (Str(*doc, "resourceType") == "CodeSystem") KETAMINE_RETURN_IF_ERROR(AddCodeSystem(file, *doc));
    }
    for (const auto& [file, doc] : docs) {
      if (Str(*doc, "resourceType") == "ValueSet") KETAMINE_RETURN_IF_ERROR(AddValueSet(file, *doc));
    }
    for (const auto& [file, doc] : docs) {
      if (Str(*doc, "resourceType") == "StructureDefinition") KETAMINE_RETURN_IF_ERROR(AddProfile(file, *doc));
    }
    return LoadAutoApply(dir / "auto-apply.json");
  }

 private:
  static Status Bad(const std::filesystem::path& file, const std::string& what) {
    return InvalidInput(file.filename().string() + ": " + what);
  }

  Status AddCodeSystem(const std::filesystem::path& file, const Value& cs) {
    std::string url(Str(cs, "url"));
    if (url.empty()) return Bad(file, "CodeSystem without url");
    auto& codes = code_systems_[url];
    auto concepts = cs.FindMember("concept");
    if (concepts == cs.MemberEnd() || !concepts->value.IsArray()) return Bad(file, "CodeSystem without concepts");
    for (const auto& c : concepts->value.GetArray()) {
      std::string code(Str(c, "code"));
      if (code.empty()) return Bad(file, "concept without code");
      codes.push_back(code);
    }
    return Status::Ok();
  }

  Status AddValueSet(const std::filesystem::path& file, const Value& vs) {
    auto def = std::make_unique<ValueSetDef>();
    def->url = Str(vs, "url");
    if (def->url.empty()) return Bad(file, "ValueSet without url");
    def->enumerable = true;
    const Value* include = nullptr;
    auto compose = vs.FindMember("compose");
    if (compose != vs.MemberEnd() && compose->value.IsObject()) {
      auto inc = compose->value.FindMember("include");
      if (inc != compose->value.MemberEnd() && inc->value.IsArray()) include = &inc->value;
    }
    if (include == nullptr) return Bad(file, "ValueSet without compose.include");
    for (const auto& part : include->GetArray()) {
      std::string system(Str(part, "system"));
      auto concepts = part.FindMember("concept");
      std::vector<std::string> codes;
      if (concepts != part.MemberEnd() && concepts->value.IsArray()) {
        for (const auto& c : concepts->value.GetArray()) codes.emplace_back(Str(c, "code"));
      } else if (code_systems_.count(system)) {
        codes = code_systems_[system];
      } else {
        return Bad(file, "include of " + system + " needs its concepts or a CodeSystem file");
      }
      for (const auto& code : codes) {
        def->Add(system, code);
      }
    }
    set_.value_sets_[def->url] = std::move(def);
    return Status::Ok();
  }

  const ValueSetDef* ResolveValueSet(std::string_view url) {
    if (const ValueSetDef* ours = set_.FindValueSet(url)) return ours;
    return set_.model_->FindValueSet(url);
  }

  Status AddProfile(const std::filesystem::path& file, const Value& sd) {
    auto profile = std::make_unique<Profile>();
    profile->url = Str(sd, "url");
    profile->type = Str(sd, "type");
    profile->title = Str(sd, "title");
    if (profile->url.empty() || profile->type.empty()) return Bad(file, "StructureDefinition needs url and type");
    if (set_.model_->FindType(profile->type) == nullptr) return Bad(file, "unknown type " + profile->type);
    profile->root.name = profile->type;
    profile->root.path = profile->type;
    auto diff = sd.FindMember("differential");
    if (diff == sd.MemberEnd() || !diff->value.IsObject() || !diff->value.HasMember("element") ||
        !diff->value["element"].IsArray()) {
      return Bad(file, "StructureDefinition needs differential.element");
    }
    for (const auto& element : diff->value["element"].GetArray()) {
      KETAMINE_RETURN_IF_ERROR(AddElement(file, *profile, element));
    }
    DeriveExtensionSliceUrls(profile->root);
    set_.profiles_[profile->url] = std::move(profile);
    return Status::Ok();
  }

  Status AddElement(const std::filesystem::path& file, Profile& profile, const Value& element) {
    std::string id(Str(element, "id"));
    if (id.empty()) return Bad(file, "differential element without id");
    std::vector<std::string> steps = Split(id, '.');
    if (steps.front() != profile.type) return Bad(file, id + ": does not start with " + profile.type);
    ProfileNode* node = &profile.root;
    SliceRule* slice = nullptr;
    for (size_t i = 1; i < steps.size(); ++i) {
      std::vector<std::string> parts = Split(steps[i], ':');
      node = node->Child(parts[0]);
      slice = nullptr;
      if (parts.size() == 2) {
        for (auto& s : node->slices) {
          if (s.name == parts[1]) slice = &s;
        }
        if (slice == nullptr) {
          node->slices.push_back(SliceRule{parts[1], nullptr, "", 0, kUnbounded, std::make_unique<ProfileNode>(), ""});
          slice = &node->slices.back();
          slice->node->name = parts[0];
          slice->node->path = node->path + ":" + parts[1];
        }
        node = slice->node.get();
      }
    }
    // Cardinality (on the slice itself when the element is a slice).
    auto min = element.FindMember("min");
    auto max = element.FindMember("max");
    if (min != element.MemberEnd()) {
      if (!min->value.IsUint()) return Bad(file, id + ": min must be a whole number");
      if (slice != nullptr) slice->min = min->value.GetUint();
      else {
        node->has_min = true;
        node->min = min->value.GetUint();
      }
    }
    if (max != element.MemberEnd()) {
      if (!max->value.IsString()) return Bad(file, id + ": max must be a string");
      std::string m = max->value.GetString();
      uint32_t value = m == "*" ? kUnbounded : static_cast<uint32_t>(std::strtoul(m.c_str(), nullptr, 10));
      if (m != "*" && (m.empty() || m.find_first_not_of("0123456789") != std::string::npos)) {
        return Bad(file, id + ": bad max '" + m + "'");
      }
      if (slice != nullptr) slice->max = value;
      else {
        node->has_max = true;
        node->max = value;
      }
    }
    // Types, with extension profiles and reference target profiles.
    auto types = element.FindMember("type");
    if (types != element.MemberEnd() && types->value.IsArray()) {
      for (const auto& t : types->value.GetArray()) {
        std::string code(Str(t, "code"));
        node->types.push_back(code);
        auto profiles = t.FindMember("profile");
        if (code == "Extension" && profiles != t.MemberEnd() && profiles->value.IsArray() &&
            !profiles->value.Empty() && profiles->value[0].IsString() && slice != nullptr) {
          slice->profile = profiles->value[0].GetString();
          slice->extension_url = slice->profile;
        }
        auto targets = t.FindMember("targetProfile");
        if (targets != t.MemberEnd() && targets->value.IsArray()) {
          for (const auto& p : targets->value.GetArray()) {
            if (p.IsString()) node->target_profiles.emplace_back(p.GetString());
          }
        }
      }
    }
    // pattern[x] / fixed[x]
    for (auto it = element.MemberBegin(); it != element.MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (key.substr(0, 7) == "pattern") {
        if (slice != nullptr) slice->pattern = CopyOf(it->value);
        else node->pattern = CopyOf(it->value);
      } else if (key.substr(0, 5) == "fixed") {
        node->fixed = CopyOf(it->value);
      }
    }
    auto binding = element.FindMember("binding");
    if (binding != element.MemberEnd() && binding->value.IsObject()) {
      std::string url(Str(binding->value, "valueSet"));
      std::string strength(Str(binding->value, "strength"));
      const ValueSetDef* vs = ResolveValueSet(url);
      if (vs == nullptr) return Bad(file, id + ": unknown value set " + url);
      node->binding = vs;
      node->binding_required = strength == "required";
    }
    auto constraints = element.FindMember("constraint");
    if (constraints != element.MemberEnd() && constraints->value.IsArray()) {
      for (const auto& c : constraints->value.GetArray()) {
        std::string key(Str(c, "key"));
        bool known = false;
        for (const char* native : kNativeInvariants) known = known || key == native;
        if (!known) return Bad(file, id + ": invariant " + key + " is not implemented by the validator");
        node->invariants.push_back(key);
      }
    }
    return Status::Ok();
  }

  // Nested extension slices are matched by their fixed url ("Extension.extension:amount.url").
  static void DeriveExtensionSliceUrls(ProfileNode& node) {
    for (auto& child : node.children) {
      for (auto& slice : child->slices) {
        if (slice.extension_url.empty() && !slice.pattern) {
          for (auto& grandchild : slice.node->children) {
            if (grandchild->name == "url" && grandchild->fixed && grandchild->fixed->IsString()) {
              slice.extension_url = grandchild->fixed->GetString();
            }
          }
        }
        DeriveExtensionSliceUrls(*slice.node);
      }
      DeriveExtensionSliceUrls(*child);
    }
  }

  Status LoadAutoApply(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return Status::Ok();
    KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJsonFile(file));
    auto rules = doc->FindMember("rules");
    if (rules == doc->MemberEnd() || !rules->value.IsArray()) return Bad(file, "'rules' array missing");
    int n = 0;
    for (const auto& r : rules->value.GetArray()) {
      std::string where = "rules[" + std::to_string(n++) + "]";
      AutoApplyRule rule;
      rule.resource_type = Str(r, "resourceType");
      rule.path = Str(r, "path");
      rule.profile = Str(r, "profile");
      if (rule.resource_type.empty() || rule.path.empty() || rule.profile.empty()) {
        return Bad(file, where + " needs resourceType, path and profile");
      }
      if (set_.Find(rule.profile) == nullptr) return Bad(file, where + ".profile: unknown profile " + rule.profile);
      std::string vs(Str(r, "valueSet"));
      if (!vs.empty()) {
        rule.value_set = ResolveValueSet(vs);
        if (rule.value_set == nullptr) return Bad(file, where + ".valueSet: unknown value set " + vs);
      }
      auto codes = r.FindMember("codes");
      if (codes != r.MemberEnd() && codes->value.IsArray()) {
        for (const auto& c : codes->value.GetArray()) {
          rule.codes.emplace_back(Str(c, "system"), Str(c, "code"));
        }
      }
      set_.auto_rules_.push_back(std::move(rule));
    }
    return Status::Ok();
  }

  ProfileSet& set_;
  std::map<std::string, std::vector<std::string>> code_systems_;
};

Result<std::shared_ptr<const ProfileSet>> ProfileSet::Load(const std::filesystem::path& dir,
                                                           std::shared_ptr<const Model> model) {
  auto set = std::shared_ptr<ProfileSet>(new ProfileSet());
  set->model_ = std::move(model);
  ProfileLoader loader(*set);
  KETAMINE_RETURN_IF_ERROR(loader.Load(dir));
  return std::shared_ptr<const ProfileSet>(std::move(set));
}

const Profile* ProfileSet::Find(std::string_view url) const {
  auto it = profiles_.find(url.substr(0, url.find('|')));
  return it == profiles_.end() ? nullptr : it->second.get();
}

const ValueSetDef* ProfileSet::FindValueSet(std::string_view url) const {
  auto it = value_sets_.find(url.substr(0, url.find('|')));
  return it == value_sets_.end() ? nullptr : it->second.get();
}

std::vector<const Profile*> ProfileSet::ProfilesFor(const Value& resource, Issues& issues,
                                                    const std::string& location) const {
  std::vector<const Profile*> out;
  if (!resource.IsObject()) return out;
  auto add = [&](const Profile* p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  auto meta = resource.FindMember("meta");
  if (meta != resource.MemberEnd() && meta->value.IsObject()) {
    auto claimed = meta->value.FindMember("profile");
    if (claimed != meta->value.MemberEnd() && claimed->value.IsArray()) {
      int i = 0;
      for (const auto& url : claimed->value.GetArray()) {
        if (!url.IsString()) continue;
        if (const Profile* p = Find(url.GetString())) {
          add(p);
        } else {
          issues.Add({Severity::kInformation, "profile-unknown",
                      Location(location + ".meta.profile[" + std::to_string(i) + "]"),
                      std::string("profile ") + url.GetString() + " is not known here and was not checked"});
        }
        ++i;
      }
    }
  }
  std::string_view type = Str(resource, "resourceType");
  for (const auto& rule : auto_rules_) {
    if (rule.resource_type != type) continue;
    auto cc = resource.FindMember(rule.path.c_str());
    if (cc == resource.MemberEnd()) continue;
    bool match = rule.value_set != nullptr && CodeableConceptIn(cc->value, *rule.value_set);
    if (!match && cc->value.IsObject() && cc->value.HasMember("coding") && cc->value["coding"].IsArray()) {
      for (const auto& c : cc->value["coding"].GetArray()) {
        for (const auto& [system, code] : rule.codes) {
          match = match || (Str(c, "system") == system && Str(c, "code") == code);
        }
      }
    }
    if (match) add(Find(rule.profile));
  }
  return out;
}

namespace {

class Applier {
 public:
  Applier(const ProfileSet& set, const Value& resource, Issues& issues)
      : set_(set), resource_(resource), issues_(issues) {}

  void Node(const ProfileNode& node, const Value& obj, const PathNode& path) {
    for (const auto& child : node.children) {
      Items items = Collect(obj, child->name);
      std::string_view base = child->name;
      if (EndsWith(base, "[x]")) base.remove_suffix(3);
      const PathNode here{&path, base, -1};
      if (child->has_min && items.size() < child->min) {
        Error("profile-cardinality-min", here,
              child->name + " is required by the profile (min " + std::to_string(child->min) + ")");
      }
      if (child->has_max && items.size() > child->max) {
        Error("profile-cardinality-max", here,
              child->max == 0 ? child->name + " is not allowed by the profile"
                              : child->name + " allows at most " + std::to_string(child->max) + " value(s) in the profile");
      }
      for (const Item& item : items) {
        const PathNode item_path{&path, item.json_name, item.index};
        if (!child->types.empty() && EndsWith(child->name, "[x]")) {
          std::string_view suffix = item.json_name.substr(base.size());
          bool allowed = false;
          for (const auto& t : child->types) {
            allowed = allowed || (!t.empty() && t.size() == suffix.size() &&
                                  std::toupper(static_cast<unsigned char>(t[0])) == suffix[0] &&
                                  std::string_view(t).substr(1) == suffix.substr(1));
          }
          if (!allowed) Error("profile-type", item_path, std::string(suffix) + " is not allowed here by the profile");
        }
        CheckItem(*child, *item.value, item_path);
      }
      for (const auto& slice : child->slices) {
        uint32_t count = 0;
        for (const Item& item : items) {
          if (!InSlice(slice, *item.value)) continue;
          ++count;
          const PathNode item_path{&path, item.json_name, item.index};
          CheckItem(*slice.node, *item.value, item_path);
          if (!slice.profile.empty()) {
            if (const Profile* ext = set_.Find(slice.profile)) Node(ext->root, *item.value, item_path);
          }
        }
        if (count < slice.min) {
          Error("profile-slice-min", here,
                "slice '" + slice.name + "' of " + std::string(base) + " is required by the profile (min " +
                    std::to_string(slice.min) + ")");
        }
        if (slice.max != kUnbounded && count > slice.max) {
          Error("profile-slice-max", here,
                "slice '" + slice.name + "' of " + std::string(base) + " allows at most " + std::to_string(slice.max));
        }
      }
    }
  }

 private:
  bool InSlice(const SliceRule& slice, const Value& item) const {
    if (slice.pattern) return MatchesPattern(item, *slice.pattern);
    if (!slice.extension_url.empty()) return Str(item, "url") == slice.extension_url;
    return false;
  }

  void CheckItem(const ProfileNode& node, const Value& item, const PathNode& path) {
    if (node.pattern && !MatchesPattern(item, *node.pattern)) {
      Error("profile-pattern", path, "does not match the value the profile requires: " + fhir::ToJson(*node.pattern));
    }
    if (node.fixed && !(item == *node.fixed)) {
      Error("profile-fixed", path, "must be exactly " + fhir::ToJson(*node.fixed));
    }
    if (node.binding != nullptr && node.binding->enumerable) Binding(node, item, path);
    for (const auto& key : node.invariants) Invariant(key, item, path);
    if (item.IsObject()) Node(node, item, path);
  }

  void Binding(const ProfileNode& node, const Value& item, const PathNode& path) {
    const ValueSetDef& vs = *node.binding;
    bool ok;
    if (item.IsString()) {
      ok = vs.Contains(std::string_view(item.GetString(), item.GetStringLength()));
    } else if (item.IsObject() && item.HasMember("coding")) {
      ok = CodeableConceptIn(item, vs);
    } else if (item.IsObject() && item.HasMember("code")) {
      ok = CodingIn(item, vs);
    } else if (item.IsObject() && item.HasMember("reference")) {
      return;  // a Reference: the referenced resource is checked where it is
    } else {
      ok = false;
    }
    if (ok) return;
    if (node.binding_required) {
      Error("binding-required", path, "no code from the required value set " + vs.url);
    } else {
      Warning("binding-extensible", path, "no code from the value set " + vs.url + " (extensible)");
    }
  }

  void Invariant(const std::string& key, const Value& item, const PathNode& path) {
    const PathNode value_path{&path, "value", -1};
    if (key == "ket-ucum-1" || key == "ket-vital-unit-1") {
      if (!item.IsObject() || Str(item, "system") != kUcum || Str(item, "code").empty()) {
        Error("invariant-" + key, path, "a quantity here needs system http://unitsofmeasure.org and a UCUM code");
      }
    } else if (key == "ket-dea-1") {
      std::string_view value = Str(item, "value");
      if (!value.empty() && !IsValidDeaNumber(value)) {
        Error("dea-check-digit", value_path, "'" + std::string(value) + "' is not a valid DEA number (format or check digit)");
      }
    } else if (key == "ket-npi-1") {
      std::string_view value = Str(item, "value");
      if (!value.empty() && !IsValidNpi(value)) {
        Error("npi-check-digit", value_path, "'" + std::string(value) + "' is not a valid NPI (check digit)");
      }
    } else if (key == "ket-pain-1") {
      const Value* number = &item;
      if (item.IsObject() && item.HasMember("value")) number = &item["value"];
      if (!number->IsNumber()) return;  // a wrong JSON type is reported by the structure check
      double v = number->GetDouble();
      if (v != std::floor(v)) Error("invariant-ket-pain-1", path, "a pain score is a whole number");
    } else if (key == "ket-period-1") {
      if (Str(resource_, "status") == "completed" && (Str(item, "start").empty() || Str(item, "end").empty())) {
        Error("invariant-ket-period-1", path, "a completed infusion needs its start and end");
      }
    } else if (key == "ket-dose-1") {
      bool any = false;
      for (const auto& dr : Collect(item, "doseAndRate")) {
        any = any || !Collect(*dr.value, "dose[x]").empty() || !Collect(*dr.value, "rate[x]").empty();
      }
      if (!any) Error("invariant-ket-dose-1", path, "the dosage gives neither a dose nor a rate");
    } else if (key == "ket-weight-1") {
      bool per_kg = false;
      for (const auto& dr : Collect(item, "doseAndRate")) {
        for (const char* which : {"dose[x]", "rate[x]"}) {
          for (const auto& q : Collect(*dr.value, which)) {
            per_kg = per_kg || Str(*q.value, "code").find("/kg") != std::string_view::npos;
          }
        }
      }
      bool has_weight = false;
      for (const auto& ext : Collect(item, "extension")) has_weight = has_weight || Str(*ext.value, "url") == kDosingWeightUrl;
      if (per_kg && !has_weight) {
        Error("invariant-ket-weight-1", path, "a weight-based (mg/kg) dose or rate needs the dosing-weight extension naming the body weight");
      }
    }
  }

  void Error(std::string code, const PathNode& at, std::string text) {
    issues_.Error(std::move(code), Location(at.ToString()), std::move(text));
  }
  void Warning(std::string code, const PathNode& at, std::string text) {
    issues_.Warning(std::move(code), Location(at.ToString()), std::move(text));
  }

  const ProfileSet& set_;
  const Value& resource_;
  Issues& issues_;
};

}  // namespace

void ProfileSet::Apply(const Profile& profile, const Value& resource, const std::string& location,
                       Issues& issues) const {
  Applier applier(*this, resource, issues);
  const PathNode root{nullptr, location, -1};
  applier.Node(profile.root, resource, root);
}

}  // namespace ketamine::profiles
