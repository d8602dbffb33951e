// Memory over a long conversion run: converts the benchmark RDE^O11 (and, every tenth message, the
// ORU^R01 and a message with errors) N times (default 1,000,000), each with its own MSH-10 as a
// live feed would have, and prints the resident set size every 100,000 messages. Exit 1 when the
// last figure is more than 8 MiB above the first (the warm-up), i.e. when memory grows.
//   build/release/tests/convert_soak [N]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "bench_files.h"
#include "fhir/json.h"
#include "mapping/converter.h"

namespace {

std::string Load(const std::string& file) { return ketamine::bench::LoadOrAbort(file); }

long RssKib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ketamine;
  const long total = argc > 1 ? std::atol(argv[1]) : 1000000;
  auto converter = mapping::Converter::Load({std::string(KETAMINE_SOURCE_DIR) + "/mappings"});
  if (!converter.ok()) return 2;
  const std::string rde = Load(KETAMINE_SOURCE_DIR "/tests/bench/data/RDE_O11-bench.hl7");
  const std::string oru = Load(KETAMINE_SOURCE_DIR "/tests/bench/data/ORU_R01-bench.hl7");
  const std::string control = "BENCH-RDE-0001";
  const size_t at = rde.find(control);
  if (at == std::string::npos) return 2;
  std::string message = rde;
  std::string broken = rde;
  broken.replace(broken.find("|0.35|"), 6, "|zero|");  // a dose that is not a number: issues every time
  mapping::ConvertOptions options;
  options.default_timezone = "-05:00";
  long first_rss = 0, last_rss = 0;
  size_t bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (long i = 1; i <= total; ++i) {
    const std::string* text = &message;
    if (i % 10 == 3) text = &oru;
    if (i % 10 == 7) text = &broken;
    if (text == &message) {
      std::string id = std::to_string(i);  // a fresh MSH-10 of the same length
      message.replace(at, control.size(), std::string(control.size() - std::min(id.size(), control.size()), '0') + id);
    }
    auto msg = hl7v2::Parse(*text);
    if (!msg.ok()) return 2;
    auto result = (*converter)->ToFhir(*msg, options);
    if (!result.ok()) return 2;
    bytes += fhir::ToJson(*result->bundle).size();
    if (i % 100000 == 0) {
      last_rss = RssKib();
      if (first_rss == 0) first_rss = last_rss;
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("%8ld messages  rss %6ld KiB  %.0f messages/s\n", i, last_rss, static_cast<double>(i) / seconds);
      std::fflush(stdout);
    }
  }
  std::printf("bundle bytes written: %zu; rss first %ld KiB, last %ld KiB\n", bytes, first_rss, last_rss);
  return last_rss - first_rss > 8 * 1024 ? 1 : 0;
}
