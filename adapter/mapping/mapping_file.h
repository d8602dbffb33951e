// Reading mapping files (v2-to-fhir/, fhir-to-v2/, csv/): the sorted *.json files of a folder and
// errors that name the file, the line and the reason ("bad.json line 4: resources[0].from: ...").
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::mapping {

struct MappingFile {
  std::string name;  // the file name, as errors show it
  std::string text;
  // kInvalidInput naming the file, with the line of `near` (a key or value quoted in the file) when found.
  Status Bad(const std::string& where, const std::string& what, const std::string& near = {}) const;
};

// The *.json files of `folder`, sorted by name; none when the folder does not exist.
std::vector<std::filesystem::path> JsonFilesIn(const std::filesystem::path& folder);
MappingFile ReadMappingFile(const std::filesystem::path& path);

}  // namespace ketamine::mapping
