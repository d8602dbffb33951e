// The MLLP server and client against each other over loopback, plain and TLS.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <mutex>
#include <thread>

#include "hl7v2/ack.h"
#include "mllp/client.h"
#include "mllp/server.h"

namespace ketamine::mllp {
namespace {

// Answers AA to every message, or a scripted reply.
class AckingHandler : public Handler {
 public:
  void OnMessage(std::string payload, const PeerInfo& peer, Reply reply) override {
    {
      std::lock_guard lock(mutex);
      received.push_back(payload);
      subjects.push_back(peer.tls_subject);
    }
    auto msg = hl7v2::Parse(std::string_view(payload));
    if (!msg.ok()) {
      reply({});
      return;
    }
    hl7v2::AckContext ctx;
    ctx.control_id = "A1";
    if (msg->ControlId() == "WRONG") {
      // An ACK for another message: the client must not take it as success.
      std::string other = "MSH|^~\\&|A|B|C|D|1||ACK|X|P|2.5\rMSA|AA|SOMEONE-ELSE\r";
      reply({other});
      return;
    }
    if (msg->ControlId() == "SILENT") return;  // never answers: the client times out
    if (hl7v2::IsEnhancedMode(*msg)) {
      reply({hl7v2::BuildAck(*msg, hl7v2::AckCode::kCA, {}, ctx),
             hl7v2::BuildAck(*msg, hl7v2::AckCode::kAA, {}, ctx)});
      return;
    }
    reply({hl7v2::BuildAck(*msg, hl7v2::AckCode::kAA, {}, ctx)});
  }
  void OnOversized(std::string head, size_t, const PeerInfo&, Reply reply) override {
    std::lock_guard lock(mutex);
    oversized.push_back(head);
    reply({"MSH|^~\\&|||||||ACK|X|P|2.5\rMSA|AR|BIG\r"});
  }
  std::mutex mutex;
  std::vector<std::string> received;
  std::vector<std::string> subjects;
  std::vector<std::string> oversized;
};

std::string Message(const std::string& control_id, const std::string& extra = "") {
  return "MSH|^~\\&|SND|FAC|RCV|FAC|20261123||ORU^R01|" + control_id + "|P|2.5.1" + extra +
         "\rOBX|1|NM|72514-3^Pain^LN||7\r";
}

class ServerClientTest : public testing::Test {
 protected:
  void StartServer(ServerOptions options) {
    options.port = 0;
    auto server = Server::Start(io_, options, handler_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    work_.emplace(boost::asio::make_work_guard(io_));
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  static std::filesystem::path Certs() {
    static std::filesystem::path dir = [] {
      auto d = std::filesystem::temp_directory_path() / ("kgw-certs-" + std::to_string(::getpid()));
      std::string cmd = std::string("bash ") + KETAMINE_TEST_DATA_DIR +
                        "/../integration/make_test_certs.sh " + d.string();
      EXPECT_EQ(std::system(cmd.c_str()), 0);
      return d;
    }();
    return dir;
  }

  boost::asio::io_context io_;
  std::shared_ptr<AckingHandler> handler_ = std::make_shared<AckingHandler>();
  std::unique_ptr<Server> server_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

TEST_F(ServerClientTest, SendsAndMatchesTheAck) {
  StartServer({});
  auto client = Client::Connect("127.0.0.1", server_->port());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  for (int i = 0; i < 20; ++i) {
    auto r = (*client)->Send(Message("C" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->code, "AA");
  }
  EXPECT_EQ(handler_->received.size(), 20u);
}

TEST_F(ServerClientTest, AckForAnotherControlIdIsAFailure) {
  StartServer({});
  auto client = Client::Connect("127.0.0.1", server_->port());
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Send(Message("WRONG"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_FALSE((*client)->connected());
}

TEST_F(ServerClientTest, AckTimeoutClosesTheConnection) {
  StartServer({});
  ClientOptions options;
  options.ack_timeout_ms = 200;
  auto client = Client::Connect("127.0.0.1", server_->port(), options);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Send(Message("SILENT"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE((*client)->connected());
}

TEST_F(ServerClientTest, WaitsPastCommitAckWhenAsked) {
  StartServer({});
  ClientOptions options;
  options.wait_for_application_ack = true;
  auto client = Client::Connect("127.0.0.1", server_->port(), options);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Send(Message("E1", "|||AL|AL"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->code, "AA");
  EXPECT_FALSE(r->accept_ack.empty());
  // Without waiting, the CA is the answer and the AA that follows is not mistaken for the next.
  auto plain = Client::Connect("127.0.0.1", server_->port());
  ASSERT_TRUE(plain.ok());
  auto ca = (*plain)->Send(Message("E2", "|||AL|AL"));
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(ca->code, "CA");
}

TEST_F(ServerClientTest, ManyConcurrentConnections) {
  StartServer({});
  constexpr int kClients = 24;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = Client::Connect("127.0.0.1", server_->port());
      if (!client.ok()) return;
      for (int i = 0; i < 25; ++i) {
        auto r = (*client)->Send(Message("K" + std::to_string(c) + "-" + std::to_string(i)));
        if (r.ok() && r->code == "AA") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * 25);
}

TEST_F(ServerClientTest, OversizedFrameGetsTheHandlersAnswerAndTheConnectionGoesOn) {
  ServerOptions options;
  options.max_frame_bytes = 1024;
  StartServer(options);
  auto client = Client::Connect("127.0.0.1", server_->port());
  ASSERT_TRUE(client.ok());
  auto big = (*client)->Send(Message("BIG", "\rNTE|1||" + std::string(5000, 'x')));
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->code, "AR");
  auto small = (*client)->Send(Message("SMALL"));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->code, "AA");
  ASSERT_EQ(handler_->oversized.size(), 1u);
  EXPECT_EQ(handler_->oversized[0].substr(0, 3), "MSH");
}

TEST_F(ServerClientTest, IdleConnectionsAreClosed) {
  ServerOptions options;
  options.idle_timeout_ms = 150;
  StartServer(options);
  auto client = Client::Connect("127.0.0.1", server_->port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Send(Message("FIRST")).ok());
  EXPECT_EQ(server_->open_connections(), 1u);
  for (int i = 0; i < 100 && server_->open_connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->open_connections(), 0u);
  EXPECT_FALSE((*client)->Send(Message("LATE")).ok());
}

TEST_F(ServerClientTest, Tls) {
  auto certs = Certs();
  ServerOptions options;
  options.tls = TlsOptions{(certs / "server.pem").string(), (certs / "server.key").string(), "",
                           false, ""};
  StartServer(options);
  ClientOptions client_options;
  client_options.tls = TlsOptions{"", "", (certs / "ca.pem").string(), true, "localhost"};
  auto client = Client::Connect("127.0.0.1", server_->port(), client_options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = (*client)->Send(Message("T1"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->code, "AA");
  // A client that trusts another CA refuses the server.
  client_options.tls->ca_file = (certs / "other-ca.pem").string();
  EXPECT_FALSE(Client::Connect("127.0.0.1", server_->port(), client_options).ok());
  // And a plain-TCP client gets nothing it could take for an ACK.
  ClientOptions plain;
  plain.ack_timeout_ms = 500;
  auto p = Client::Connect("127.0.0.1", server_->port(), plain);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE((*p)->Send(Message("T2")).ok());
}

TEST_F(ServerClientTest, MutualTls) {
  auto certs = Certs();
  ServerOptions options;
  options.tls = TlsOptions{(certs / "server.pem").string(), (certs / "server.key").string(),
                           (certs / "ca.pem").string(), true, ""};
  StartServer(options);
  ClientOptions with_cert;
  with_cert.tls = TlsOptions{(certs / "client.pem").string(), (certs / "client.key").string(),
                             (certs / "ca.pem").string(), true, "localhost"};
  auto client = Client::Connect("127.0.0.1", server_->port(), with_cert);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = (*client)->Send(Message("M1"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(handler_->subjects.back().find("CN=client"), std::string::npos);

  ClientOptions without_cert;
  without_cert.ack_timeout_ms = 1000;
  without_cert.tls = TlsOptions{"", "", (certs / "ca.pem").string(), true, "localhost"};
  auto anonymous = Client::Connect("127.0.0.1", server_->port(), without_cert);
  if (anonymous.ok()) {  // under TLS 1.3 the refusal comes after the client's handshake
    EXPECT_FALSE((*anonymous)->Send(Message("M2")).ok());
  }

  ClientOptions stranger = with_cert;
  stranger.tls->certificate_file = (certs / "stranger.pem").string();
  stranger.tls->private_key_file = (certs / "stranger.key").string();
  auto s = Client::Connect("127.0.0.1", server_->port(), stranger);
  if (s.ok()) {
    EXPECT_FALSE((*s)->Send(Message("M3")).ok());
  }
  std::lock_guard lock(handler_->mutex);
  EXPECT_EQ(handler_->received.size(), 1u);  // only the client with a good certificate got in
}

TEST(HostPortTest, Parses) {
  EXPECT_EQ(ParseHostPort("127.0.0.1:2575")->second, 2575);
  EXPECT_EQ(ParseHostPort("[::1]:2575")->first, "::1");
  EXPECT_FALSE(ParseHostPort("nohost").ok());
  EXPECT_FALSE(ParseHostPort("h:0").ok());
  EXPECT_FALSE(ParseHostPort("h:99999").ok());
}

}  // namespace
}  // namespace ketamine::mllp
