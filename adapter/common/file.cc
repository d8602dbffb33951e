#include "common/file.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

namespace ketamine {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidInput("cannot read " + path.string());
  text << in.rdbuf();
  return text.str();
}

std::vector<std::filesystem::path> FilesIn(const std::filesystem::path& folder, std::string_view extension) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return files;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    if (e.path().extension() == extension) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace ketamine
