#include "common/process_limits.h"

#include <sys/resource.h>

#include <algorithm>

namespace ketamine {

uint64_t RaiseOpenFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 0;
  const rlim_t wanted = std::min<rlim_t>(files.rlim_max, 1 << 20);
  if (files.rlim_cur < wanted) {
    rlimit raised = files;
    raised.rlim_cur = wanted;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  return static_cast<uint64_t>(files.rlim_cur);
}

}  // namespace ketamine
