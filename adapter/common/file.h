// Reading a whole file (data files at start-up, CLI inputs) as one string; "-" is standard input.
//   KETAMINE_ASSIGN_OR_RETURN(std::string text, ReadFile("fhir-profiles/limits.json"));
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace ketamine {

// kInvalidInput "cannot read FILE" when the file cannot be opened.
[[nodiscard]] Result<std::string> ReadFile(const std::filesystem::path& path);

}  // namespace ketamine
