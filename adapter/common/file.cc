#include "common/file.h"

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

}  // namespace ketamine
