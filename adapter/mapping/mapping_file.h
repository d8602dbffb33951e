// Reading mapping files (v2-to-fhir/, fhir-to-v2/, csv/; listed with common/file.h FilesIn) with
// errors that name the file, the line and the reason ("bad.json line 4: resources[0].from: ...").
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "fhir/json.h"

namespace ketamine::mapping {

struct MappingFile {
  std::string name;  // the file name, as errors show it
  std::string text;
  // kInvalidInput naming the file, with the line of `near` (a key or value quoted in the file) when found.
  Status Bad(const std::string& where, const std::string& what, const std::string& near = {}) const;
};

// A listed mapping file, read and parsed: kInvalidInput naming the file, and for a JSON syntax
// error the line ("bad.json line 3: invalid JSON at offset 41: ...").
struct ParsedMappingFile {
  MappingFile file;
  std::unique_ptr<fhir::JsonDocument> json;
};
[[nodiscard]] Result<ParsedMappingFile> ReadMappingFile(const std::filesystem::path& path);

// Puts a loaded item (a plan, a spec, a layout: anything with an `id`) among `items`: a later
// folder's file with the same id replaces the earlier one, which is how a site overrides.
template <typename T, typename Pointer>
void ReplaceOrAdd(std::vector<Pointer>& items, T item) {
  auto same = std::find_if(items.begin(), items.end(), [&](const Pointer& p) { return p->id == item.id; });
  if (same != items.end()) {
    **same = std::move(item);
  } else {
    items.push_back(Pointer(new T(std::move(item))));
  }
}

}  // namespace ketamine::mapping
