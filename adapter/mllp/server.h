// The MLLP listener: many concurrent connections on Boost.Asio, plain TCP or TLS (optionally
// mutual). Each connection hands complete frames to the handler one at a time, in order, and
// writes the handler's replies back before it takes the next frame, so ACKs keep the order of
// the messages. The handler decides what to answer; the server never answers on its own.
//   auto server = Server::Start(io, options, handler);   // binds, starts accepting
//   std::cout << (*server)->port();                      // the real port when options.port == 0
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "mllp/framer.h"
#include "mllp/tls.h"

namespace ketamine::mllp {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 2575;  // 0: any free port
  size_t max_frame_bytes = kDefaultMaxFrameBytes;
  int idle_timeout_ms = 300000;  // a connection with no traffic for this long is closed
  size_t max_connections = 512;
  std::optional<TlsOptions> tls;
};

struct PeerInfo {
  std::string address;          // "127.0.0.1:53422"
  std::string tls_subject;      // client certificate subject under mutual TLS
};

// Replies to write back, in order (may be empty: nothing is sent).
using Reply = std::function<void(std::vector<std::string> replies)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // Called once per frame; `reply` may be called later from any thread, exactly once.
  virtual void OnMessage(std::string payload, const PeerInfo& peer, Reply reply) = 0;
  // A frame over max_frame_bytes: `head` holds its first bytes (to read MSH and answer AR).
  virtual void OnOversized(std::string head, size_t total_bytes, const PeerInfo& peer,
                           Reply reply) = 0;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(boost::asio::io_context& io, ServerOptions options,
                                               std::shared_ptr<Handler> handler);
  ~Server();
  uint16_t port() const;
  // Stops accepting and closes idle connections; connections with a message in flight finish
  // it (its ACK is written) and then close.
  void Stop();
  size_t open_connections() const;

 private:
  class Impl;
  explicit Server(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ketamine::mllp
