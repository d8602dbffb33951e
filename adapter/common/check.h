// KETAMINE_CHECK states what our own code guarantees. A failed check is our bug: it logs the place
// and aborts. Never use it on input data; input problems are a Status or an Issue.
#pragma once

namespace ketamine::internal {
[[noreturn]] void CheckFailed(const char* condition, const char* file, int line);
}  // namespace ketamine::internal

#define KETAMINE_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::ketamine::internal::CheckFailed(#cond, __FILE__, __LINE__))
