// Reading a whole file (data files at start-up, CLI inputs) as one string; "-" is standard input.
// Writing one whole or not at all (the folder destination, the inbox's outcome files).
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

// Writes `data` to `path` so that it appears whole or not at all: into a hidden temporary file
// beside it, fsync'd, then renamed over `path`. kUnavailable naming the file when it cannot.
[[nodiscard]] Status WriteFileDurably(const std::filesystem::path& path, std::string_view data);

// The files of `folder` whose names end in `extension` (".json"), sorted by name so that loading
// is in a stable order; none when the folder does not exist.
std::vector<std::filesystem::path> FilesIn(const std::filesystem::path& folder, std::string_view extension);

}  // namespace ketamine
