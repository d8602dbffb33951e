// Names the calling thread for the kernel (top -H, ps -L, perf, /proc/PID/task/TID/comm), so an
// operator sees which part of the gateway uses the CPU. Linux keeps 15 bytes; the rest is cut.
//   std::thread([this] { NameThisThread("kgw-store"); Loop(); });
#pragma once

#include <string_view>

namespace ketamine {

void NameThisThread(std::string_view name);

}  // namespace ketamine
