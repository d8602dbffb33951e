#include "mapping/mapping_file.h"

#include <algorithm>
#include <cstdlib>

#include "common/file.h"

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

Result<ParsedMappingFile> ReadMappingFile(const std::filesystem::path& path) {
  ParsedMappingFile out;
  out.file.name = path.filename().string();
  KETAMINE_ASSIGN_OR_RETURN(out.file.text, ReadFile(path));
  const std::string& text = out.file.text;
  auto doc = fhir::ParseJson(text);
  if (!doc.ok()) {
    const std::string& message = doc.status().message();
    size_t at = message.find("offset ");
    if (at == std::string::npos) return InvalidInput(out.file.name + ": " + message);
    size_t offset = std::min<size_t>(std::strtoul(message.c_str() + at + 7, nullptr, 10), text.size());
    auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n');
    return InvalidInput(out.file.name + " line " + std::to_string(line) + ": " + message);
  }
  out.json = std::move(*doc);
  return out;
}

}  // namespace ketamine::mapping
