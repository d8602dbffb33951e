#include "profiles/validator.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include "fhir/json.h"

namespace ketamine::profiles {
namespace {

constexpr std::string_view kProfileBase = "http://fhir.ketamine-gateway.org/StructureDefinition/";

std::string_view Str(const rapidjson::Value& v, const char* key) { return fhir::StringMemberView(v, key); }

}  // namespace

Result<std::shared_ptr<const Validator>> Validator::Load(const std::filesystem::path& dir) {
  auto v = std::shared_ptr<Validator>(new Validator());
  KETAMINE_ASSIGN_OR_RETURN(v->model_, Model::Load(dir / "r4" / "base.json"));
  KETAMINE_ASSIGN_OR_RETURN(v->profiles_, ProfileSet::Load(dir, v->model_));
  KETAMINE_ASSIGN_OR_RETURN(v->clinical_, ClinicalRules::Load(dir / "limits.json"));
  v->structure_ = std::make_unique<StructureValidator>(v->model_);
  return std::shared_ptr<const Validator>(std::move(v));
}

Issues Validator::ValidateText(std::string_view text, const Profile* extra, const ReferenceLookup* lookup) const {
  // Hot path: the document lives in a per-thread arena and scratch buffer, so a typical resource
  // is parsed and validated without a heap allocation for its JSON.
  thread_local std::string scratch;
  // RapidJSON keeps its chunk headers (sizes, pointers) at the start of the buffer it is given.
  alignas(alignof(std::max_align_t)) thread_local std::array<char, 64 * 1024> arena;
  rapidjson::MemoryPoolAllocator<> allocator(arena.data(), arena.size());
  rapidjson::Document doc(&allocator);
  Status parsed = fhir::ParseJsonInto(text, scratch, doc, limits_);
  if (!parsed.ok()) {
    Issues issues;
    issues.Error(parsed.code() == StatusCode::kTooLarge ? "too-large" : "json-invalid", Location(), parsed.message());
    return issues;
  }
  return Validate(doc, extra, lookup);
}

Issues Validator::Validate(const rapidjson::Value& json, const Profile* extra, const ReferenceLookup* lookup) const {
  Issues issues;
  structure_->Validate(json, issues);
  if (!json.IsObject()) return issues;
  std::string_view type = Str(json, "resourceType");
  if (type.empty()) return issues;
  ResourceContext context;
  context.lookup = lookup;
  if (type == "Bundle") {
    context.bundle = &json;
    auto entries = json.FindMember("entry");
    if (entries != json.MemberEnd() && entries->value.IsArray()) {
      int i = 0;
      for (const auto& entry : entries->value.GetArray()) {
        std::string location = "Bundle.entry[" + std::to_string(i++) + "].resource";
        if (!entry.IsObject()) continue;
        auto resource = entry.FindMember("resource");
        if (resource != entry.MemberEnd() && resource->value.IsObject()) {
          Resource(resource->value, location, context, extra, issues);
        }
      }
    }
    return issues;
  }
  Resource(json, std::string(type), context, extra, issues);
  return issues;
}

void Validator::Resource(const rapidjson::Value& resource, const std::string& location,
                         const ResourceContext& context, const Profile* extra, Issues& issues) const {
  std::vector<const Profile*> applied = profiles_->ProfilesFor(resource, issues, location);
  if (extra != nullptr && std::find(applied.begin(), applied.end(), extra) == applied.end()) {
    if (extra->type == Str(resource, "resourceType")) applied.push_back(extra);
  }
  for (const Profile* profile : applied) {
    profiles_->Apply(*profile, resource, location, issues);
    std::string_view id = std::string_view(profile->url).substr(
        profile->url.rfind('/') == std::string::npos ? 0 : profile->url.rfind('/') + 1);
    if (profile->url.rfind(kProfileBase, 0) != 0) continue;
    if (id == "ketamine-medicationrequest") clinical_->CheckMedicationRequest(resource, location, context, issues);
    if (id == "ketamine-medicationadministration") {
      clinical_->CheckMedicationAdministration(resource, location, context, issues);
    }
    if (id == "ketamine-pain-score") clinical_->CheckPainScore(resource, location, issues);
    if (id == "ketamine-infusion-vitals") clinical_->CheckVitalSign(resource, location, issues);
  }
}

}  // namespace ketamine::profiles
