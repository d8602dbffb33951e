// Progress of a long command on standard error ("convert: 45% 12,345 messages"), redrawn at most
// five times a second on one line. Shown on a terminal for large inputs, or when asked for.
//   Progress progress("convert", total_bytes, /*forced=*/false);
//   progress.Update(bytes_done, items_done, "messages"); ... progress.Finish();
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace ketamine::cli {

class Progress {
 public:
  // Enabled when `forced`, or when standard error is a terminal and the input is over 1 MiB
  // (`large`: the size worth a progress line, in the unit of `total_bytes`, e.g. ledger entries).
  Progress(std::string what, size_t total_bytes, bool forced, size_t large = size_t{1} << 20);
  void Update(size_t bytes_done, size_t items_done, const char* items);
  void Finish();
  // Clears the line before other output on standard error (issues).
  void Clear();
  bool enabled() const { return enabled_; }

 private:
  std::string what_;
  size_t total_bytes_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace ketamine::cli
