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

// HTTP dates name days and months in English whatever the process's locale: named here, not by
// strftime/strptime.
constexpr const char* kHttpDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kHttpMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string FormatHttpDate(std::chrono::system_clock::time_point t) {
  int millis = 0;
  std::tm parts = UtcParts(t, &millis);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kHttpDays[parts.tm_wday], parts.tm_mday,
                kHttpMonths[parts.tm_mon], parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
  return buf;
}

std::optional<int64_t> HttpDateToUnixSeconds(std::string_view text) {
  // "Mon, 23 Nov 2026 10:13:44 GMT": 29 characters at fixed places.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
      text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto number = [&](size_t at, size_t count, int& out) {
    out = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (text.substr(8, 3) == kHttpMonths[m]) month = m;
  }
  if (month < 0 || !number(5, 2, tm.tm_mday) || !number(12, 4, tm.tm_year) || !number(17, 2, tm.tm_hour) ||
      !number(20, 2, tm.tm_min) || !number(23, 2, tm.tm_sec) || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_mon = month;
  tm.tm_year -= 1900;
  return static_cast<int64_t>(timegm(&tm));
}

int64_t UnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromUnixMs(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

namespace {

// A date ("2026", "2026-11", "2026-11-23": `date_only`) or a dateTime with a time and an offset
// (its Unix seconds); false when malformed.
bool ParseDateTime(std::string_view text, bool& date_only, int64_t& unix_seconds) {
  auto digits = [&](size_t at, size_t count, int& out) {
    if (at + count > text.size()) return false;
    out = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  date_only = true;
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year)) return false;
  if (text.size() == 4) return true;
  if (text[4] != '-' || !digits(5, 2, month) || month < 1 || month > 12) return false;
  if (text.size() == 7) return true;
  if (text[7] != '-' || !digits(8, 2, day) || day < 1 || day > 31) return false;
  if (text.size() == 10) return true;
  date_only = false;
  if (text[10] != 'T' || !digits(11, 2, hour) || text.size() < 16 || text[13] != ':' || !digits(14, 2, minute) ||
      hour > 23 || minute > 59) {
    return false;
  }
  size_t at = 16;
  if (at < text.size() && text[at] == ':') {
    if (!digits(at + 1, 2, second) || second > 60) return false;
    at += 3;
    if (at < text.size() && text[at] == '.') {
      ++at;
      size_t start = at;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
      if (at == start) return false;
    }
  }
  if (at >= text.size()) return false;  // a time needs its offset
  int offset_s = 0;
  if (text[at] == 'Z') {
    if (at + 1 != text.size()) return false;
  } else if (text[at] == '+' || text[at] == '-') {
    int oh = 0, om = 0;
    if (text.size() != at + 6 || !digits(at + 1, 2, oh) || text[at + 3] != ':' || !digits(at + 4, 2, om) || oh > 14 ||
        om > 59) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (text[at] == '+' ? 1 : -1);
  } else {
    return false;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  unix_seconds = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return true;
}

}  // namespace

std::optional<int64_t> DateTimeToUnixSeconds(std::string_view text) {
  bool date_only = false;
  int64_t seconds = 0;
  if (!ParseDateTime(text, date_only, seconds) || date_only) return std::nullopt;
  return seconds;
}

std::optional<std::string> DateTimeToUtc(std::string_view text) {
  bool date_only = false;
  int64_t seconds = 0;
  if (!ParseDateTime(text, date_only, seconds)) return std::nullopt;
  if (date_only) return std::string(text);
  const auto t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char out[32];
  std::strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(out);
}

}  // namespace ketamine
