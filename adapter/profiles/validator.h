// The validator every input passes through: base R4 structure, the ketamine profiles (claimed in
// meta.profile or picked by auto-apply.json), and the clinical limits of limits.json. Loaded once
// from fhir-profiles/ at start-up and shared read-only between threads.
//   auto v = Validator::Load("fhir-profiles");
//   Issues issues = (*v)->ValidateText(body);   // resources and Bundles
//   std::string outcome = fhir::OperationOutcomeJson(issues);
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/issue.h"
#include "fhir/json.h"
#include "profiles/clinical.h"
#include "profiles/model.h"
#include "profiles/profile_set.h"
#include "profiles/structure_validator.h"

namespace ketamine::profiles {

class Validator {
 public:
  // Loads r4/base.json, definitions/, auto-apply.json and limits.json from `dir`.
  static Result<std::shared_ptr<const Validator>> Load(const std::filesystem::path& dir);

  // Validates a parsed resource or Bundle. `extra_profile` (may be null) is applied to every
  // resource as well, as `validate --profile URL` asks. `lookup` (may be null) finds what the
  // clinical rules follow outside the resource and its Bundle (the dosing weight).
  Issues Validate(const rapidjson::Value& json, const Profile* extra_profile = nullptr,
                  const ReferenceLookup* lookup = nullptr) const;
  // Parses first: malformed, huge or deeply nested JSON is an issue, never a crash.
  Issues ValidateText(std::string_view text, const Profile* extra_profile = nullptr,
                      const ReferenceLookup* lookup = nullptr) const;

  const ProfileSet& profiles() const { return *profiles_; }
  const Model& model() const { return structure_->model(); }
  const ClinicalRules& clinical() const { return *clinical_; }

 private:
  void Resource(const rapidjson::Value& resource, const std::string& location, const ResourceContext& context,
                const Profile* extra, Issues& issues) const;

  std::shared_ptr<const Model> model_;
  std::shared_ptr<const ProfileSet> profiles_;
  std::shared_ptr<const ClinicalRules> clinical_;
  std::unique_ptr<StructureValidator> structure_;
  fhir::JsonLimits limits_;
};

}  // namespace ketamine::profiles
