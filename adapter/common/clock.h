// A clock that tests can replace, so that timestamps in ACKs and stored rows repeat.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ketamine {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  static const Clock& System();
};

class FixedClockForTest : public Clock {
 public:
  explicit FixedClockForTest(std::chrono::system_clock::time_point now) : now_(now) {}
  std::chrono::system_clock::time_point Now() const override { return now_; }

 private:
  std::chrono::system_clock::time_point now_;
};

// HL7 v2 DTM in UTC with zone: "20261123101344.123+0000".
std::string FormatHl7Timestamp(std::chrono::system_clock::time_point t);
// RFC 3339 in UTC: "2026-11-23T10:13:44.123Z".
std::string FormatIsoTimestamp(std::chrono::system_clock::time_point t);
// Milliseconds since the Unix epoch, and back (outbox due times, ids that sort by time).
int64_t UnixMs(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point FromUnixMs(int64_t ms);

}  // namespace ketamine
