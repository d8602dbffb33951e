// Reading a benchmark's input file whole; a missing file ends the program (a benchmark with no
// input would measure nothing).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ketamine::bench {

inline std::string LoadOrAbort(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) std::abort();
  return text.str();
}

}  // namespace ketamine::bench
