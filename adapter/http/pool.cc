// pplx/threadpool.h still names boost::asio::io_service, which BOOST_ASIO_NO_DEPRECATED hides.
#undef BOOST_ASIO_NO_DEPRECATED
#include "http/pool.h"

#include <utility>  // boost/asio/awaitable.hpp uses std::exchange without including it

#include <pplx/threadpool.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace ketamine::http {

size_t DefaultPoolThreads() { return std::thread::hardware_concurrency(); }

size_t StartPool(size_t threads) {
  static std::once_flag once;
  static size_t size = 0;
  std::call_once(once, [threads] {
    // Never 1, see pool.h: one thread hangs the listener's close.
    size = std::max<size_t>(2, threads == 0 ? DefaultPoolThreads() : threads);
    try {
      crossplat::threadpool::initialize_with_threads(size);
    } catch (const std::exception&) {
      size = 0;  // already started by cpprestsdk itself: it keeps its own size
    }
  });
  return size;
}

}  // namespace ketamine::http
