#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "common/clock.h"
#include "common/utf8.h"

namespace ketamine::log {
namespace {

std::atomic<Level> g_min_level{Level::kInfo};

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void AppendJsonString(std::string& out, std::string_view raw) {
  // A log line is JSON: bytes that are not UTF-8 (from a request or a peer) become U+FFFD.
  std::string repaired;
  std::string_view text = raw;
  if (!IsValidUtf8(raw)) text = repaired = ValidUtf8(raw);
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

void SetMinLevel(Level level) { g_min_level = level; }

void Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (level < g_min_level.load()) return;
  std::string line = "{\"ts\":";
  AppendJsonString(line, FormatIsoTimestamp(std::chrono::system_clock::now()));
  line += ",\"level\":";
  AppendJsonString(line, LevelName(level));
  line += ",\"event\":";
  AppendJsonString(line, event);
  for (const auto& [key, value] : fields) {
    line += ',';
    AppendJsonString(line, key);
    line += ':';
    AppendJsonString(line, value);
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line keeps lines whole
}

}  // namespace ketamine::log
