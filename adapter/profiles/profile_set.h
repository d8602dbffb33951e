// The ketamine profiles (fhir-profiles/definitions: StructureDefinitions with differentials,
// ValueSets, CodeSystems) compiled into rule trees, and the auto-apply rules that pick a profile
// for a resource that does not claim one (fhir-profiles/auto-apply.json).
//   auto set = ProfileSet::Load("fhir-profiles");
//   for (const Profile* p : (*set)->ProfilesFor(resource)) (*set)->Apply(*p, resource, issues);
// Supported in differentials: min/max, type restrictions (choice types), fixed[x] and
// pattern[x], required and extensible bindings to our value sets, slicing by pattern (identifier,
// coding) and extensions by url (also nested extension slices), and the invariants listed in
// kNativeInvariants (implemented natively; their FHIRPath is documentation).
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/issue.h"
#include "profiles/model.h"

namespace ketamine::profiles {

struct ProfileNode;

struct SliceRule {
  std::string name;
  std::unique_ptr<rapidjson::Document> pattern;  // items matching this pattern belong to the slice
  std::string extension_url;                     // or: extensions with this url
  uint32_t min = 0;
  uint32_t max = kUnbounded;
  std::unique_ptr<ProfileNode> node;  // rules for the slice's items
  std::string profile;                // extension profile applied to the items
};

struct ProfileNode {
  std::string name;  // "dosageInstruction", "rate[x]"
  std::string path;  // for messages: "MedicationRequest.dosageInstruction.doseAndRate.rate[x]"
  bool has_min = false, has_max = false;
  uint32_t min = 0, max = kUnbounded;
  std::vector<std::string> types;                // allowed type codes (empty: as the base)
  std::vector<std::string> target_profiles;      // for Reference types
  std::unique_ptr<rapidjson::Document> pattern;  // patternX
  std::unique_ptr<rapidjson::Document> fixed;    // fixedX
  const ValueSetDef* binding = nullptr;
  bool binding_required = false;
  std::vector<std::string> invariants;  // constraint keys
  std::vector<std::unique_ptr<ProfileNode>> children;
  std::vector<SliceRule> slices;
  ProfileNode* Child(const std::string& child_name);
};

struct Profile {
  std::string url;
  std::string type;  // resource type, or "Extension"
  std::string title;
  ProfileNode root;
};

struct AutoApplyRule {
  std::string resource_type;
  std::string path;  // a CodeableConcept element of the resource
  const ValueSetDef* value_set = nullptr;
  std::vector<std::pair<std::string, std::string>> codes;  // (system, code)
  std::string profile;
};

class ProfileSet {
 public:
  // Loads definitions/*.json and auto-apply.json from `dir`. A broken file is refused with a
  // message naming the file and the element.
  static Result<std::shared_ptr<const ProfileSet>> Load(const std::filesystem::path& dir,
                                                        std::shared_ptr<const Model> model);

  const Profile* Find(std::string_view url) const;
  // Profiles that apply: those in meta.profile that we know, plus the auto-apply matches.
  // Unknown claimed profiles are reported as warnings.
  std::vector<const Profile*> ProfilesFor(const rapidjson::Value& resource, Issues& issues,
                                          const std::string& location) const;
  // Checks `resource` (located at `location`, e.g. "Bundle.entry[2].resource") against `profile`.
  void Apply(const Profile& profile, const rapidjson::Value& resource, const std::string& location,
             Issues& issues) const;
  const ValueSetDef* FindValueSet(std::string_view url) const;
  size_t size() const { return profiles_.size(); }

 private:
  friend class ProfileLoader;
  std::map<std::string, std::unique_ptr<Profile>, std::less<>> profiles_;
  std::map<std::string, std::unique_ptr<ValueSetDef>, std::less<>> value_sets_;
  std::vector<AutoApplyRule> auto_rules_;
  std::shared_ptr<const Model> model_;
};

// Invariant keys the engine implements natively.
inline constexpr const char* kNativeInvariants[] = {"ket-dose-1", "ket-weight-1", "ket-ucum-1", "ket-dea-1",
                                                    "ket-npi-1",  "ket-pain-1",   "ket-period-1",
                                                    "ket-vital-unit-1"};

// True when `value` contains everything in `pattern` (FHIR pattern[x] semantics: objects match
// member-wise, arrays when every pattern item matches some value item, primitives by equality).
bool MatchesPattern(const rapidjson::Value& value, const rapidjson::Value& pattern);

}  // namespace ketamine::profiles
