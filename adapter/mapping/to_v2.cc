// FHIR -> HL7 v2 by inverting the v2 -> FHIR plans: each field rule says "v2 path P gives FHIR path
// F with type T", so the outbound direction reads F, turns it back into T and writes it at P. One
// set of mapping files serves both directions, a site's override changes both, and a round trip
// keeps every mapped field. mappings/fhir-to-v2/*.json add what the inversion cannot know: the
// message type, segment order, groups, set IDs, defaults and per-version differences.
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <tuple>

#include "common/clock.h"
#include "common/file.h"
#include "fhir/json.h"
#include "hl7v2/builder.h"
#include "mapping/converter.h"
#include "mapping/mapping_file.h"
#include "mapping/v2_datatypes.h"

namespace ketamine::mapping {
namespace {

using rapidjson::Value;

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

std::vector<std::string> Strings(const Value& v, const char* key) {
  std::vector<std::string> out;
  if (!v.IsObject()) return out;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& s : it->value.GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString());
  }
  return out;
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// --- loading mappings/fhir-to-v2/*.json -------------------------------------------------------

class SpecReader {
 public:
  explicit SpecReader(MappingFile file) : file_(std::move(file)) {}

  Status Bad(const std::string& where, const std::string& what, const std::string& near = {}) const {
    return file_.Bad(where, what, near);
  }

  Result<hl7v2::Path> ReadPath(const std::string& text, const std::string& where) const {
    auto path = hl7v2::ParsePath(text);
    if (!path.ok()) return Bad(where, path.status().message(), text);
    return *path;
  }

  Result<OutboundSpec> Read(const Value& d) const {
    static const std::set<std::string> kKeys = {"id", "description", "resourceType", "plan", "primary", "message",
                                               "segments", "messageSegments", "group", "always", "setIds",
                                               "defaults", "versions", "default"};
    if (!d.IsObject()) return Bad("(top)", "must be an object");
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
      if (!kKeys.count(it->name.GetString())) {
        return Bad(it->name.GetString(), "unknown key", it->name.GetString());
      }
    }
    OutboundSpec spec;
    spec.source_file = file_.name;
    spec.id = Str(d, "id");
    spec.resource_type = Str(d, "resourceType");
    spec.plan_id = Str(d, "plan");
    spec.primary = Str(d, "primary");
    spec.message = Str(d, "message");
    for (auto [key, value] : {std::pair<const char*, std::string*>{"id", &spec.id}, {"resourceType", &spec.resource_type},
                              {"plan", &spec.plan_id}, {"primary", &spec.primary}, {"message", &spec.message}}) {
      if (value->empty()) return Bad(key, "is required (a string)");
    }
    spec.is_default = d.HasMember("default") && d["default"].IsBool() && d["default"].GetBool();
    spec.segments = Strings(d, "segments");
    if (spec.segments.empty()) return Bad("segments", "is a non-empty array of segment names in output order");
    spec.message_segments = Strings(d, "messageSegments");
    spec.always = Strings(d, "always");
    for (const auto& list : {spec.message_segments, spec.always}) {
      for (const auto& name : list) {
        if (!Contains(spec.segments, name)) return Bad("segments", "does not list " + name, name);
      }
    }
    if (auto g = d.FindMember("group"); g != d.MemberEnd()) {
      if (!g->value.IsObject()) return Bad("group", "must be an object");
      spec.group_start = Str(g->value, "start");
      std::string per = Str(g->value, "per");
      if (!per.empty() && per != "resource" && per != "message") return Bad("group.per", "is \"resource\" or \"message\"", per);
      spec.group_per_resource = per != "message";
      spec.repeat = Str(g->value, "repeat");
      if (!spec.group_per_resource && spec.repeat.empty()) return Bad("group.repeat", "is required when per is \"message\"");
    }
    for (const auto& text : Strings(d, "setIds")) {
      KETAMINE_ASSIGN_OR_RETURN(auto path, ReadPath(text, "setIds"));
      spec.set_ids.push_back(path);
    }
    if (auto defaults = d.FindMember("defaults"); defaults != d.MemberEnd()) {
      if (!defaults->value.IsObject()) return Bad("defaults", "must be an object");
      for (auto it = defaults->value.MemberBegin(); it != defaults->value.MemberEnd(); ++it) {
        std::string where = std::string("defaults.") + it->name.GetString();
        KETAMINE_ASSIGN_OR_RETURN(auto path, ReadPath(it->name.GetString(), where));
        if (it->value.IsString()) {
          spec.defaults.emplace_back(path, it->value.GetString());
        } else if (std::string copy = Str(it->value, "copy"); !copy.empty()) {
          KETAMINE_ASSIGN_OR_RETURN(auto from, ReadPath(copy, where + ".copy"));
          spec.copies.emplace_back(path, from);
        } else {
          return Bad(where, "is a string or {\"copy\": \"SEG-n\"}", it->name.GetString());
        }
      }
    }
    if (auto versions = d.FindMember("versions"); versions != d.MemberEnd()) {
      if (!versions->value.IsObject()) return Bad("versions", "must be an object");
      for (auto it = versions->value.MemberBegin(); it != versions->value.MemberEnd(); ++it) {
        OutboundSpec::Version v;
        v.message = Str(it->value, "message");
        v.omit = Strings(it->value, "omit");
        spec.versions[it->name.GetString()] = std::move(v);
      }
    }
    return spec;
  }

 private:
  MappingFile file_;
};

}  // namespace

Status OutboundLoader::Load(Converter& converter, const std::vector<std::filesystem::path>& dirs) {
  for (const auto& dir : dirs) {
    for (const auto& file : FilesIn(dir / "fhir-to-v2", ".json")) {
      KETAMINE_ASSIGN_OR_RETURN(ParsedMappingFile parsed, ReadMappingFile(file));
      SpecReader reader(std::move(parsed.file));
      KETAMINE_ASSIGN_OR_RETURN(OutboundSpec spec, reader.Read(*parsed.json));
      const MessagePlan* plan = converter.PlanById(spec.plan_id);
      if (plan == nullptr) return reader.Bad("plan", "no v2-to-fhir mapping with id '" + spec.plan_id + "'", spec.plan_id);
      auto primary = std::find_if(plan->resources.begin(), plan->resources.end(),
                                  [&](const ResourceRule& r) { return r.name == spec.primary; });
      if (primary == plan->resources.end() || primary->resource_type != spec.resource_type) {
        return reader.Bad("primary", "plan '" + spec.plan_id + "' has no " + spec.resource_type + " resource named '" +
                                         spec.primary + "'", spec.primary);
      }
      ReplaceOrAdd(converter.outbound_, std::move(spec));
    }
  }
  return Status::Ok();
}

const OutboundSpec* Converter::OutboundFor(std::string_view resource_type, std::string_view message_type) const {
  if (message_type.empty()) {
    for (const auto& spec : outbound_) {
      if (spec->is_default && spec->resource_type == resource_type) return spec.get();
    }
  }
  for (const auto& spec : outbound_) {
    if (!message_type.empty()) {
      if (spec->message.compare(0, message_type.size(), message_type) == 0 &&
          (spec->message.size() == message_type.size() || spec->message[message_type.size()] == '^') &&
          (resource_type.empty() || spec->resource_type == resource_type)) {
        return spec.get();
      }
    } else if (spec->resource_type == resource_type) {
      return spec.get();
    }
  }
  return nullptr;
}

namespace {

// --- the input: resources by fullUrl, "Type/id" and position -------------------------------------

class ResourceIndex {
 public:
  explicit ResourceIndex(const Value& input) {
    if (Str(input, "resourceType") == "Bundle") {
      auto entries = input.FindMember("entry");
      if (entries != input.MemberEnd() && entries->value.IsArray()) {
        rapidjson::SizeType i = 0;
        for (const Value& entry : entries->value.GetArray()) {
          auto resource = entry.IsObject() ? entry.FindMember("resource") : Value::ConstMemberIterator();
          if (entry.IsObject() && resource != entry.MemberEnd() && resource->value.IsObject()) {
            Add(resource->value, "Bundle.entry[" + std::to_string(i) + "].resource", Str(entry, "fullUrl"));
          }
          ++i;
        }
      }
    } else {
      Add(input, Str(input, "resourceType"), "");
    }
  }

  const std::vector<const Value*>& all() const { return all_; }
  // Its FHIRPath in the input ("Bundle.entry[2].resource"); `otherwise` for a resource the
  // conversion made itself (from a Reference.identifier).
  std::string LocationOf(const Value* resource, const std::string& otherwise = {}) const {
    auto it = locations_.find(resource);
    return it == locations_.end() ? otherwise : it->second;
  }

  // A literal reference ("urn:uuid:..", "Patient/1", "http://host/fhir/Patient/1", "#contained").
  const Value* Resolve(std::string_view reference, const Value* from) const {
    if (reference.empty()) return nullptr;
    if (reference[0] == '#' && from != nullptr) {
      auto contained = from->FindMember("contained");
      if (contained == from->MemberEnd() || !contained->value.IsArray()) return nullptr;
      for (const Value& c : contained->value.GetArray()) {
        if (Str(c, "id") == reference.substr(1)) return &c;
      }
      return nullptr;
    }
    if (auto it = by_reference_.find(std::string(reference)); it != by_reference_.end()) return it->second;
    // Absolute URL: its last two segments.
    size_t last = reference.rfind('/');
    if (last == std::string_view::npos || last == 0) return nullptr;
    size_t before = reference.rfind('/', last - 1);
    std::string tail(reference.substr(before == std::string_view::npos ? 0 : before + 1));
    auto it = by_reference_.find(tail);
    return it == by_reference_.end() ? nullptr : it->second;
  }

 private:
  void Add(const Value& resource, std::string location, const std::string& full_url) {
    all_.push_back(&resource);
    locations_[&resource] = std::move(location);
    if (!full_url.empty()) by_reference_[full_url] = &resource;
    std::string id = Str(resource, "id");
    if (!id.empty()) by_reference_[Str(resource, "resourceType") + "/" + id] = &resource;
  }

  std::vector<const Value*> all_;
  std::map<const Value*, std::string> locations_;
  std::map<std::string, const Value*> by_reference_;
};

// --- reading FHIR paths -------------------------------------------------------------------------

// "extension[0]" -> the url its rule gives it, so the outbound direction finds an extension by url
// wherever it sits in the array, not by position.
using UrlMap = std::map<std::string, std::string>;

UrlMap ExtensionUrls(const ResourceRule& rule) {
  UrlMap urls;
  for (const FieldRule& f : rule.fields) {
    if (f.type == FieldType::kValue && f.value && f.value->IsString() && f.to.size() > 4 &&
        f.to.compare(f.to.size() - 4, 4, ".url") == 0) {
      urls[f.to.substr(0, f.to.size() - 4)] = f.value->GetString();
    }
    if (f.type == FieldType::kReference && !f.extension_url.empty()) urls[f.to] = f.extension_url;
  }
  return urls;
}

void Collect(const Value& node, const std::vector<PathStep>& steps, size_t i, const std::string& prefix,
             const UrlMap& urls, std::vector<const Value*>& out) {
  if (i == steps.size()) {
    out.push_back(&node);
    return;
  }
  if (!node.IsObject()) return;
  const PathStep& step = steps[i];
  auto member = node.FindMember(rapidjson::StringRef(step.name.data(), step.name.size()));
  if (member == node.MemberEnd()) return;
  const Value& v = member->value;
  std::string here = prefix.empty() ? step.name : prefix + "." + step.name;
  if (step.index >= 0) {
    std::string key = here + "[" + std::to_string(step.index) + "]";
    if (auto url = urls.find(key); url != urls.end() && v.IsArray()) {
      for (const Value& element : v.GetArray()) {
        if (Str(element, "url") == url->second) {
          Collect(element, steps, i + 1, key, urls, out);
          return;
        }
      }
      return;
    }
    if (v.IsArray()) {
      if (static_cast<size_t>(step.index) < v.Size()) {
        Collect(v[static_cast<rapidjson::SizeType>(step.index)], steps, i + 1, key, urls, out);
      }
    } else if (step.index == 0) {
      Collect(v, steps, i + 1, key, urls, out);
    }
    return;
  }
  if (v.IsArray()) {
    rapidjson::SizeType n = 0;
    for (const Value& element : v.GetArray()) {
      Collect(element, steps, i + 1, here + "[" + std::to_string(n++) + "]", urls, out);
    }
    return;
  }
  Collect(v, steps, i + 1, here, urls, out);
}

bool HasTypeCode(const Value& identifier, const std::string& code) {
  auto type = identifier.FindMember("type");
  if (type == identifier.MemberEnd() || !type->value.IsObject()) return false;
  auto codings = type->value.FindMember("coding");
  if (codings == type->value.MemberEnd() || !codings->value.IsArray()) return false;
  for (const Value& c : codings->value.GetArray()) {
    if (Str(c, "code") == code) return true;
  }
  return false;
}

// The Reference at a reference rule's target (a Reference, or an extension holding one).
std::string ReferenceAt(const Value& resource, const FieldRule& f, const UrlMap& urls) {
  std::vector<const Value*> found;
  Collect(resource, f.steps, 0, "", urls, found);
  for (const Value* v : found) {
    if (!f.extension_url.empty()) {
      auto ref = v->FindMember("valueReference");
      if (ref != v->MemberEnd()) return Str(ref->value, "reference");
    } else if (std::string ref = Str(*v, "reference"); !ref.empty()) {
      return ref;
    }
  }
  return {};
}

// Every literal reference inside a resource, in document order.
void References(const Value& node, std::vector<std::string>& out) {
  fhir::ForEachReference(node, [&](const Value& reference) { out.emplace_back(reference.GetString()); });
}

// --- the message being written ------------------------------------------------------------------

struct SegmentKey {
  int group;  // -1: message level
  std::string name;
  int occurrence;
  bool operator<(const SegmentKey& o) const {
    return std::tie(group, name, occurrence) < std::tie(o.group, o.name, o.occurrence);
  }
};
using Slot = std::tuple<int, int, int, int>;  // field, repetition, component, subcomponent

class MessageDraft {
 public:
  MessageDraft(const OutboundSpec& spec, std::vector<std::string> segments, Issues& issues)
      : spec_(spec), segments_(std::move(segments)), issues_(issues) {}

  bool Has(const std::string& segment) const { return Contains(segments_, segment); }

  SegmentKey Key(const hl7v2::Path& path, int primary) const {
    if (Contains(spec_.message_segments, path.segment)) return {-1, path.segment, path.occurrence};
    if (spec_.group_per_resource) return {primary, path.segment, path.occurrence};
    if (path.segment == spec_.repeat) return {0, path.segment, primary + path.occurrence};
    return {0, path.segment, path.occurrence};
  }

  // Writes a value's parts at `path` (a field, a component or a subcomponent), repetition `rep`.
  // `writer` names the rule: a field another rule filled first keeps its value silently (the
  // forward direction also takes the first valued alternative); the same rule giving two values
  // (two Observations naming different patients) is a warning.
  void Write(const SegmentKey& key, const hl7v2::Path& path, int rep, const V2Value& value, const std::string& where,
             const void* writer = nullptr) {
    auto& fields = segments_written_[key];
    for (const V2Part& part : value) {
      int component = part.component, sub = part.subcomponent;
      if (path.component > 0) {
        if (path.subcomponent > 0) {
          if (part.component != 1 || part.subcomponent != 0) continue;
          component = path.component;
          sub = path.subcomponent;
        } else {
          if (part.subcomponent != 0) continue;  // no room below a subcomponent
          sub = part.component == 1 ? 0 : part.component;
          component = path.component;
          if (sub == 0 && value.size() > 1) sub = 1;
        }
      }
      Slot slot{path.field, rep, component, sub};
      auto [it, inserted] = fields.emplace(slot, part.text);
      auto [owner, fresh] = writers_.emplace(std::make_pair(key, slot), writer);
      (void)fresh;
      if (inserted) owner->second = writer;
      if (!inserted && it->second != part.text && owner->second == writer && writer != nullptr && !conflicts_.count(where)) {
        conflicts_.insert(where);
        issues_.Warning("fhir-to-v2-conflict", Location(where),
                        key.name + "-" + std::to_string(path.field) + " already holds '" + it->second + "'; '" +
                            part.text + "' from " + where + " is not written");
      }
    }
  }

  // Component 1 (or the named component) of a field written so far; "" when none.
  std::string Get(const SegmentKey& key, const hl7v2::Path& path) const {
    auto it = segments_written_.find(key);
    if (it == segments_written_.end()) return {};
    auto text = it->second.find(Slot{path.field, 1, path.component == 0 ? 1 : path.component, path.subcomponent});
    return text == it->second.end() ? std::string() : text->second;
  }

  bool Empty(const SegmentKey& key, const hl7v2::Path& path) const {
    auto it = segments_written_.find(key);
    if (it == segments_written_.end()) return true;
    for (const auto& [slot, text] : it->second) {
      if (std::get<0>(slot) != path.field) continue;
      if (path.component == 0 || std::get<2>(slot) == path.component) return false;
    }
    return true;
  }

  void Ensure(const SegmentKey& key) { segments_written_[key]; }

  // Set IDs, defaults and copies, then the segments in the spec's order.
  Result<std::string> Build(const hl7v2::MessageBuilder& msh) {
    std::set<int> groups;
    for (const auto& [key, fields] : segments_written_) {
      if (key.group >= 0) groups.insert(key.group);
    }
    for (const auto& name : spec_.always) {
      if (!Has(name)) continue;
      if (Contains(spec_.message_segments, name)) {
        Ensure({-1, name, 1});
      } else {
        for (int g : groups) Ensure({g, name, 1});
      }
    }
    std::map<std::pair<int, std::string>, int> numbers;
    for (auto& [key, fields] : segments_written_) {
      int number = ++numbers[{key.group, key.name}];
      for (const auto& set_id : spec_.set_ids) {
        if (set_id.segment == key.name) fields[Slot{set_id.field, 1, 1, 0}] = std::to_string(number);
      }
      for (const auto& [path, text] : spec_.defaults) {
        if (path.segment == key.name && Empty(key, path)) {
          fields[Slot{path.field, 1, path.component == 0 ? 1 : path.component, path.subcomponent}] = text;
        }
      }
    }
    for (const auto& [to, from] : spec_.copies) {
      for (auto& [key, fields] : segments_written_) {
        if (key.name != to.segment || !Empty(key, to)) continue;
        SegmentKey source{Contains(spec_.message_segments, from.segment) ? -1 : key.group, from.segment, 1};
        auto src = segments_written_.find(source);
        if (src == segments_written_.end()) continue;
        std::map<Slot, std::string> copied;
        for (const auto& [slot, text] : src->second) {
          if (std::get<0>(slot) == from.field) copied[Slot{to.field, std::get<1>(slot), std::get<2>(slot), std::get<3>(slot)}] = text;
        }
        fields.insert(copied.begin(), copied.end());
      }
    }
    std::vector<const std::pair<const SegmentKey, std::map<Slot, std::string>>*> order;
    for (const auto& entry : segments_written_) order.push_back(&entry);
    auto position = [&](const std::string& name) {
      return std::find(segments_.begin(), segments_.end(), name) - segments_.begin();
    };
    std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
      return std::make_tuple(a->first.group, position(a->first.name), a->first.occurrence) <
             std::make_tuple(b->first.group, position(b->first.name), b->first.occurrence);
    });
    hl7v2::MessageBuilder builder = msh;
    for (const auto* entry : order) {
      int occurrence = builder.AddSegment(entry->first.name);
      for (const auto& [slot, text] : entry->second) {
        hl7v2::Path path;
        path.segment = entry->first.name;
        path.occurrence = occurrence;
        std::tie(path.field, path.repetition, path.component, path.subcomponent) = slot;
        KETAMINE_RETURN_IF_ERROR(builder.Set(path, text));
      }
    }
    return builder.Build();
  }

 private:
  const OutboundSpec& spec_;
  std::vector<std::string> segments_;
  Issues& issues_;
  std::map<SegmentKey, std::map<Slot, std::string>> segments_written_;
  std::set<std::string> conflicts_;
  std::map<std::pair<SegmentKey, Slot>, const void*> writers_;
};

std::string ControlIdFor(const Value& input) {
  std::string hash = DeterministicUuid({"fhir-to-v2", fhir::ToJson(input)}).substr(9);
  hash.erase(std::remove(hash.begin(), hash.end(), '-'), hash.end());
  return hash.substr(0, 20);
}

}  // namespace

Result<V2Conversion> Converter::ToV2(const Value& input, const V2Options& options) const {
  if (!input.IsObject() || Str(input, "resourceType").empty()) {
    return InvalidInput("the input is not a FHIR resource (no resourceType)", Location("resourceType"));
  }
  ResourceIndex index(input);
  const OutboundSpec* spec = nullptr;
  if (!options.message_type.empty()) {
    spec = OutboundFor("", options.message_type);
    if (spec == nullptr) return Unsupported("no fhir-to-v2 mapping for message type " + options.message_type);
  } else {
    // The input's root: the first resource no other one references (the order, not its patient).
    std::set<const Value*> referenced_resources;
    for (const Value* r : index.all()) {
      std::vector<std::string> refs;
      References(*r, refs);
      for (const auto& ref : refs) {
        if (const Value* target = index.Resolve(ref, r); target != nullptr && target != r) referenced_resources.insert(target);
      }
    }
    for (int pass = 0; pass < 2 && spec == nullptr; ++pass) {
      for (const Value* r : index.all()) {
        if (pass == 0 && referenced_resources.count(r)) continue;
        if ((spec = OutboundFor(Str(*r, "resourceType"), "")) != nullptr) break;
      }
    }
    if (spec == nullptr) {
      return Unsupported("no fhir-to-v2 mapping for " + Str(input, "resourceType") +
                         (Str(input, "resourceType") == "Bundle" ? " entries" : ""), Location("resourceType"));
    }
  }
  const MessagePlan& plan = *PlanById(spec->plan_id);  // checked at load
  std::string message = spec->message;
  std::vector<std::string> segments = spec->segments;
  if (auto v = spec->versions.find(options.version); v != spec->versions.end()) {
    if (!v->second.message.empty()) message = v->second.message;
    for (const auto& omit : v->second.omit) segments.erase(std::remove(segments.begin(), segments.end(), omit), segments.end());
  }
  V2Conversion out;
  MessageDraft draft(*spec, segments, out.issues);

  std::vector<const Value*> primaries;
  for (const Value* r : index.all()) {
    if (Str(*r, "resourceType") == spec->resource_type) primaries.push_back(r);
  }
  if (primaries.empty()) {
    return InvalidInput("no " + spec->resource_type + " in the input for " + message, Location("Bundle.entry"));
  }
  std::set<std::string> referenced;  // rules some other rule points at
  for (const auto& rule : plan.resources) {
    for (const auto& f : rule.fields) {
      if (f.type == FieldType::kReference) referenced.insert(f.reference);
    }
  }
  // v2 fields that data rules read: a condition on one of them is data, never written back.
  std::set<std::pair<std::string, int>> data_fields;
  for (const auto& rule : plan.resources) {
    for (const auto& f : rule.fields) {
      for (const auto* paths : {&f.from, &f.units, &f.per}) {
        for (const auto& p : *paths) data_fields.insert({p.segment, p.field});
      }
    }
  }
  auto write_back = [&](const Condition& c) {
    return c.has_equals && !c.negate_equals && !c.equals_any.empty() &&
           !data_fields.count({c.equals_path.segment, c.equals_path.field});
  };
  std::set<const Value*> claimed(primaries.begin(), primaries.end());
  std::vector<std::unique_ptr<rapidjson::Document>> synthetic;  // resources made from Reference.identifier
  std::map<std::string, const ResourceRule*> rule_named;
  std::map<const ResourceRule*, UrlMap> urls_of;
  for (const auto& rule : plan.resources) {
    rule_named[rule.name] = &rule;
    urls_of[&rule] = ExtensionUrls(rule);
  }

  for (size_t k = 0; k < primaries.size(); ++k) {
    const int primary_index = static_cast<int>(k);
    std::map<std::string, const Value*> bound{{spec->primary, primaries[k]}};
    // Follow the rules' own references: order.subject -> patient, ...
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& rule : plan.resources) {
        auto from = bound.find(rule.name);
        if (from == bound.end()) continue;
        const UrlMap& urls = urls_of[&rule];
        for (const FieldRule& f : rule.fields) {
          if (f.type != FieldType::kReference || bound.count(f.reference)) continue;
          const ResourceRule* target = rule_named.count(f.reference) ? rule_named[f.reference] : nullptr;
          std::string reference = ReferenceAt(*from->second, f, urls);
          if (target == nullptr || reference.empty()) continue;
          const Value* resolved = index.Resolve(reference, from->second);
          if (resolved == nullptr) {
            // Not in the input: a Reference.identifier still gives the business identifier.
            std::vector<const Value*> refs;
            Collect(*from->second, f.steps, 0, "", urls, refs);
            for (const Value* ref : refs) {
              auto identifier = ref->IsObject() ? ref->FindMember("identifier") : Value::ConstMemberIterator();
              if (!ref->IsObject() || identifier == ref->MemberEnd()) continue;
              auto made = std::make_unique<rapidjson::Document>(rapidjson::kObjectType);
              made->AddMember("resourceType", Value(target->resource_type.c_str(), made->GetAllocator()), made->GetAllocator());
              Value ids(rapidjson::kArrayType);
              ids.PushBack(fhir::DeepCopy(identifier->value, made->GetAllocator()), made->GetAllocator());
              made->AddMember("identifier", ids, made->GetAllocator());
              resolved = made.get();
              synthetic.push_back(std::move(made));
              break;
            }
            if (resolved == nullptr) {
              std::string needed;
              for (const auto& field : target->fields) {
                if (field.required && !field.from.empty()) needed += (needed.empty() ? "" : ", ") + field.from.front().ToString();
              }
              out.issues.Add({needed.empty() ? Severity::kWarning : Severity::kError, "fhir-to-v2-unresolved-reference",
                              Location(index.LocationOf(primaries[k]) + "." + f.to),
                              "'" + reference + "' is not in the input (send a Bundle holding it); its " +
                                  target->resource_type + " fields stay empty" +
                                  (needed.empty() ? std::string() : ", but " + needed + " is required")});
              continue;
            }
          }
          if (Str(*resolved, "resourceType") != target->resource_type) continue;
          bound[f.reference] = resolved;
          claimed.insert(resolved);
          changed = true;
        }
      }
    }
    // Rules nothing points at (the order's Medication): a resource the primary references, else
    // the input's only unclaimed resource of the type.
    for (const auto& rule : plan.resources) {
      if (bound.count(rule.name) || referenced.count(rule.name)) continue;
      std::vector<std::string> refs;
      References(*primaries[k], refs);
      for (const auto& ref : refs) {
        const Value* r = index.Resolve(ref, primaries[k]);
        if (r != nullptr && Str(*r, "resourceType") == rule.resource_type) {
          bound[rule.name] = r;
          break;
        }
      }
      if (bound.count(rule.name)) continue;
      std::vector<const Value*> candidates;
      for (const Value* r : index.all()) {
        if (Str(*r, "resourceType") == rule.resource_type && !claimed.count(r)) candidates.push_back(r);
      }
      if (candidates.size() == 1 || candidates.size() == primaries.size()) {
        bound[rule.name] = candidates[candidates.size() == 1 ? 0 : k];
      }
    }

    // Write every bound rule's fields; then the conditions that made a forward rule apply.
    for (int phase = 0; phase < 2; ++phase) {
      for (const auto& rule : plan.resources) {
        auto it = bound.find(rule.name);
        if (it == bound.end()) continue;
        const Value& resource = *it->second;
        const std::string base = index.LocationOf(&resource, rule.resource_type);
        const UrlMap& urls = urls_of[&rule];
        for (const FieldRule& f : rule.fields) {
          const std::string where = base + "." + f.to;
          if (f.type == FieldType::kReference) continue;
          if (phase == 1) {
            // A fixed FHIR value written when a v2 field held a code: write that code back.
            if (f.type != FieldType::kValue || !f.has_when || !write_back(f.when) || !draft.Has(f.when.equals_path.segment)) {
              continue;
            }
            std::vector<const Value*> found;
            Collect(resource, f.steps, 0, "", urls, found);
            bool equal = false;
            for (const Value* v : found) equal = equal || *v == *f.value;
            SegmentKey key = draft.Key(f.when.equals_path, primary_index);
            if (equal && draft.Empty(key, f.when.equals_path)) {
              draft.Write(key, f.when.equals_path, 1, {{1, 0, f.when.equals_any.front()}}, where);
            }
            continue;
          }
          if (f.type == FieldType::kValue) continue;
          // The first alternative whose segment this message has (TQ1-7 in 2.5.1, RXE-1.4 in 2.3).
          const hl7v2::Path* target = nullptr;
          for (const auto& p : f.from) {
            if (draft.Has(p.segment)) {
              target = &p;
              break;
            }
          }
          if (target == nullptr) continue;
          // A rule whose condition a field written so far contradicts would not have applied
          // forward (the max dose is not in RXE-5's units once a rate put mg/kg/h there).
          if (f.has_when && f.when.has_equals && draft.Has(f.when.equals_path.segment)) {
            std::string current = draft.Get(draft.Key(f.when.equals_path, primary_index), f.when.equals_path);
            bool listed = Contains(f.when.equals_any, current);
            if (!current.empty() && listed == f.when.negate_equals) continue;
          }
          std::vector<const Value*> found;
          Collect(resource, f.steps, 0, "", urls, found);
          if (f.type == FieldType::kEi && !f.identifier_type.empty()) {
            std::erase_if(found, [&](const Value* v) { return !HasTypeCode(*v, f.identifier_type); });
          }
          if (!f.repeat && found.size() > 1) found.resize(1);
          // A choice element written as XCodeableConcept may come as XReference instead
          // (medication[x]): the referenced resource's code is the same concept.
          constexpr std::string_view kCodeable = "CodeableConcept";
          if (found.empty() && f.steps.size() == 1 && f.steps[0].name.size() > kCodeable.size() &&
              f.steps[0].name.compare(f.steps[0].name.size() - kCodeable.size(), kCodeable.size(), kCodeable) == 0) {
            const std::string choice = f.steps[0].name.substr(0, f.steps[0].name.size() - kCodeable.size());
            auto ref = resource.FindMember((choice + "Reference").c_str());
            if (ref != resource.MemberEnd()) {
              const Value* chosen = index.Resolve(Str(ref->value, "reference"), &resource);
              if (chosen != nullptr && chosen->HasMember("code")) found.push_back(&(*chosen)["code"]);
            }
          }
          SegmentKey key = draft.Key(*target, primary_index);
          bool wrote = false;
          int rep = 0;
          for (const Value* v : found) {
            ++rep;
            const int repetition = f.repeat ? rep : (target->repetition == 0 ? 1 : target->repetition);
            V2Value value;
            switch (f.type) {
              case FieldType::kString:
                if (v->IsString()) value = {{1, 0, v->GetString()}};
                break;
              case FieldType::kCode: {
                if (!v->IsString()) break;
                std::string code = v->GetString();
                if (!f.map.empty()) {
                  const std::string* source = vocabulary_->Untranslate(f.map, code);
                  if (source == nullptr) {
                    out.issues.Add({f.required ? Severity::kError : Severity::kWarning, "fhir-to-v2-code-unmapped",
                                    Location(where), "'" + code + "' has no v2 code in the concept map " + f.map});
                    break;
                  }
                  code = *source;
                }
                value = {{1, 0, code}};
                break;
              }
              case FieldType::kCwe: {
                if (f.map.empty()) {
                  value = FromCodeableConcept(*v, *vocabulary_);
                  break;
                }
                // The v2 coding the forward map kept beside its translation, else the translation back.
                const std::string target_system = vocabulary_->TargetSystem(f.map);
                rapidjson::Document rest(rapidjson::kObjectType);
                Value codings(rapidjson::kArrayType);
                std::string translated;
                if (auto c = v->FindMember("coding"); c != v->MemberEnd() && c->value.IsArray()) {
                  for (const Value& coding : c->value.GetArray()) {
                    if (Str(coding, "system") == target_system) {
                      if (translated.empty()) translated = Str(coding, "code");
                    } else {
                      codings.PushBack(Value(coding, rest.GetAllocator()), rest.GetAllocator());
                    }
                  }
                }
                if (!codings.Empty()) {
                  rest.AddMember("coding", codings, rest.GetAllocator());
                  value = FromCodeableConcept(rest, *vocabulary_);
                } else if (const std::string* source = vocabulary_->Untranslate(f.map, translated); source != nullptr) {
                  std::string system = vocabulary_->SystemName(vocabulary_->SourceSystem(f.map));
                  value = {{1, 0, *source}};
                  if (!system.empty()) value.push_back({3, 0, system});
                } else {
                  out.issues.Add({f.required ? Severity::kError : Severity::kWarning, "fhir-to-v2-code-unmapped",
                                  Location(where), "no coding of " + f.to + " has a v2 code in the concept map " + f.map});
                }
                break;
              }
              case FieldType::kCoding: value = FromCoding(*v, *vocabulary_); break;
              case FieldType::kCx: value = FromIdentifier(*v, *vocabulary_); break;
              case FieldType::kEi: value = FromEiIdentifier(*v); break;
              case FieldType::kXcnIdentifier: value = FromXcnIdentifier(*v, *vocabulary_); break;
              case FieldType::kXpn: value = FromHumanName(*v, 1); break;
              case FieldType::kXcnName: value = FromHumanName(*v, 2); break;
              case FieldType::kXad: value = FromAddress(*v); break;
              case FieldType::kXtn: value = FromContactPoint(*v); break;
              case FieldType::kDtm:
              case FieldType::kDate: {
                std::string text = v->IsString() ? DtmText(v->GetString()) : std::string();
                if (text.empty()) {
                  out.issues.Error("fhir-to-v2-datatype", Location(where), "not a FHIR date/time");
                } else {
                  value = {{1, 0, f.type == FieldType::kDate ? text.substr(0, 8) : text}};
                }
                break;
              }
              case FieldType::kDecimal:
              case FieldType::kInteger:
                if (v->IsNumber()) value = {{1, 0, NumberText(*v)}};
                break;
              case FieldType::kQuantity:
              case FieldType::kRate: {
                auto number = v->IsObject() ? v->FindMember("value") : Value::ConstMemberIterator();
                if (!v->IsObject() || number == v->MemberEnd() || !number->value.IsNumber()) break;
                value = {{1, 0, NumberText(number->value)}};
                std::string code = Str(*v, "code");
                std::string unit = code.empty() ? Str(*v, "unit") : code;
                for (const auto& u : f.units) {
                  if (!draft.Has(u.segment) || unit.empty()) continue;
                  V2Value unit_value{{1, 0, unit}};
                  if (!code.empty() && Str(*v, "system") == "http://unitsofmeasure.org") {
                    unit_value.push_back({2, 0, Str(*v, "unit").empty() ? code : Str(*v, "unit")});
                    unit_value.push_back({3, 0, "UCUM"});
                  }
                  draft.Write(draft.Key(u, primary_index), u, repetition, unit_value, where, &f);
                  break;
                }
                if (f.type == FieldType::kRate) {
                  for (const auto& p : f.per) {
                    if (!draft.Has(p.segment)) continue;
                    draft.Write(draft.Key(p, primary_index), p, 1, {{1, 0, "H1"}}, where);  // the value is per hour
                    break;
                  }
                }
                break;
              }
              case FieldType::kValue:
              case FieldType::kReference: break;
            }
            if (value.empty()) continue;
            draft.Write(key, *target, repetition, value, where, &f);
            wrote = true;
          }
          if (!wrote && f.required) {
            out.issues.Error("fhir-to-v2-required-missing", Location(where),
                             target->ToString() + " needs " + rule.resource_type + "." + f.to);
          }
          // The forward rule applied when a v2 field held one of some codes: write the first back.
          if (wrote && f.has_when && write_back(f.when) && draft.Has(f.when.equals_path.segment)) {
            SegmentKey condition = draft.Key(f.when.equals_path, primary_index);
            if (draft.Empty(condition, f.when.equals_path)) {
              draft.Write(condition, f.when.equals_path, 1, {{1, 0, f.when.equals_any.front()}}, where);
            }
          }
        }
      }
    }
  }

  hl7v2::MessageBuilder msh;
  auto set = [&](const char* path, const std::string& text) -> Status {
    return text.empty() ? Status::Ok() : msh.Set(path, text);
  };
  KETAMINE_RETURN_IF_ERROR(set("MSH-3", options.sending_application));
  KETAMINE_RETURN_IF_ERROR(set("MSH-4", options.sending_facility));
  KETAMINE_RETURN_IF_ERROR(set("MSH-5", options.receiving_application));
  KETAMINE_RETURN_IF_ERROR(set("MSH-6", options.receiving_facility));
  std::string timestamp = options.timestamp;
  if (timestamp.empty()) timestamp = DtmText(Str(input, "timestamp"));
  if (timestamp.empty()) timestamp = FormatHl7Timestamp(Clock::System().Now());
  KETAMINE_RETURN_IF_ERROR(set("MSH-7", timestamp));
  int component = 1;
  for (size_t start = 0; start <= message.size(); ++component) {
    size_t caret = message.find('^', start);
    std::string part = message.substr(start, caret == std::string::npos ? std::string::npos : caret - start);
    std::string path = "MSH-9." + std::to_string(component);
    // MSH-9.3 (message structure) exists from v2.3.1 on.
    if (component < 3 || options.version != "2.3") KETAMINE_RETURN_IF_ERROR(set(path.c_str(), part));
    if (caret == std::string::npos) break;
    start = caret + 1;
  }
  KETAMINE_RETURN_IF_ERROR(set("MSH-10", options.control_id.empty() ? ControlIdFor(input) : options.control_id));
  KETAMINE_RETURN_IF_ERROR(set("MSH-11", "P"));
  KETAMINE_RETURN_IF_ERROR(set("MSH-12", options.version));
  KETAMINE_RETURN_IF_ERROR(set("MSH-15", "AL"));
  KETAMINE_RETURN_IF_ERROR(set("MSH-16", "NE"));
  KETAMINE_RETURN_IF_ERROR(set("MSH-18", "UNICODE UTF-8"));
  KETAMINE_ASSIGN_OR_RETURN(out.message, draft.Build(msh));
  return out;
}

}  // namespace ketamine::mapping
