// Where the data files the gateway loads at start-up live (fhir-profiles/, mappings/).
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace ketamine::cli {

// The fhir-profiles folder: `explicit_dir` if given, else $KETAMINE_PROFILES_DIR, else
// ./fhir-profiles, else the first fhir-profiles/ found walking up from the executable's folder
// (a build tree inside the checkout). kInvalidInput naming what was tried otherwise.
[[nodiscard]] Result<std::filesystem::path> FindProfilesDir(const std::string* explicit_dir);

}  // namespace ketamine::cli
