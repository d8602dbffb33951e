// A blocking MLLP client for one connection: one message in flight, the ACK matched by MSA-2
// against the MSH-10 sent (a mismatch is a failure, not a success), an ACK timeout that closes
// the connection (so a late ACK can never be taken for the next message's), and, when asked,
// waiting past a commit ACK (CA) for the application ACK.
//   auto client = Client::Connect("127.0.0.1", 2575, {});
//   auto ack = (*client)->Send(message);   // ack->code == "AA"
// Not thread-safe: use one Client per thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "mllp/framer.h"
#include "mllp/tls.h"

namespace ketamine::mllp {

struct ClientOptions {
  int connect_timeout_ms = 10000;
  int ack_timeout_ms = 30000;
  bool wait_for_application_ack = false;  // after a CA, wait for the AA/AE/AR too
  size_t max_frame_bytes = kDefaultMaxFrameBytes;
  std::optional<TlsOptions> tls;
};

struct SendResult {
  std::string ack;         // the final ACK message (application ACK when waited for)
  std::string code;        // its MSA-1: AA, AE, AR, CA, CE, CR
  std::string accept_ack;  // the commit ACK seen before it, when waiting past CA
  bool Accepted() const { return code == "AA" || code == "CA"; }
};

class Client {
 public:
  // kUnavailable when the peer cannot be reached in time; kInvalidInput for bad TLS files.
  static Result<std::unique_ptr<Client>> Connect(const std::string& host, uint16_t port,
                                                 ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // kInvalidInput: the message has no readable MSH-10. kUnavailable: connection lost or ACK
  // timeout (the connection is closed; Connect again before a retry). kConflict: an ACK for
  // another control id arrived (connection closed too).
  Result<SendResult> Send(std::string_view message);
  bool connected() const;

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "host:port" -> host and port; kInvalidInput when malformed.
[[nodiscard]] Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);

}  // namespace ketamine::mllp
