// Structured JSON logs on stderr, one object per line. Callers pass event names and technical
// fields only (ports, counts, control ids are fine; names, MRNs and message text are not).
//   log::Info("mllp.listening", {{"port", "2575"}});
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace ketamine::log {

using Field = std::pair<std::string_view, std::string_view>;

enum class Level { kDebug, kInfo, kWarn, kError };
void SetMinLevel(Level level);
void Write(Level level, std::string_view event, std::initializer_list<Field> fields = {});
inline void Info(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, event, fields);
}
inline void Warn(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, event, fields);
}
inline void Error(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, event, fields);
}

}  // namespace ketamine::log
