#include "mllp/server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>

#include "common/log.h"

namespace ketamine::mllp {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxQueuedFrames = 16;  // stop reading while this many frames wait

struct QueuedFrame {
  FrameEvent::Kind kind;
  std::string payload;
  size_t total_bytes;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Close() = 0;
  virtual void CloseWhenIdle() = 0;
};

struct Shared {
  std::shared_ptr<Handler> handler;
  ServerOptions options;
  std::mutex mutex;
  // Weak: a session lives as long as its pending operations; this map only finds it for Stop()
  // and counts it, and must not keep it (or, through it, Shared) alive.
  std::map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  std::atomic<bool> stopping{false};
};

template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, std::shared_ptr<Shared> shared, asio::any_io_executor executor)
      : stream_(std::move(stream)),
        shared_(std::move(shared)),
        strand_(asio::make_strand(executor)),
        idle_timer_(strand_),
        framer_(shared_->options.max_frame_bytes),
        buffer_(kReadChunk) {}

  ~Session() override {
    std::lock_guard lock(shared_->mutex);
    shared_->sessions.erase(this);
  }

  void Start() {
    boost::system::error_code ec;
    auto endpoint = Socket().remote_endpoint(ec);
    if (!ec) peer_.address = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    Socket().set_option(tcp::no_delay(true), ec);
    auto self = this->shared_from_this();
    asio::dispatch(strand_, [self] { self->Handshake(); });
  }

  void Close() override {
    auto self = this->shared_from_this();
    asio::dispatch(strand_, [self] { self->DoClose(); });
  }

  void CloseWhenIdle() override {
    auto self = this->shared_from_this();
    asio::dispatch(strand_, [self] {
      self->closing_ = true;
      if (!self->busy_) self->DoClose();
    });
  }

 private:
  tcp::socket::lowest_layer_type& Socket() { return stream_.lowest_layer(); }

  void Handshake() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      ArmIdleTimer();
      auto self = this->shared_from_this();
      stream_.async_handshake(asio::ssl::stream_base::server,
                              asio::bind_executor(strand_, [self](boost::system::error_code ec) {
                                if (ec) {
                                  log::Warn("mllp.tls_handshake_failed",
                                            {{"peer", self->peer_.address}, {"reason", ec.message()}});
                                  self->DoClose();
                                  return;
                                }
                                self->ReadPeerSubject();
                                self->Read();
                              }));
    } else {
      Read();
    }
  }

  void ReadPeerSubject() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      X509* cert = SSL_get_peer_certificate(stream_.native_handle());
      if (cert != nullptr) {
        char name[256];
        X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
        peer_.tls_subject = name;
        X509_free(cert);
      }
    }
  }

  void ArmIdleTimer() {
    idle_timer_.expires_after(std::chrono::milliseconds(shared_->options.idle_timeout_ms));
    auto self = this->shared_from_this();
    idle_timer_.async_wait(asio::bind_executor(strand_, [self](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled
      if (self->busy_) {
        self->ArmIdleTimer();  // waiting for our own store is not the peer's idleness
        return;
      }
      log::Info("mllp.idle_timeout", {{"peer", self->peer_.address}});
      self->DoClose();
    }));
  }

  void Read() {
    if (closed_ || reading_ || closing_) return;
    if (queue_.size() >= kMaxQueuedFrames) return;  // resumed when the queue drains
    reading_ = true;
    ArmIdleTimer();
    auto self = this->shared_from_this();
    stream_.async_read_some(
        asio::buffer(buffer_),
        asio::bind_executor(strand_, [self](boost::system::error_code ec, size_t n) {
          self->reading_ = false;
          if (ec) {
            self->peer_closed_ = true;
            if (!self->busy_ && self->queue_.empty()) self->DoClose();
            return;
          }
          self->framer_.Feed(std::string_view(self->buffer_.data(), n), [&](const FrameEvent& f) {
            self->queue_.push_back({f.kind, std::string(f.payload), f.total_bytes});
          });
          self->ProcessNext();
          self->Read();
        }));
  }

  void ProcessNext() {
    if (busy_ || closed_) return;
    if (queue_.empty()) {
      if (peer_closed_ || closing_) DoClose();
      return;
    }
    busy_ = true;
    QueuedFrame frame = std::move(queue_.front());
    queue_.pop_front();
    auto self = this->shared_from_this();
    Reply reply = [self](std::vector<std::string> replies) {
      asio::dispatch(self->strand_, [self, replies = std::move(replies)]() mutable {
        self->WriteReplies(std::move(replies));
      });
    };
    if (frame.kind == FrameEvent::kOversized) {
      log::Warn("mllp.frame_too_large", {{"peer", peer_.address},
                                         {"bytes", std::to_string(frame.total_bytes)}});
      shared_->handler->OnOversized(std::move(frame.payload), frame.total_bytes, peer_,
                                    std::move(reply));
    } else {
      shared_->handler->OnMessage(std::move(frame.payload), peer_, std::move(reply));
    }
  }

  void WriteReplies(std::vector<std::string> replies) {
    if (closed_) return;
    out_.clear();
    for (const auto& r : replies) out_ += Frame(r);
    if (out_.empty()) {
      Done();
      return;
    }
    auto self = this->shared_from_this();
    asio::async_write(stream_, asio::buffer(out_),
                      asio::bind_executor(strand_, [self](boost::system::error_code ec, size_t) {
                        if (ec) {
                          self->DoClose();
                          return;
                        }
                        self->Done();
                      }));
  }

  void Done() {
    busy_ = false;
    if (closing_ && queue_.empty()) {
      DoClose();
      return;
    }
    ProcessNext();
    Read();
  }

  void DoClose() {
    if (closed_) return;
    closed_ = true;
    idle_timer_.cancel();
    boost::system::error_code ec;
    Socket().shutdown(tcp::socket::shutdown_both, ec);
    Socket().close(ec);
    std::lock_guard lock(shared_->mutex);
    shared_->sessions.erase(this);
  }

  Stream stream_;
  std::shared_ptr<Shared> shared_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer idle_timer_;
  Framer framer_;
  std::vector<char> buffer_;
  std::deque<QueuedFrame> queue_;
  std::string out_;
  PeerInfo peer_;
  bool busy_ = false;
  bool reading_ = false;
  bool closed_ = false;
  bool closing_ = false;
  bool peer_closed_ = false;
};

}  // namespace

class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(asio::io_context& io, std::shared_ptr<Shared> shared,
       std::shared_ptr<asio::ssl::context> tls)
      : io_(io), acceptor_(io), shared_(std::move(shared)), tls_(std::move(tls)) {}

  Status Listen() {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(shared_->options.host, ec);
    if (ec) return InvalidInput("bad listen address " + shared_->options.host);
    tcp::endpoint endpoint(address, shared_->options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("cannot listen on " + shared_->options.host + ":" +
                         std::to_string(shared_->options.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Accept() {
    auto self = shared_from_this();
    acceptor_.async_accept(asio::make_strand(io_), [self](boost::system::error_code ec,
                                                          tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || self->shared_->stopping) return;
        log::Warn("mllp.accept_failed", {{"reason", ec.message()}});
      } else {
        self->StartSession(std::move(socket));
      }
      if (!self->shared_->stopping) self->Accept();
    });
  }

  void StartSession(tcp::socket socket) {
    std::shared_ptr<SessionBase> session;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->sessions.size() >= shared_->options.max_connections) {
        log::Warn("mllp.too_many_connections",
                  {{"limit", std::to_string(shared_->options.max_connections)}});
        boost::system::error_code ec;
        socket.close(ec);
        return;
      }
    }
    auto executor = socket.get_executor();
    if (tls_) {
      auto s = std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), *tls_), shared_,
                                                    executor);
      Register(s);
      s->Start();
    } else {
      auto s = std::make_shared<Session<tcp::socket>>(std::move(socket), shared_, executor);
      Register(s);
      s->Start();
    }
  }

  void Register(const std::shared_ptr<SessionBase>& session) {
    std::lock_guard lock(shared_->mutex);
    shared_->sessions[session.get()] = session;
  }

  void Stop() {
    if (shared_->stopping.exchange(true)) return;
    auto self = shared_from_this();
    asio::post(acceptor_.get_executor(), [self] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
    });
    std::vector<std::shared_ptr<SessionBase>> sessions;
    {
      std::lock_guard lock(shared_->mutex);
      for (const auto& [raw, weak] : shared_->sessions) {
        if (auto session = weak.lock()) sessions.push_back(std::move(session));
      }
    }
    for (const auto& session : sessions) session->CloseWhenIdle();
  }

  uint16_t port() const { return port_; }
  size_t open_connections() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->sessions.size();
  }

 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<asio::ssl::context> tls_;
  uint16_t port_ = 0;
};

Result<std::unique_ptr<Server>> Server::Start(asio::io_context& io, ServerOptions options,
                                              std::shared_ptr<Handler> handler) {
  std::shared_ptr<asio::ssl::context> tls;
  if (options.tls) {
    KETAMINE_ASSIGN_OR_RETURN(tls, MakeServerContext(*options.tls));
  }
  auto shared = std::make_shared<Shared>();
  shared->handler = std::move(handler);
  shared->options = std::move(options);
  auto impl = std::make_shared<Impl>(io, shared, tls);
  KETAMINE_RETURN_IF_ERROR(impl->Listen());
  impl->Accept();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { impl_->Stop(); }
uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }
size_t Server::open_connections() const { return impl_->open_connections(); }

}  // namespace ketamine::mllp
