// Reading a whole file (data files at start-up, CLI inputs) as one string; "-" is standard input.
//   KETAMINE_ASSIGN_OR_RETURN(std::string text, ReadFile("fhir-profiles/limits.json"));
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ketamine {

// kInvalidInput "cannot read FILE" when the file cannot be opened.
[[nodiscard]] Result<std::string> ReadFile(const std::filesystem::path& path);

// The files of `folder` whose names end in `extension` (".json"), sorted by name so that loading
// is in a stable order; none when the folder does not exist.
std::vector<std::filesystem::path> FilesIn(const std::filesystem::path& folder, std::string_view extension);

}  // namespace ketamine
