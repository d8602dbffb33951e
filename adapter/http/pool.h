// cpprestsdk runs every listener handler and every client continuation on one shared thread pool,
// sized once per process: the first listener or client starts it at 40 threads unless it was sized
// before. On a small machine 40 threads hand work to each other and spend their time in futex
// wake-ups (the outbound FHIR client ran at a third of its speed), so the process sizes it first.
//   http::StartPool(2);  // before any listener or client; later calls change nothing
#pragma once

#include <cstddef>

namespace ketamine::http {

// Threads of the shared pool: the machine's cores (StartPool never starts fewer than 2). Handlers
// never block a pool thread (writes wait for the store's commit off the pool), so more threads only
// add hand-offs.
size_t DefaultPoolThreads();

// Sizes the pool when it has not started yet (0: DefaultPoolThreads(), read in that first call only:
// the core count is a sysfs read); returns the size it was given by the first call. Later calls
// cost one atomic load (the store's writer makes one per REST write it answers, see RunLater).
// Never fewer than 2: asio runs a pool started with one thread as single-threaded (what a handler
// posts stays queued for that same thread), and cpprestsdk's listener close, a pool task that
// waits for the open connections to end, then waits forever on an idle keep-alive connection.
// One thread served REST writes ~15 % faster on 2 cores; the shutdown hang rules it out.
size_t StartPool(size_t threads = 0);

}  // namespace ketamine::http
