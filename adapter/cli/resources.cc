#include "cli/resources.h"

#include <cstdlib>
#include <system_error>

namespace ketamine::cli {
namespace {

bool HasBase(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "r4" / "base.json", ec);
}

}  // namespace

Result<std::filesystem::path> FindProfilesDir(const std::string* explicit_dir) {
  if (explicit_dir != nullptr) {
    if (HasBase(*explicit_dir)) return std::filesystem::path(*explicit_dir);
    return InvalidInput(*explicit_dir + " has no r4/base.json");
  }
  if (const char* env = std::getenv("KETAMINE_PROFILES_DIR"); env != nullptr && *env != '\0') {  // NOLINT(concurrency-mt-unsafe): read once at start-up
    if (HasBase(env)) return std::filesystem::path(env);
    return InvalidInput(std::string("KETAMINE_PROFILES_DIR=") + env + " has no r4/base.json");
  }
  if (HasBase("fhir-profiles")) return std::filesystem::path("fhir-profiles");
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      if (HasBase(dir / "fhir-profiles")) return dir / "fhir-profiles";
    }
  }
  return InvalidInput("cannot find fhir-profiles/ (give --profiles-dir or set KETAMINE_PROFILES_DIR)");
}

}  // namespace ketamine::cli
