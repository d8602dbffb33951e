// What both stores write the same way: the replies of a message joined with 0x1C, and state names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/message_store.h"

namespace ketamine::store::internal {

inline constexpr char kReplySeparator = 0x1C;  // never inside an HL7 v2 message (it ends MLLP frames)

inline std::string JoinReplies(const std::vector<std::string>& replies) {
  std::string out;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (i > 0) out += kReplySeparator;
    out += replies[i];
  }
  return out;
}

inline std::vector<std::string> SplitReplies(std::string_view joined) {
  std::vector<std::string> out;
  if (joined.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t next = joined.find(kReplySeparator, start);
    out.emplace_back(joined.substr(start, next == std::string_view::npos ? next : next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  return out;
}

inline MessageStatus MessageStatusFromName(std::string_view name) {
  if (name == "rejected") return MessageStatus::kRejected;
  if (name == "error") return MessageStatus::kError;
  return MessageStatus::kAccepted;
}

inline OutboxState OutboxStateFromName(std::string_view name) {
  if (name == "sending") return OutboxState::kSending;
  if (name == "delivered") return OutboxState::kDelivered;
  if (name == "dead") return OutboxState::kDead;
  return OutboxState::kPending;
}

// Folds one row of "SELECT state, count(*), min(id) ... GROUP BY state" into `stats`; `oldest_id`
// ends as the lowest undelivered id (0: none), whose created_ms is the oldest pending age.
inline void AddStateCount(OutboxStats& stats, int64_t& oldest_id, std::string_view state, int64_t n, int64_t first_id) {
  switch (OutboxStateFromName(state)) {
    case OutboxState::kPending:
    case OutboxState::kSending:
      stats.pending += n;
      if (oldest_id == 0 || first_id < oldest_id) oldest_id = first_id;
      break;
    case OutboxState::kDead: stats.dead = n; break;
    case OutboxState::kDelivered: stats.delivered = n; break;
  }
}

}  // namespace ketamine::store::internal
