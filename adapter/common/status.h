// Status and Result<T>: how a component says "we could not finish" and what the caller should do
// next. Data problems that do not stop the work are Issues (issue.h), not a failed Status.
//   Result<int> r = ParsePort("2575");
//   if (!r.ok()) return r.status();          // or KETAMINE_ASSIGN_OR_RETURN(int port, ParsePort(s));
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/check.h"

namespace ketamine {

enum class StatusCode {
  kOk = 0,
  kInvalidInput,  // fix the data, do not retry
  kUnsupported,   // we do not handle this (message type, version, option)
  kTooLarge,      // over a configured limit
  kConflict,      // duplicate or version clash
  kNotFound,
  kUnavailable,  // retry later (store busy, peer down)
  kInternal,     // our bug
};

std::string_view StatusCodeName(StatusCode code);

// Where in the input a problem is: an HL7 v2 location ("RXE-3", "MSH-2"), a FHIRPath, a config key
// path or a file and line. Free text so that every component can use its own notation.
class Location {
 public:
  Location() = default;
  explicit Location(std::string text) : text_(std::move(text)) {}
  const std::string& ToString() const { return text_; }
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, Location location = {})
      : code_(code), message_(std::move(message)), location_(std::move(location)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const Location& location() const { return location_; }
  // "invalid-input at MSH-2: encoding characters are missing"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  Location location_;
};

inline Status InvalidInput(std::string message, Location location = {}) {
  return {StatusCode::kInvalidInput, std::move(message), std::move(location)};
}
inline Status Unsupported(std::string message, Location location = {}) {
  return {StatusCode::kUnsupported, std::move(message), std::move(location)};
}
inline Status TooLarge(std::string message, Location location = {}) {
  return {StatusCode::kTooLarge, std::move(message), std::move(location)};
}
inline Status NotFound(std::string message, Location location = {}) {
  return {StatusCode::kNotFound, std::move(message), std::move(location)};
}
inline Status Conflict(std::string message, Location location = {}) {
  return {StatusCode::kConflict, std::move(message), std::move(location)};
}
inline Status Unavailable(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status Internal(std::string message) { return {StatusCode::kInternal, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): as absl
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    KETAMINE_CHECK(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& operator*() & { return Value(); }
  const T& operator*() const& { return Value(); }
  T&& operator*() && { return std::move(Value()); }
  T* operator->() { return &Value(); }
  const T* operator->() const { return &Value(); }

 private:
  T& Value() {
    KETAMINE_CHECK(value_.has_value());
    return *value_;
  }
  const T& Value() const {
    KETAMINE_CHECK(value_.has_value());
    return *value_;
  }
  std::optional<T> value_;
  Status status_;
};

}  // namespace ketamine

#define KETAMINE_CONCAT_INNER_(a, b) a##b
#define KETAMINE_CONCAT_(a, b) KETAMINE_CONCAT_INNER_(a, b)
#define KETAMINE_RETURN_IF_ERROR(expr)            \
  do {                                            \
    ::ketamine::Status ketamine_status_ = (expr); \
    if (!ketamine_status_.ok()) return ketamine_status_; \
  } while (false)
#define KETAMINE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(*tmp)
#define KETAMINE_ASSIGN_OR_RETURN(lhs, expr) \
  KETAMINE_ASSIGN_OR_RETURN_IMPL_(KETAMINE_CONCAT_(ketamine_result_, __LINE__), lhs, expr)
