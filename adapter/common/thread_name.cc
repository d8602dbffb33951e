#include "common/thread_name.h"

#include <pthread.h>

#include <string>

namespace ketamine {

void NameThisThread(std::string_view name) {
  constexpr size_t kLinuxLimit = 15;  // without the terminating NUL
  const std::string kept(name.substr(0, kLinuxLimit));
  pthread_setname_np(pthread_self(), kept.c_str());  // best effort: a name is only a label
}

}  // namespace ketamine
