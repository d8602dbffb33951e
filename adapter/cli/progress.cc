#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace ketamine::cli {

Progress::Progress(std::string what, size_t total_bytes, bool forced, size_t large)
    : what_(std::move(what)),
      total_bytes_(total_bytes),
      enabled_(forced || (isatty(STDERR_FILENO) == 1 && total_bytes > large)) {}

void Progress::Update(size_t bytes_done, size_t items_done, const char* items) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(200) && bytes_done < total_bytes_) return;
  last_ = now;
  shown_ = true;
  unsigned percent = total_bytes_ == 0 ? 100u : static_cast<unsigned>(bytes_done * 100 / total_bytes_);
  std::fprintf(stderr, "\r%s: %3u%% %zu %s", what_.c_str(), percent, items_done, items);
  std::fflush(stderr);
}

void Progress::Clear() {
  if (enabled_ && shown_) std::fputs("\r\033[K", stderr);
  shown_ = false;
}

void Progress::Finish() {
  if (enabled_ && shown_) std::fputs("\n", stderr);
  shown_ = false;
}

}  // namespace ketamine::cli

