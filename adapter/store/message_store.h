// The durable store of inbound messages. A message is acknowledged only after Append has
// committed it to disk: the SQLite store groups concurrent appends into one transaction (one
// fsync for many messages) and calls each `done` only after that commit.
//   store->Append(std::move(record), [](Result<AppendOutcome> r) { if (r.ok()) SendAck(); });
// A message whose (sending application, sending facility, control id) was already accepted is
// not stored again: the outcome says duplicate and carries the replies sent the first time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::store {

enum class MessageStatus { kAccepted, kRejected, kError };
std::string_view MessageStatusName(MessageStatus status);

struct InboundRecord {
  std::string received_at;  // RFC 3339
  std::string listener;     // which listener took it ("mllp")
  std::string sending_application;  // MSH-3 as received
  std::string sending_facility;     // MSH-4 as received
  std::string control_id;           // MSH-10; empty: never deduplicated
  std::string message_type;         // "RDE^O11"
  std::string version;              // MSH-12
  MessageStatus status = MessageStatus::kAccepted;
  std::string raw;                   // the bytes as received
  std::vector<std::string> replies;  // ACKs sent back, in order (CA then AA in enhanced mode)
};

struct AppendOutcome {
  int64_t id = 0;
  bool duplicate = false;
  std::vector<std::string> replies;  // for a duplicate: the replies stored the first time
};

struct StoredMessage {
  int64_t id = 0;
  InboundRecord record;
};

class MessageStore {
 public:
  using AppendCallback = std::function<void(Result<AppendOutcome>)>;
  virtual ~MessageStore() = default;
  // Stores durably, then calls done (on a store thread). kUnavailable when it could not write.
  virtual void Append(InboundRecord record, AppendCallback done) = 0;
  // Blocking form of Append, for tools and tests.
  Result<AppendOutcome> AppendAndWait(InboundRecord record);
  // Messages with id > after_id, oldest first.
  virtual Result<std::vector<StoredMessage>> List(int64_t after_id, size_t limit) = 0;
  virtual Result<int64_t> Count() = 0;
};

}  // namespace ketamine::store
