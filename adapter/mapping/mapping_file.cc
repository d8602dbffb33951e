#include "mapping/mapping_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ketamine::mapping {

Status MappingFile::Bad(const std::string& where, const std::string& what, const std::string& near) const {
  std::string line;
  if (!near.empty()) {
    size_t at = text.find("\"" + near + "\"");
    if (at != std::string::npos) {
      line = " line " + std::to_string(1 + std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
    }
  }
  return InvalidInput(name + line + ": " + where + ": " + what);
}

std::vector<std::filesystem::path> JsonFilesIn(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return files;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

MappingFile ReadMappingFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return {path.filename().string(), text.str()};
}

}  // namespace ketamine::mapping
