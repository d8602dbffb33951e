#include "mapping/vocabulary.h"

#include <algorithm>

#include "common/file.h"
#include "fhir/json.h"

namespace ketamine::mapping {
namespace {

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

}  // namespace

Result<std::shared_ptr<const Vocabulary>> Vocabulary::Load(const std::vector<std::filesystem::path>& dirs) {
  auto vocab = std::make_shared<Vocabulary>();
  for (const auto& dir : dirs) {  // later folders (site overrides) replace earlier entries
    std::error_code ec;
    if (std::filesystem::exists(dir / "coding-systems.json", ec)) {
      KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJsonFile(dir / "coding-systems.json"));
      auto systems = doc->FindMember("systems");
      if (systems == doc->MemberEnd() || !systems->value.IsObject()) {
        return InvalidInput("coding-systems.json: 'systems' object missing");
      }
      std::map<std::string, std::string, std::less<>> names;  // first name per URI in this file
      for (auto it = systems->value.MemberBegin(); it != systems->value.MemberEnd(); ++it) {
        if (!it->value.IsString()) return InvalidInput(std::string("coding-systems.json: systems.") + it->name.GetString() + " must be a URI string");
        vocab->systems_[it->name.GetString()] = it->value.GetString();
        std::string_view name = it->name.GetString();
        if (name.substr(0, 16) != "identifier-type:") names.emplace(it->value.GetString(), name);
      }
      for (auto& [uri, name] : names) vocab->system_names_[uri] = name;
    }
    for (const auto& file : FilesIn(dir / "conceptmaps", ".json")) {
      KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJsonFile(file));
      std::string id = Str(*doc, "id");
      if (Str(*doc, "resourceType") != "ConceptMap" || id.empty()) {
        return InvalidInput(file.filename().string() + ": not a ConceptMap with an id");
      }
      auto& map = vocab->maps_[id];
      std::map<std::string, std::string, std::less<>> reverse;  // first source per target in this file
      auto groups = doc->FindMember("group");
      if (groups == doc->MemberEnd() || !groups->value.IsArray()) return InvalidInput(file.filename().string() + ": group missing");
      int g = 0;
      for (const auto& group : groups->value.GetArray()) {
        std::string target_system = Str(group, "target");
        auto elements = group.FindMember("element");
        if (elements == group.MemberEnd() || !elements->value.IsArray()) {
          return InvalidInput(file.filename().string() + ": group[" + std::to_string(g) + "].element missing");
        }
        int e = 0;
        for (const auto& element : elements->value.GetArray()) {
          std::string code = Str(element, "code");
          auto targets = element.FindMember("target");
          if (code.empty() || targets == element.MemberEnd() || !targets->value.IsArray() || targets->value.Empty()) {
            return InvalidInput(file.filename().string() + ": group[" + std::to_string(g) + "].element[" +
                                std::to_string(e) + "] needs a code and a target");
          }
          const auto& t = targets->value[0];
          map[code] = Target{target_system, Str(t, "code"), Str(t, "display")};
          reverse.emplace(Str(t, "code"), code);
          ++e;
        }
        if (g == 0) {
          vocab->source_systems_[id] = Str(group, "source");
          vocab->target_systems_[id] = target_system;
        }
        ++g;
      }
      for (auto& [target, source] : reverse) vocab->reverse_[id][target] = source;
    }
  }
  vocab->units_ = vocab->FindMap("units-ucum");
  return std::shared_ptr<const Vocabulary>(std::move(vocab));
}

const Target* Vocabulary::Translate(std::string_view map_id, std::string_view code) const {
  return Lookup(FindMap(map_id), code);
}

const std::string* Vocabulary::Untranslate(std::string_view map_id, std::string_view code) const {
  auto map = reverse_.find(map_id);
  if (map == reverse_.end()) return nullptr;
  auto it = map->second.find(code);
  return it == map->second.end() ? nullptr : &it->second;
}

std::string Vocabulary::SourceSystem(std::string_view map_id) const {
  auto it = source_systems_.find(map_id);
  return it == source_systems_.end() ? std::string() : it->second;
}

std::string Vocabulary::TargetSystem(std::string_view map_id) const {
  auto it = target_systems_.find(map_id);
  return it == target_systems_.end() ? std::string() : it->second;
}

std::string Vocabulary::SystemName(std::string_view uri) const {
  auto it = system_names_.find(uri);
  if (it != system_names_.end()) return it->second;
  constexpr std::string_view kTables = "http://terminology.hl7.org/CodeSystem/v2-";
  if (uri.substr(0, kTables.size()) == kTables && uri.size() == kTables.size() + 4) {
    return "HL7" + std::string(uri.substr(kTables.size()));
  }
  return {};
}

const Vocabulary::CodeMap* Vocabulary::FindMap(std::string_view map_id) const {
  auto map = maps_.find(map_id);
  return map == maps_.end() ? nullptr : &map->second;
}

const Target* Vocabulary::Lookup(const CodeMap* map, std::string_view code) {
  if (map == nullptr) return nullptr;
  auto it = map->find(code);
  return it == map->end() ? nullptr : &it->second;
}

bool Vocabulary::HasMap(std::string_view map_id) const { return maps_.find(map_id) != maps_.end(); }

std::string_view Vocabulary::ListedSystemUri(std::string_view name) const {
  auto it = systems_.find(name);
  return it == systems_.end() ? std::string_view() : std::string_view(it->second);
}

std::string Vocabulary::SystemUri(std::string_view name) const {
  if (name.empty()) return {};
  if (name.find("://") != std::string_view::npos || name.substr(0, 4) == "urn:") return std::string(name);
  auto it = systems_.find(name);
  if (it != systems_.end()) return it->second;
  // HL7 tables: "HL70162" -> v2-0162.
  if (name.size() == 7 && name.substr(0, 3) == "HL7") return "http://terminology.hl7.org/CodeSystem/v2-" + std::string(name.substr(3));
  // A bare OID.
  if (name.find_first_not_of("0123456789.") == std::string_view::npos && name.find('.') != std::string_view::npos) {
    return "urn:oid:" + std::string(name);
  }
  return {};
}

}  // namespace ketamine::mapping
