#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace ketamine {
namespace {

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

std::tm UtcParts(std::chrono::system_clock::time_point t, int* millis) {
  auto since_epoch = t.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  *millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count());
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm parts{};
  gmtime_r(&tt, &parts);
  return parts;
}

}  // namespace

const Clock& Clock::System() {
  static const SystemClock clock;
  return clock;
}

std::string FormatHl7Timestamp(std::chrono::system_clock::time_point t) {
  int millis = 0;
  std::tm parts = UtcParts(t, &millis);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d.%03d+0000", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, millis);
  return buf;
}

std::string FormatIsoTimestamp(std::chrono::system_clock::time_point t) {
  int millis = 0;
  std::tm parts = UtcParts(t, &millis);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, millis);
  return buf;
}

int64_t UnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromUnixMs(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace ketamine
