#include "mapping/converter.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "common/file.h"
#include "common/sha256.h"
#include "fhir/json.h"
#include "hl7v2/escape.h"
#include "mapping/datatypes.h"
#include "mapping/mapping_file.h"

namespace ketamine::mapping {
namespace {

using rapidjson::Value;

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

std::vector<std::string> SplitBar(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t bar = text.find('|', start);
    out.push_back(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

const std::map<std::string, FieldType, std::less<>>& FieldTypes() {
  static const std::map<std::string, FieldType, std::less<>> kTypes = {
      {"ST", FieldType::kString},     {"CODE", FieldType::kCode},     {"CWE", FieldType::kCwe},
      {"CODING", FieldType::kCoding}, {"CX", FieldType::kCx},         {"EI", FieldType::kEi},
      {"XPN", FieldType::kXpn},       {"XAD", FieldType::kXad},       {"XTN", FieldType::kXtn},
      {"DTM", FieldType::kDtm},       {"DT", FieldType::kDate},       {"NM", FieldType::kDecimal},
      {"INT", FieldType::kInteger},   {"QTY", FieldType::kQuantity},  {"RATE", FieldType::kRate},
      {"XCN-NAME", FieldType::kXcnName}, {"XCN-ID", FieldType::kXcnIdentifier}};
  return kTypes;
}

// A name-based id of 16 bytes of a digest: "urn:uuid:..." in the version 5 layout.
std::string UuidText(const unsigned char* bytes16) { return "urn:uuid:" + FormatUuid(bytes16, 5); }

}  // namespace

std::string FormatUuid(const unsigned char* bytes16, int version) {
  unsigned char b[16];
  std::copy(bytes16, bytes16 + 16, b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | (version << 4));
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

std::string DeterministicUuid(std::initializer_list<std::string_view> parts) {
  return UuidText(Sha256OfParts(parts).data());
}

class PlanLoader {
 public:
  PlanLoader(Converter& converter) : converter_(converter) {}

  Status LoadDir(const std::filesystem::path& dir) {
    for (const auto& file : FilesIn(dir / "v2-to-fhir", ".json")) KETAMINE_RETURN_IF_ERROR(LoadFile(file));
    return Status::Ok();
  }

 private:
  // "file.json line 12: resources[1].fields[3].from: bad HL7 path 'RXE3'".
  Status Bad(const std::string& where, const std::string& what, const std::string& near = {}) {
    return file_.Bad(where, what, near);
  }

  Status Paths(const Value& v, const char* key, const std::string& where, std::vector<hl7v2::Path>& out) {
    std::string text = Str(v, key);
    if (text.empty()) return Status::Ok();
    for (const auto& alternative : SplitBar(text)) {
      auto path = hl7v2::ParsePath(alternative);
      if (!path.ok()) return Bad(where + "." + key, path.status().message(), text);
      out.push_back(*path);
    }
    return Status::Ok();
  }

  Status ReadCondition(const Value& v, const std::string& where, Condition& c, bool& has) {
    auto it = v.FindMember("when");
    if (it == v.MemberEnd()) return Status::Ok();
    has = true;
    const Value& w = it->value;
    if (!w.IsObject()) return Bad(where + ".when", "must be an object");
    KETAMINE_RETURN_IF_ERROR(Paths(w, "present", where + ".when", c.present));
    KETAMINE_RETURN_IF_ERROR(Paths(w, "absent", where + ".when", c.absent));
    KETAMINE_RETURN_IF_ERROR(Paths(w, "anyPresent", where + ".when", c.any_present));
    auto eq = w.FindMember("equals");
    if (eq == w.MemberEnd()) {
      eq = w.FindMember("notEquals");
      c.negate_equals = eq != w.MemberEnd();
    }
    if (eq != w.MemberEnd()) {
      if (!eq->value.IsArray() || eq->value.Size() < 2 || !eq->value[0].IsString()) {
        return Bad(where + ".when.equals", "is [\"SEG-n\", \"value\", ...]");
      }
      auto path = hl7v2::ParsePath(eq->value[0].GetString());
      if (!path.ok()) return Bad(where + ".when.equals", path.status().message(), eq->value[0].GetString());
      c.equals_path = *path;
      c.has_equals = true;
      for (rapidjson::SizeType i = 1; i < eq->value.Size(); ++i) {
        if (eq->value[i].IsString()) c.equals_any.emplace_back(eq->value[i].GetString());
      }
    }
    return Status::Ok();
  }

  Status ReadField(const Value& f, const std::string& where, FieldRule& rule) {
    if (!f.IsObject()) return Bad(where, "must be an object");
    static const std::set<std::string> kKeys = {"to", "from", "type", "map", "units", "per", "identifierType", "value",
                                               "default", "reference", "extensionUrl", "repeat", "required",
                                               "unmapped", "when", "note"};
    for (auto it = f.MemberBegin(); it != f.MemberEnd(); ++it) {
      if (!kKeys.count(it->name.GetString())) return Bad(where, std::string("unknown key '") + it->name.GetString() + "'", it->name.GetString());
    }
    rule.to = Str(f, "to");
    if (rule.to.empty()) return Bad(where + ".to", "is required");
    auto steps = ParseFhirPath(rule.to);
    if (!steps.ok()) return Bad(where + ".to", steps.status().message(), rule.to);
    rule.steps = *steps;
    KETAMINE_RETURN_IF_ERROR(Paths(f, "from", where, rule.from));
    KETAMINE_RETURN_IF_ERROR(Paths(f, "units", where, rule.units));
    KETAMINE_RETURN_IF_ERROR(Paths(f, "per", where, rule.per));
    rule.map = Str(f, "map");
    rule.identifier_type = Str(f, "identifierType");
    rule.reference = Str(f, "reference");
    rule.extension_url = Str(f, "extensionUrl");
    std::string type = Str(f, "type");
    if (f.HasMember("value")) {
      rule.type = FieldType::kValue;
      rule.value = std::make_unique<rapidjson::Document>();
      Value copy = fhir::DeepCopy(f["value"], rule.value->GetAllocator());
      static_cast<Value&>(*rule.value) = copy;
    } else if (!rule.reference.empty()) {
      rule.type = FieldType::kReference;
    } else {
      auto t = FieldTypes().find(type.empty() ? "ST" : type);
      if (t == FieldTypes().end()) return Bad(where + ".type", "unknown type '" + type + "'", type);
      rule.type = t->second;
      if (rule.from.empty()) return Bad(where + ".from", "is required for type " + type);
    }
    if (f.HasMember("default")) {
      rule.value = std::make_unique<rapidjson::Document>();
      Value copy = fhir::DeepCopy(f["default"], rule.value->GetAllocator());
      static_cast<Value&>(*rule.value) = copy;
    }
    if (!rule.map.empty()) {
      rule.map_table = converter_.vocabulary_->FindMap(rule.map);
      if (rule.map_table == nullptr) return Bad(where + ".map", "no ConceptMap with id '" + rule.map + "' in conceptmaps/", rule.map);
    }
    if ((rule.type == FieldType::kQuantity || rule.type == FieldType::kRate) && rule.units.empty()) {
      return Bad(where + ".units", "a quantity needs the field its unit is in");
    }
    rule.repeat = f.HasMember("repeat") && f["repeat"].IsBool() && f["repeat"].GetBool();
    rule.required = f.HasMember("required") && f["required"].IsBool() && f["required"].GetBool();
    if (Str(f, "unmapped") == "warning") rule.unmapped_severity = Severity::kWarning;
    return ReadCondition(f, where, rule.when, rule.has_when);
  }

  Status ReadResource(const Value& r, const std::string& where, ResourceRule& rule, bool overlay) {
    if (!r.IsObject()) return Bad(where, "must be an object");
    rule.name = Str(r, "name");
    if (rule.name.empty()) return Bad(where + ".name", "is required");
    const auto salt = Sha256OfParts({"resource-rule", rule.name});
    std::copy(salt.begin(), salt.begin() + 16, rule.salt.begin());
    if (!overlay || r.HasMember("resourceType")) rule.resource_type = Str(r, "resourceType");
    if (!overlay && rule.resource_type.empty()) return Bad(where + ".resourceType", "is required");
    if (r.HasMember("segment")) rule.anchors = SplitBar(Str(r, "segment"));
    if (r.HasMember("once")) rule.once = r["once"].IsBool() && r["once"].GetBool();
    if (r.HasMember("identity")) {
      rule.identity.clear();
      KETAMINE_RETURN_IF_ERROR(Paths(r, "identity", where, rule.identity));
      if (Str(r, "identityType") == "EI") rule.identity_type = FieldType::kEi;
      if (Str(r, "identityType") == "XCN") rule.identity_type = FieldType::kXcnIdentifier;
    }
    KETAMINE_RETURN_IF_ERROR(ReadCondition(r, where, rule.when, rule.has_when));
    auto fields = r.FindMember("fields");
    if (fields != r.MemberEnd()) {
      if (!fields->value.IsArray()) return Bad(where + ".fields", "must be an array");
      int i = 0;
      for (const auto& f : fields->value.GetArray()) {
        FieldRule field;
        KETAMINE_RETURN_IF_ERROR(ReadField(f, where + ".fields[" + std::to_string(i++) + "]", field));
        // An overlay replaces the field with the same target, or adds it. Within one file, several
        // rules may write the same target under different conditions.
        auto same = overlay ? std::find_if(rule.fields.begin(), rule.fields.end(),
                                           [&](const FieldRule& x) { return x.to == field.to; })
                            : rule.fields.end();
        if (same != rule.fields.end()) {
          *same = std::move(field);
        } else {
          rule.fields.push_back(std::move(field));
        }
      }
    }
    if (!overlay && rule.anchors.empty()) return Bad(where + ".segment", "is required");
    return Status::Ok();
  }

  Status LoadFile(const std::filesystem::path& path) {
    KETAMINE_ASSIGN_OR_RETURN(ParsedMappingFile parsed, ReadMappingFile(path));
    file_ = std::move(parsed.file);
    const Value& d = *parsed.json;
    std::string extends = Str(d, "extends");
    MessagePlan* plan = nullptr;
    if (!extends.empty()) {
      for (auto& p : converter_.plans_) {
        if (p->id == extends) plan = p.get();
      }
      if (plan == nullptr) return Bad("extends", "no mapping with id '" + extends + "' to extend", extends);
    } else {
      converter_.plans_.push_back(std::make_unique<MessagePlan>());
      plan = converter_.plans_.back().get();
      plan->id = Str(d, "id");
      plan->source_file = file_.name;
      if (plan->id.empty()) return Bad("id", "is required");
      auto messages = d.FindMember("messages");
      if (messages == d.MemberEnd() || !messages->value.IsArray() || messages->value.Empty()) {
        return Bad("messages", "is a non-empty array of MSH-9 code^trigger");
      }
      for (const auto& m : messages->value.GetArray()) {
        if (m.IsString()) plan->messages.emplace_back(m.GetString());
      }
      if (d.HasMember("groupStart")) plan->group_starts = SplitBar(Str(d, "groupStart"));
    }
    auto resources = d.FindMember("resources");
    if (resources == d.MemberEnd() || !resources->value.IsArray()) return Bad("resources", "is required (an array)");
    int i = 0;
    for (const auto& r : resources->value.GetArray()) {
      std::string where = "resources[" + std::to_string(i++) + "]";
      std::string name = Str(r, "name");
      auto existing = std::find_if(plan->resources.begin(), plan->resources.end(),
                                   [&](const ResourceRule& x) { return x.name == name; });
      if (existing != plan->resources.end()) {
        KETAMINE_RETURN_IF_ERROR(ReadResource(r, where, *existing, true));
      } else {
        ResourceRule rule;
        KETAMINE_RETURN_IF_ERROR(ReadResource(r, where, rule, false));
        plan->resources.push_back(std::move(rule));
      }
    }
    // References must name resources of the plan.
    std::set<std::string> names;
    for (const auto& r : plan->resources) names.insert(r.name);
    for (const auto& r : plan->resources) {
      for (const auto& f : r.fields) {
        if (f.type == FieldType::kReference && !names.count(f.reference)) {
          return Bad("resources." + r.name, "reference to unknown resource '" + f.reference + "'", f.reference);
        }
      }
    }
    // What the plan consumes, for the "unmapped segment" warnings.
    std::set<std::string> consumed{"MSH"};
    for (const auto& r : plan->resources) {
      for (const auto& a : r.anchors) consumed.insert(a);
      for (const auto& f : r.fields) {
        for (const auto& p : f.from) consumed.insert(p.segment);
        for (const auto& p : f.units) consumed.insert(p.segment);
        for (const auto& p : f.per) consumed.insert(p.segment);
      }
    }
    for (const auto& g : plan->group_starts) consumed.insert(g);
    plan->consumed_segments.assign(consumed.begin(), consumed.end());
    return Status::Ok();
  }

  Converter& converter_;
  MappingFile file_;
};

Result<std::shared_ptr<const Converter>> Converter::Load(const std::vector<std::filesystem::path>& dirs) {
  auto converter = std::shared_ptr<Converter>(new Converter());
  KETAMINE_ASSIGN_OR_RETURN(converter->vocabulary_, Vocabulary::Load(dirs));
  PlanLoader loader(*converter);
  for (const auto& dir : dirs) KETAMINE_RETURN_IF_ERROR(loader.LoadDir(dir));
  KETAMINE_RETURN_IF_ERROR(OutboundLoader::Load(*converter, dirs));
  KETAMINE_RETURN_IF_ERROR(CsvLoader::Load(*converter, dirs));
  return std::shared_ptr<const Converter>(std::move(converter));
}

const MessagePlan* Converter::PlanById(std::string_view id) const {
  for (const auto& plan : plans_) {
    if (plan->id == id) return plan.get();
  }
  return nullptr;
}

const MessagePlan* Converter::PlanFor(std::string_view type) const {
  for (const auto& plan : plans_) {
    for (const auto& m : plan->messages) {
      if (m == type) return plan.get();
    }
  }
  return nullptr;
}

namespace {

// One resource instance being built: which segments it may read from.
struct Scope {
  const hl7v2::Message* msg;
  size_t begin;  // segment index range of the anchor's group
  size_t end;
  size_t anchor;
  const uint32_t* codes;  // each segment's name as a number, for cheap comparisons
};

// "PID" -> a number; names that are not three characters never equal a path's.
inline uint32_t SegmentCode(std::string_view name, uint32_t otherwise) {
  if (name.size() != 3) return otherwise;
  return (static_cast<uint32_t>(static_cast<unsigned char>(name[0])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(name[1])) << 8) | static_cast<unsigned char>(name[2]);
}
inline uint32_t PathCode(const hl7v2::Path& path) { return SegmentCode(path.segment, 0xFFFFFFFEu); }

// The segment a path reads in this scope: inside the group first, else the message's first.
std::string_view Read(const Scope& scope, const hl7v2::Path& path, int* segment_index = nullptr) {
  const hl7v2::Message& m = *scope.msg;
  const uint32_t code = PathCode(path);
  int occurrence = 0;
  size_t first = scope.begin;
  if (path.occurrence == 1 && scope.codes[scope.anchor] == code) first = scope.anchor;  // the anchor itself
  for (size_t i = first; i < scope.end; ++i) {
    if (scope.codes[i] == code && ++occurrence == path.occurrence) {
      // Read the field of segment i directly.
      std::string_view raw = m.Field(i, static_cast<size_t>(path.field));
      if (segment_index != nullptr) *segment_index = static_cast<int>(i);
      if (path.repetition == 0 && path.component == 0) return raw;
      std::string_view v = hl7v2::Repetition(raw, path.repetition == 0 ? 1 : path.repetition, m.delimiters());
      if (path.component == 0) return v;
      v = hl7v2::Component(v, path.component, m.delimiters());
      return path.subcomponent == 0 ? v : hl7v2::Subcomponent(v, path.subcomponent, m.delimiters());
    }
  }
  if (segment_index != nullptr) *segment_index = m.FindSegment(path.segment, path.occurrence);
  return m.Get(path);
}

std::string V2Location(const Scope& scope, const hl7v2::Path& path) {
  // The segment's occurrence number in the whole message, for ERR-2 and messages.
  int index = -1;
  (void)Read(scope, path, &index);
  hl7v2::Path shown = path;
  if (index >= 0) {
    int occurrence = 0;
    for (int i = 0; i <= index; ++i) occurrence += scope.msg->SegmentName(static_cast<size_t>(i)) == path.segment ? 1 : 0;
    shown.occurrence = occurrence;
  }
  return shown.ToString();
}

bool Holds(const Scope& scope, const Condition& c) {
  for (const auto& p : c.present) {
    if (Read(scope, p).empty()) return false;
  }
  for (const auto& p : c.absent) {
    if (!Read(scope, p).empty()) return false;
  }
  if (!c.any_present.empty()) {
    bool any = false;
    for (const auto& p : c.any_present) any = any || !Read(scope, p).empty();
    if (!any) return false;
  }
  if (c.has_equals) {
    std::string_view v = Read(scope, c.equals_path);
    bool in = std::find(c.equals_any.begin(), c.equals_any.end(), v) != c.equals_any.end();
    if (in == c.negate_equals) return false;
  }
  return true;
}

// "H1" / "M30" / "D1" of RXE-22 / RXA-12 -> hours (0 when unknown or not a plain positive number).
double PerTimeHours(std::string_view per) {
  double n = 0;
  if (per.size() < 2 || !ParseDecimal(per.substr(1), &n) || n <= 0) return 0;
  switch (per[0]) {
    case 'S': return n / 3600;
    case 'M': return n / 60;
    case 'H': return n;
    case 'D': return n * 24;
    case 'W': return n * 168;
    default: return 0;
  }
}

}  // namespace

Result<Conversion> Converter::ToFhir(const hl7v2::Message& msg, const ConvertOptions& options) const {
  std::string type = !options.message_type.empty()
                         ? options.message_type
                         : std::string(msg.MessageCode()) + "^" + std::string(msg.TriggerEvent());
  const MessagePlan* plan = PlanFor(type);
  if (plan == nullptr) return Unsupported("no mapping for message type " + type, Location("MSH-9"));
  Conversion out;
  out.bundle = std::make_unique<rapidjson::Document>(rapidjson::kObjectType);
  rapidjson::Document& bundle = *out.bundle;
  auto& alloc = bundle.GetAllocator();
  ConvertContext ctx{&msg.delimiters(), vocabulary_.get(), &alloc, options.default_timezone, &out.issues};

  const std::string facility(msg.SendingFacility());
  const std::string application(msg.SendingApplication());
  const std::string control_id(msg.ControlId());
  bundle.AddMember("resourceType", "Bundle", alloc);
  // One SHA-256 per message: the Bundle id is its first half; each resource's id is the second half
  // mixed with its rule's salt (a hash of the rule name, made at load) and its segment position,
  // which differ within a message by construction.
  const std::array<unsigned char, 32> base = Sha256OfParts({application, facility, control_id});
  bundle.AddMember("id", Value(FormatUuid(base.data(), 5).c_str(), alloc), alloc);
  bundle.AddMember("type", "transaction", alloc);
  bool ok_time = false;
  std::string timestamp = DateTimeText(msg.Get("MSH-7.1"), options.default_timezone, &ok_time);
  if (ok_time && timestamp.size() > 10) bundle.AddMember("timestamp", Value(timestamp.c_str(), alloc), alloc);
  Value entries(rapidjson::kArrayType);

  // Instances: (rule, scope) for each anchor occurrence; fullUrls assigned first so that
  // references between resources resolve whatever the order.
  struct Instance {
    const ResourceRule* rule;
    Scope scope;
    std::string full_url;
  };
  std::vector<Instance> instances;
  instances.reserve(plan->resources.size() + 4);
  thread_local std::vector<uint32_t> codes;
  thread_local std::vector<char> group_start;
  codes.resize(msg.segment_count());
  group_start.resize(msg.segment_count());
  for (size_t i = 0; i < msg.segment_count(); ++i) {
    codes[i] = SegmentCode(msg.SegmentName(i), 0xFFFFFFFFu);
    group_start[i] = std::find(plan->group_starts.begin(), plan->group_starts.end(), msg.SegmentName(i)) != plan->group_starts.end();
  }
  for (const auto& rule : plan->resources) {
    bool found = false;
    for (const auto& anchor : rule.anchors) {
      if (found) break;
      const uint32_t anchor_code = SegmentCode(anchor, 0xFFFFFFFEu);
      for (size_t i = 0; i < msg.segment_count(); ++i) {
        if (codes[i] != anchor_code) continue;
        found = true;
        // The group: from the nearest group start at or before the anchor to the next group start.
        size_t begin = i, end = msg.segment_count();
        for (size_t b = i + 1; b-- > 0;) {
          if (group_start[b]) {
            begin = b;
            break;
          }
        }
        for (size_t e = i + 1; e < msg.segment_count(); ++e) {
          if (group_start[e] || codes[e] == anchor_code) {
            end = e;
            break;
          }
        }
        Scope scope{&msg, begin, end, i, codes.data()};
        if (rule.has_when && !Holds(scope, rule.when)) continue;
        unsigned char id[16];
        for (size_t b = 0; b < 16; ++b) id[b] = base[16 + b] ^ rule.salt[b];
        for (size_t b = 0; b < 4; ++b) id[12 + b] ^= static_cast<unsigned char>(i >> (8 * b));
        instances.push_back({&rule, scope, UuidText(id)});
        if (rule.once) break;
      }
    }
  }
  auto full_url_of = [&](const std::string& name, const Scope& near) -> std::string_view {
    const Instance* best = nullptr;
    for (const auto& inst : instances) {
      if (inst.rule->name != name) continue;
      // Prefer the instance in the same group.
      if (best == nullptr || (inst.scope.anchor >= near.begin && inst.scope.anchor < near.end)) best = &inst;
    }
    return best != nullptr ? std::string_view(best->full_url) : std::string_view();
  };

  for (const auto& inst : instances) {
    const ResourceRule& rule = *inst.rule;
    Value resource(rapidjson::kObjectType);
    resource.AddMember("resourceType", Value(rule.resource_type.c_str(), alloc), alloc);
    for (const FieldRule& f : rule.fields) {
      if (f.has_when && !Holds(inst.scope, f.when)) continue;
      // The first alternative that is valued; when none is, name the first whose segment is there.
      const hl7v2::Path* source = nullptr;
      std::string_view raw;
      for (const auto& p : f.from) {
        raw = Read(inst.scope, p);
        if (!raw.empty()) {
          source = &p;
          break;
        }
      }
      if (source == nullptr && !f.from.empty()) {
        if (!f.required) {
          // Nothing to read and nothing to report: only the default, if any, is written.
          if (f.value) SetAt(resource, f.steps, fhir::DeepCopy(*f.value, alloc), alloc);
          continue;
        }
        source = &f.from.front();
        for (const auto& p : f.from) {
          if (msg.FindSegment(p.segment) >= 0) {
            source = &p;
            break;
          }
        }
      }
      struct LocationData {
        const Scope* scope;
        const hl7v2::Path* path;
      } location_data{&inst.scope, source};
      LazyLocation location;
      if (source != nullptr) {
        location.data = &location_data;
        location.render = [](const void* d) {
          const auto* ld = static_cast<const LocationData*>(d);
          return V2Location(*ld->scope, *ld->path);
        };
      }
      auto put = [&](Value v) {
        if (!v.IsNull()) SetAt(resource, f.steps, std::move(v), alloc);
      };
      if (f.type == FieldType::kValue) {
        put(fhir::DeepCopy(*f.value, alloc));
        continue;
      }
      if (f.type == FieldType::kReference) {
        std::string_view url = full_url_of(f.reference, inst.scope);
        if (url.empty()) continue;
        Value ref(rapidjson::kObjectType);
        ref.AddMember("reference", Value(url.data(), static_cast<rapidjson::SizeType>(url.size()), alloc), alloc);
        if (!f.extension_url.empty()) {
          Value ext(rapidjson::kObjectType);
          ext.AddMember("url", Value(f.extension_url.c_str(), alloc), alloc);
          ext.AddMember("valueReference", ref, alloc);
          put(std::move(ext));
        } else {
          put(std::move(ref));
        }
        continue;
      }
      if (raw.empty()) {
        if (f.value) {
          put(fhir::DeepCopy(*f.value, alloc));
        } else if (f.required) {
          out.issues.Error("map-required-missing", Location(location.str()), location.str() + " is required for " + rule.resource_type + "." + f.to);
        }
        continue;
      }
      int repetitions = f.repeat ? hl7v2::CountRepetitions(raw, msg.delimiters()) : 1;
      for (int r = 1; r <= repetitions; ++r) {
        std::string_view one = (f.repeat || source->repetition == 0) && source->component == 0
                                   ? hl7v2::Repetition(raw, r, msg.delimiters())
                                   : raw;
        Value v;
        switch (f.type) {
          case FieldType::kString: {
            if (one.find(msg.delimiters().escape) == std::string_view::npos) {
              if (!one.empty()) v = Value(one.data(), static_cast<rapidjson::SizeType>(one.size()), alloc);
              break;
            }
            std::string text = hl7v2::Unescape(one, msg.delimiters());
            if (!text.empty()) v = Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), alloc);
            break;
          }
          case FieldType::kCode: {
            std::string code = hl7v2::Unescape(hl7v2::Component(one, 1, msg.delimiters()), msg.delimiters());
            if (!f.map.empty()) {
              if (const Target* t = Vocabulary::Lookup(f.map_table, code)) {
                v = Value(t->code.c_str(), alloc);
              } else if (f.value) {
                v = fhir::DeepCopy(*f.value, alloc);
                out.issues.Warning("map-code-unknown", Location(location.str()), "'" + code + "' is not in " + f.map + "; default used");
              } else {
                out.issues.Add({f.unmapped_severity, "map-code-unknown", Location(location.str()),
                                "'" + code + "' is not in the concept map " + f.map});
              }
            } else if (!code.empty()) {
              v = Value(code.c_str(), alloc);
            }
            break;
          }
          case FieldType::kCwe: {
            v = ToCodeableConcept(one, ctx, location);
            if (!f.map.empty() && v.IsObject()) {
              std::string code = hl7v2::Unescape(hl7v2::Component(one, 1, msg.delimiters()), msg.delimiters());
              if (const Target* t = Vocabulary::Lookup(f.map_table, code)) {
                Value coding(rapidjson::kObjectType);
                coding.AddMember("system", Value(t->system.c_str(), alloc), alloc);
                coding.AddMember("code", Value(t->code.c_str(), alloc), alloc);
                if (!t->display.empty()) coding.AddMember("display", Value(t->display.c_str(), alloc), alloc);
                Value codings(rapidjson::kArrayType);
                codings.PushBack(coding, alloc);
                auto existing = v.FindMember("coding");
                if (existing != v.MemberEnd()) {
                  for (auto& c : existing->value.GetArray()) codings.PushBack(Value(c, alloc), alloc);
                  existing->value = codings;
                } else {
                  v.AddMember("coding", codings, alloc);
                }
              } else {
                out.issues.Add({f.unmapped_severity, "map-code-unknown", Location(location.str()),
                                "'" + code + "' is not in the concept map " + f.map});
              }
            }
            break;
          }
          case FieldType::kCoding: v = ToCoding(one, ctx, location); break;
          case FieldType::kCx: v = ToIdentifier(one, ctx); break;
          case FieldType::kEi: v = ToEiIdentifier(one, ctx, f.identifier_type); break;
          case FieldType::kXpn: v = ToHumanName(one, ctx, 1); break;
          case FieldType::kXcnName: v = ToHumanName(one, ctx, 2); break;
          case FieldType::kXcnIdentifier: v = ToXcnIdentifier(one, ctx); break;
          case FieldType::kXad: v = ToAddress(one, ctx); break;
          case FieldType::kXtn: v = ToContactPoint(one, ctx); break;
          case FieldType::kDtm: v = ToDateTime(one, ctx, location); break;
          case FieldType::kDate: v = ToDate(one, ctx, location); break;
          case FieldType::kDecimal: v = ToDecimal(one, ctx, location); break;
          case FieldType::kInteger: {
            Value d = ToDecimal(one, ctx, location);
            if (d.IsNumber()) {
              double n = d.GetDouble();
              if (n == static_cast<double>(static_cast<int>(n))) {
                v = Value(static_cast<int>(n));
              } else {
                out.issues.Error("map-datatype", Location(location.str()), "expected a whole number");
              }
            }
            break;
          }
          case FieldType::kQuantity:
          case FieldType::kRate: {
            std::string_view unit;
            for (const auto& u : f.units) {
              unit = Read(inst.scope, u);
              if (!unit.empty()) break;
            }
            if (f.type == FieldType::kQuantity && source->component == 0 && hl7v2::Component(one, 2, msg.delimiters()).size() > 0 && unit.empty()) {
              unit = hl7v2::Component(one, 2, msg.delimiters());  // CQ: quantity ^ units
            }
            std::string_view amount = hl7v2::Component(one, 1, msg.delimiters());
            v = ToQuantity(amount, unit, ctx, location);
            if (f.type == FieldType::kRate && v.IsObject()) {
              // A rate "per H1" is already per hour; "per M30" is per 30 minutes, and so on.
              std::string_view per;
              for (const auto& p : f.per) {
                per = Read(inst.scope, p);
                if (!per.empty()) break;
              }
              double hours = per.empty() ? 1 : PerTimeHours(per);
              if (hours <= 0) {
                out.issues.Error("map-datatype", Location(location.str()), "per-time unit '" + std::string(per) + "' is not S/M/H/D/W followed by a number");
              } else if (hours != 1 && v["value"].IsNumber()) {
                const double rate = v["value"].GetDouble() / hours;
                if (std::isfinite(rate)) {
                  v["value"].SetDouble(rate);
                } else {
                  out.issues.Error("map-datatype", Location(location.str()), "the rate per '" + std::string(per) + "' is out of range");
                  v.RemoveMember("value");
                }
              }
            }
            break;
          }
          case FieldType::kValue:
          case FieldType::kReference: break;
        }
        put(std::move(v));
      }
    }
    Value entry(rapidjson::kObjectType);
    entry.AddMember("fullUrl", Value(inst.full_url.c_str(), alloc), alloc);
    // Conditional update on the business identifier, else a create.
    Value request(rapidjson::kObjectType);
    std::string url;
    if (!rule.identity.empty()) {
      for (const auto& p : rule.identity) {
        std::string_view raw = hl7v2::Repetition(Read(inst.scope, p), 1, msg.delimiters());
        if (raw.empty()) continue;
        Value id = rule.identity_type == FieldType::kEi              ? ToEiIdentifier(raw, ctx, "")
                   : rule.identity_type == FieldType::kXcnIdentifier ? ToXcnIdentifier(raw, ctx)
                                                                     : ToIdentifier(raw, ctx);
        if (id.IsObject() && id.HasMember("value")) {
          std::string system = id.HasMember("system") ? id["system"].GetString() : "";
          url = rule.resource_type + "?identifier=" + (system.empty() ? "" : system + "|") + id["value"].GetString();
          break;
        }
      }
    }
    if (!url.empty()) {
      request.AddMember("method", "PUT", alloc);
      request.AddMember("url", Value(url.c_str(), alloc), alloc);
    } else {
      request.AddMember("method", "POST", alloc);
      request.AddMember("url", Value(rule.resource_type.c_str(), alloc), alloc);
    }
    entry.AddMember("resource", resource, alloc);
    entry.AddMember("request", request, alloc);
    entries.PushBack(entry, alloc);
  }
  bundle.AddMember("entry", entries, alloc);

  // Nothing is dropped silently: segments no mapping reads are reported.
  for (size_t i = 0; i < msg.segment_count(); ++i) {
    std::string_view name = msg.SegmentName(i);
    if (std::find(plan->consumed_segments.begin(), plan->consumed_segments.end(), name) != plan->consumed_segments.end()) continue;
    int occurrence = 0;
    for (size_t j = 0; j <= i; ++j) occurrence += codes[j] == codes[i] ? 1 : 0;
    std::string where = occurrence > 1 ? std::string(name) + "[" + std::to_string(occurrence) + "]" : std::string(name);
    out.issues.Warning("map-segment-unmapped", Location(where), "segment " + where + " is not mapped by " + plan->source_file);
  }
  return out;
}

}  // namespace ketamine::mapping
