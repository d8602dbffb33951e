// Limits of the gateway's process that a long-running server raises for itself. Each connection
// (MLLP senders, REST clients on keep-alive) holds a file descriptor; a service started with the
// usual soft limit of 1024 would refuse connections long before the machine runs short.
//   const uint64_t files = RaiseOpenFileLimit();  // at start-up, logged
#pragma once

#include <cstdint>

namespace ketamine {

// Raises the soft limit of open files to the hard limit (the most an unprivileged process may
// take; capped at 1,048,576). Returns the soft limit in force afterwards; 0 when it cannot be read.
uint64_t RaiseOpenFileLimit();

}  // namespace ketamine
