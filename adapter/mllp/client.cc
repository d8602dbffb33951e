#include "mllp/client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <charconv>
#include <deque>

#include "hl7v2/parser.h"

namespace ketamine::mllp {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)), framer_(options_.max_frame_bytes) {}

  Status Connect(const std::string& host, uint16_t port) {
    if (options_.tls) {
      KETAMINE_ASSIGN_OR_RETURN(tls_context_, MakeClientContext(*options_.tls));
      tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(io_, *tls_context_);
    } else {
      plain_ = std::make_unique<tcp::socket>(io_);
    }
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Unavailable("cannot resolve " + host + ": " + ec.message());
    boost::system::error_code result = asio::error::would_block;
    asio::async_connect(Socket(), endpoints,
                        [&](boost::system::error_code e, const tcp::endpoint&) { result = e; });
    if (!RunUntil(result, options_.connect_timeout_ms)) {
      return Unavailable("connect to " + host + ":" + std::to_string(port) + " timed out");
    }
    if (result) {
      return Unavailable("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                         result.message());
    }
    Socket().set_option(tcp::no_delay(true), ec);
    if (tls_) {
      const std::string& name = options_.tls->server_name.empty() ? host : options_.tls->server_name;
      SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());
      if (options_.tls->verify_peer) {
        tls_->set_verify_callback(asio::ssl::host_name_verification(name));
      }
      result = asio::error::would_block;
      tls_->async_handshake(asio::ssl::stream_base::client,
                            [&](boost::system::error_code e) { result = e; });
      if (!RunUntil(result, options_.connect_timeout_ms)) {
        return Unavailable("TLS handshake with " + host + " timed out");
      }
      if (result) return Unavailable("TLS handshake with " + host + " failed: " + result.message());
    }
    connected_ = true;
    return Status::Ok();
  }

  Result<SendResult> Send(std::string_view message) {
    auto parsed = hl7v2::Parse(message);
    if (!parsed.ok()) return InvalidInput("cannot send: " + parsed.status().ToString());
    std::string control_id(parsed->ControlId());
    if (control_id.empty()) return InvalidInput("cannot send a message without MSH-10", Location("MSH-10"));
    if (!connected_) return Unavailable("not connected");
    std::string frame = Frame(message);
    boost::system::error_code result = asio::error::would_block;
    auto on_write = [&](boost::system::error_code e, size_t) { result = e; };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(frame), on_write);
    } else {
      asio::async_write(*plain_, asio::buffer(frame), on_write);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.ack_timeout_ms);
    if (!RunUntilDeadline(result, deadline) || result) {
      return Fail("sending failed: " + (result ? result.message() : std::string("timed out")));
    }
    SendResult out;
    while (true) {
      KETAMINE_ASSIGN_OR_RETURN(std::string ack, ReadFrame(deadline));
      auto ack_msg = hl7v2::Parse(ack);
      if (!ack_msg.ok()) return Fail("unreadable ACK: " + ack_msg.status().ToString());
      std::string msa2(ack_msg->Get("MSA-2"));
      std::string code(ack_msg->Get("MSA-1"));
      if (msa2 != control_id) {
        Close();
        return Status(StatusCode::kConflict, "ACK for control id '" + msa2 + "' while waiting for '" +
                                                 control_id + "'; connection closed");
      }
      if (code == "CA" && options_.wait_for_application_ack) {
        out.accept_ack = std::move(ack);
        continue;
      }
      out.ack = std::move(ack);
      out.code = std::move(code);
      return out;
    }
  }

  bool connected() const { return connected_; }

  void Close() {
    connected_ = false;
    boost::system::error_code ec;
    Socket().shutdown(tcp::socket::shutdown_both, ec);
    Socket().close(ec);
  }

 private:
  tcp::socket::lowest_layer_type& Socket() { return tls_ ? tls_->lowest_layer() : *plain_; }

  Status Fail(std::string why) {
    Close();
    return Unavailable(std::move(why) + "; connection closed");
  }

  bool RunUntil(boost::system::error_code& result, int timeout_ms) {
    return RunUntilDeadline(result, std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms));
  }

  // Runs the io_context until the operation reports or the deadline passes; on a timeout the
  // socket is closed so that the pending operation ends and nothing late is read later.
  bool RunUntilDeadline(boost::system::error_code& result,
                        std::chrono::steady_clock::time_point deadline) {
    io_.restart();
    while (result == asio::error::would_block) {
      if (io_.run_one_until(deadline) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    }
    if (result != asio::error::would_block) return true;
    Close();
    io_.restart();
    io_.run();  // let the cancelled operation complete
    return false;
  }

  Result<std::string> ReadFrame(std::chrono::steady_clock::time_point deadline) {
    while (frames_.empty()) {
      boost::system::error_code result = asio::error::would_block;
      size_t n = 0;
      auto on_read = [&](boost::system::error_code e, size_t got) {
        result = e;
        n = got;
      };
      if (tls_) {
        tls_->async_read_some(asio::buffer(buffer_), on_read);
      } else {
        plain_->async_read_some(asio::buffer(buffer_), on_read);
      }
      if (!RunUntilDeadline(result, deadline)) {
        return Unavailable("no ACK within " + std::to_string(options_.ack_timeout_ms) +
                           " ms; connection closed");
      }
      if (result) return Fail("connection lost while waiting for the ACK: " + result.message());
      framer_.Feed(std::string_view(buffer_.data(), n), [&](const FrameEvent& f) {
        if (f.kind == FrameEvent::kMessage) frames_.emplace_back(f.payload);
      });
    }
    std::string frame = std::move(frames_.front());
    frames_.pop_front();
    return frame;
  }

  ClientOptions options_;
  asio::io_context io_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
  std::unique_ptr<tcp::socket> plain_;
  Framer framer_;
  std::deque<std::string> frames_;
  std::array<char, 65536> buffer_{};
  bool connected_ = false;
};

Result<std::unique_ptr<Client>> Client::Connect(const std::string& host, uint16_t port,
                                                ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  KETAMINE_RETURN_IF_ERROR(impl->Connect(host, port));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  if (impl_->connected()) impl_->Close();
}
Result<SendResult> Client::Send(std::string_view message) { return impl_->Send(message); }
bool Client::connected() const { return impl_->connected(); }

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return InvalidInput("expected HOST:PORT, got '" + std::string(text) + "'");
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return InvalidInput("bad port in '" + std::string(text) + "'");
  }
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<uint16_t>(port));
}

}  // namespace ketamine::mllp
