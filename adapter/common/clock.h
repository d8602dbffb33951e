// A clock that tests can replace, so that timestamps in ACKs and stored rows repeat.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
// An HTTP date (RFC 9110 IMF-fixdate, as Last-Modified takes it): "Mon, 23 Nov 2026 10:13:44 GMT".
std::string FormatHttpDate(std::chrono::system_clock::time_point t);
// That form back as Unix seconds; nullopt for anything else (the obsolete RFC 850 and asctime forms
// included).
std::optional<int64_t> HttpDateToUnixSeconds(std::string_view text);
// Milliseconds since the Unix epoch, and back (outbox due times, ids that sort by time).
int64_t UnixMs(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point FromUnixMs(int64_t ms);
// An RFC 3339 / FHIR dateTime with a time and an offset ("2026-11-23T09:05:00-05:00") in UTC
// ("2026-11-23T14:05:00Z", seconds kept, fractions dropped) so stored times compare as text; a
// date alone ("2026-11-23", "2026-11", "2026") is returned as it is. nullopt when malformed.
std::optional<std::string> DateTimeToUtc(std::string_view text);
// The same dateTime (a time and an offset required) as Unix seconds; nullopt for a date alone.
std::optional<int64_t> DateTimeToUnixSeconds(std::string_view text);

}  // namespace ketamine
