#include "common/status.h"

#include <cstdio>
#include <cstdlib>

namespace ketamine {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidInput: return "invalid-input";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kTooLarge: return "too-large";
    case StatusCode::kConflict: return "conflict";
    case StatusCode::kNotFound: return "not-found";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  std::string out(StatusCodeName(code_));
  if (!location_.empty()) out += " at " + location_.ToString();
  if (!message_.empty()) out += ": " + message_;
  return out;
}

namespace internal {
void CheckFailed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"check-failed\",\"check\":\"%s\",\"at\":\"%s:%d\"}\n",
               condition, file, line);
  std::abort();
}
}  // namespace internal

}  // namespace ketamine
