#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ketamine::http {
namespace {

// One HTTP/1.1 connection over a plain socket: the test writes the bytes a client would send
// (whole or cut off) and reads one answer at a time.
class Connection {
 public:
  explicit Connection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Connection() { Close(); }
  bool connected() const { return connected_; }

  void Send(const std::string& bytes) { ASSERT_TRUE(TrySend(bytes)); }
  // False when the server closed the connection (a client loop that runs into a stop ends there).
  bool TrySend(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // True when the server closed the connection (nothing more to read), within the read timeout.
  bool ClosedByServer() {
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  // The next answer: status line and headers, then Content-Length bytes of body. "" on timeout.
  std::string Answer() {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Read()) return "";
    }
    size_t length = 0;
    if (size_t at = Lower(buffer_.substr(0, end)).find("content-length:"); at != std::string::npos) {
      length = std::stoul(buffer_.substr(at + 15));
    }
    while (buffer_.size() < end + 4 + length) {
      if (!Read()) return "";
    }
    std::string answer = buffer_.substr(0, end + 4 + length);
    buffer_.erase(0, answer.size());
    return answer;
  }

 private:
  static std::string Lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  bool Read() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  std::string buffer_;
};

std::string Post(const std::string& path, const std::string& body, const std::string& type = "application/fhir+json") {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string Body(const std::string& answer) { return answer.substr(answer.find("\r\n\r\n") + 4); }

class ServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, size_t max_body_bytes = 8 << 20,
             std::chrono::milliseconds drain_timeout = std::chrono::seconds(10)) {
    ServerOptions options;
    options.port = 0;
    options.max_body_bytes = max_body_bytes;
    options.drain_timeout = drain_timeout;
    auto server = Server::Start(options, std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    DrainPool();
  }

  // cpprestsdk's last continuations of a request (the observer of its reply) may still wait in the
  // pool's queue when Stop() returns; a process that ended then would leave them allocated (what
  // LeakSanitizer reports). Two rounds of one job per pool thread run after them.
  static void DrainPool() {
    for (int round = 0; round < 2; ++round) {
      auto ran = std::make_shared<std::atomic<int>>(0);
      for (int i = 0; i < 2; ++i) RunLater([ran] { ++*ran; });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (*ran < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
  uint16_t port() const { return server_->port(); }

  // A server whose POST /fhir/Observation answers 201 with `body` after `delay`, from another
  // thread (as a write answers once committed), and anything else 200 "ok" at once. The future is
  // ready once the POST has reached the handler.
  std::future<void> StartWithSlowWrites(std::chrono::milliseconds delay, std::string body) {
    auto handled = std::make_shared<std::promise<void>>();
    Start([handled, delay, body](const Request& r, Responder respond) {
      if (r.path != "/fhir/Observation") return respond({200, "text/plain", {}, "ok"});
      handled->set_value();
      std::thread([respond, delay, body] {
        std::this_thread::sleep_for(delay);
        respond({201, "application/fhir+json", {}, body});
      }).detach();
    });
    return handled->get_future();
  }

  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HandsTheHandlerTheWholeBodyWhateverItsContentType) {
  Start([](const Request& r, Responder respond) {
    respond({201, "application/fhir+json", {{"Location", r.method + " " + r.path}}, r.body});
  });
  const std::string body = R"({"resourceType":"Observation","status":"final"})" + std::string(9000, ' ');
  Connection client(port());
  ASSERT_TRUE(client.connected());
  client.Send(Post("/fhir/Observation", body));
  std::string answer = client.Answer();
  EXPECT_EQ(answer.rfind("HTTP/1.1 201", 0), 0u) << answer;
  EXPECT_NE(answer.find("Location: POST /fhir/Observation"), std::string::npos) << answer;
  EXPECT_EQ(Body(answer), body);
}

TEST_F(ServerTest, DecodesPathQueryAndHeadersOfARequestWithoutABody) {
  Start([](const Request& r, Responder respond) {
    const std::string* code = r.Query("code");
    const std::string* accept = r.Header("accept");
    respond({200, "text/plain", {}, r.method + "|" + r.path + "|" + (code ? *code : "-") + "|" + (accept ? *accept : "-")});
  });
  Connection client(port());
  client.Send("GET /fhir/Observation%20x?code=http%3A%2F%2Floinc.org%7C72514-3 HTTP/1.1\r\nHost: x\r\nAccept: application/fhir+json\r\n\r\n");
  EXPECT_EQ(Body(client.Answer()), "GET|/fhir/Observation x|http://loinc.org|72514-3|application/fhir+json");
}

// Every pair of the query, in the order sent: a repeated name is two pairs (a date range, two
// _revinclude), a name without '=' has an empty value, empty pairs are skipped.
TEST_F(ServerTest, KeepsEveryQueryPairInOrderRepeatedNamesToo) {
  Start([](const Request& r, Responder respond) {
    std::string pairs;
    for (const auto& [name, value] : r.query) pairs += "[" + name + "=" + value + "]";
    respond({200, "text/plain", {}, pairs});
  });
  Connection client(port());
  client.Send("GET /fhir/Observation?date=ge2026-11-01&b&&date=le2026-11-30&a%26b=c%3Dd& HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Body(client.Answer()), "[date=ge2026-11-01][b=][date=le2026-11-30][a&b=c=d]");
  Request form;
  ASSERT_TRUE(DecodeForm("_revinclude=Observation%3Apatient&_revinclude=MedicationRequest:subject&name=a+b", form).ok());
  ASSERT_EQ(form.query.size(), 3u);
  EXPECT_EQ(form.query[1].second, "MedicationRequest:subject");
  EXPECT_EQ(form.query[2].second, "a b");
  EXPECT_FALSE(DecodeUrl("Observation?code=%ZZ", form).ok());
}

TEST_F(ServerTest, AnswersGivenLaterFromAnotherThreadReachTheClientInOrderOnOneConnection) {
  Start([](const Request& r, Responder respond) {
    std::thread([body = r.body, respond] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      respond({201, "application/fhir+json", {}, body});
    }).detach();
  });
  Connection client(port());
  for (int i = 0; i < 3; ++i) {
    client.Send(Post("/fhir/Observation", "{\"n\":" + std::to_string(i) + "}"));
    EXPECT_EQ(Body(client.Answer()), "{\"n\":" + std::to_string(i) + "}");
  }
}

// cpprestsdk writes the headers and the body of an answer with two sends: with Nagle's algorithm on
// the second waits for the client's delayed ACK (up to 40 ms an answer on Linux). Ten answers take
// a few milliseconds with TCP_NODELAY and at least 400 without it.
TEST_F(ServerTest, SmallAnswersAreNotHeldBackByNagle) {
  Start([](const Request&, Responder respond) { respond({201, "application/fhir+json", {}, "{}"}); });
  Connection client(port());
  client.Send(Post("/fhir/Observation", "{}"));  // the first exchange leaves TCP's quick-ACK start
  client.Answer();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    client.Send(Post("/fhir/Observation", "{}"));
    ASSERT_EQ(Body(client.Answer()), "{}");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(ServerTest, AThrowingHandlerGives500WithAnOperationOutcome) {
  Start([](const Request& r, Responder) {
    if (r.path == "/std") throw std::runtime_error("broken");
    throw 42;  // not a std::exception
  });
  for (const char* path : {"/std", "/other"}) {
    Connection client(port());
    client.Send(Post(path, "{}"));
    std::string answer = client.Answer();
    EXPECT_EQ(answer.rfind("HTTP/1.1 500", 0), 0u) << path << ": " << answer;
    EXPECT_NE(Body(answer).find("\"resourceType\":\"OperationOutcome\""), std::string::npos) << answer;
  }
}

TEST_F(ServerTest, TraceIsRefusedNotEchoed) {
  std::atomic<int> handled{0};
  Start([&](const Request&, Responder respond) {
    ++handled;
    respond({200, "text/plain", {}, "handled"});
  });
  Connection client(port());
  client.Send("TRACE /fhir HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n");
  std::string answer = client.Answer();
  EXPECT_EQ(answer.rfind("HTTP/1.1 405", 0), 0u) << answer;
  EXPECT_EQ(answer.find("secret"), std::string::npos) << answer;
  EXPECT_EQ(handled, 0);
}

TEST_F(ServerTest, ABodyOverTheLimitIsRefusedWith413AsSoonAsItPassesIt) {
  std::atomic<int> handled{0};
  Start([&](const Request& r, Responder respond) {
    ++handled;
    respond({r.body == "{\"a\":12}" ? 201 : 400, "application/fhir+json", {}, "{}"});
  }, 1000);
  // Content-Length says so: answered at once, before any of the body is sent, and closed (the
  // server does not read on into memory).
  Connection declared(port());
  declared.Send("POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n");
  EXPECT_EQ(declared.Answer().rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_TRUE(declared.ClosedByServer());
  // No length beforehand (chunked): refused as soon as more than the limit has come, while the
  // client is still sending, and closed.
  Connection chunked(port());
  chunked.Send("POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
               std::string(2000, 'x') + "\r\n");
  EXPECT_EQ(chunked.Answer().rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_TRUE(chunked.ClosedByServer());
  // A chunked body within the limit reaches the handler whole.
  Connection small(port());
  small.Send("POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\n{\"a\":\r\n3\r\n12}\r\n0\r\n\r\n");
  EXPECT_EQ(small.Answer().rfind("HTTP/1.1 201", 0), 0u);
  EXPECT_EQ(handled, 1);
}

TEST_F(ServerTest, AClientThatLeavesInTheMiddleOfItsBodyIsNeverHandledAndHarmsNothing) {
  std::atomic<int> handled{0};
  Start([&](const Request& r, Responder respond) {
    ++handled;
    respond({201, "application/fhir+json", {}, r.body});
  });
  for (int i = 0; i < 20; ++i) {
    Connection leaving(port());
    leaving.Send(i % 2 == 0 ? "POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":"
                            : "POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"resourceType\":");
    leaving.Close();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Connection next(port());
  next.Send(Post("/fhir/Observation", "{\"ok\":true}"));
  EXPECT_EQ(Body(next.Answer()), "{\"ok\":true}");
  EXPECT_EQ(handled, 1);
}

// cpprestsdk's close waits on a pool thread for every open connection to end; an idle keep-alive
// connection must not keep it waiting (it did with a one-thread pool, see pool.h).
TEST_F(ServerTest, StopsWithAnIdleKeepAliveConnectionOpen) {
  Start([](const Request&, Responder respond) { respond({200, "text/plain", {}, "ok"}); });
  Connection idle(port());
  idle.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(Body(idle.Answer()), "ok");
  auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "Stop() hangs";
  EXPECT_TRUE(idle.ClosedByServer());
  server_.reset();
}

// A write answers once the store has committed it: Stop() must let that answer out before
// cpprestsdk's close cuts the connection (the client would not know whether its write was stored),
// and refuse what arrives meanwhile with a 503.
TEST_F(ServerTest, StopAnswersTheRequestsInFlightAndRefusesLaterOnesWith503) {
  std::future<void> handled = StartWithSlowWrites(std::chrono::milliseconds(400), R"({"resourceType":"Observation"})");
  Connection later(port());  // open before Stop(), its request sent while stopping
  later.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(Body(later.Answer()), "ok");
  Connection writer(port());
  writer.Send(Post("/fhir/Observation", "{}"));
  handled.wait();
  const auto started = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "Stop() did not wait";
  later.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string refused = later.Answer();
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(Body(refused).find("\"transient\""), std::string::npos) << refused;
  EXPECT_TRUE(later.ClosedByServer());
  const std::string answer = writer.Answer();
  EXPECT_EQ(answer.rfind("HTTP/1.1 201", 0), 0u) << answer;
  EXPECT_EQ(Body(answer), R"({"resourceType":"Observation"})");
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "Stop() hangs";
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  EXPECT_TRUE(writer.ClosedByServer());
  server_.reset();
}

// Clients that keep sending while the server stops (eight connections, a request as soon as the
// last answer came) get 503s and do not hold the stop back until the drain timeout: it waits only
// for what came before it began.
TEST_F(ServerTest, RequestsArrivingWhileStoppingDoNotHoldTheStopBack) {
  std::future<void> handled = StartWithSlowWrites(std::chrono::milliseconds(200), "{}");
  std::atomic<bool> stopped{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([this, &stopped, &refused] {
      Connection client(port());
      const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
      while (!stopped) {
        if (!client.TrySend(request)) return;
        const std::string answer = client.Answer();
        if (answer.empty()) return;
        if (answer.rfind("HTTP/1.1 503", 0) == 0) ++refused;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Connection writer(port());
  writer.Send(Post("/fhir/Observation", "{}"));
  handled.wait();
  const auto started = std::chrono::steady_clock::now();
  server_->Stop();
  const auto took = std::chrono::steady_clock::now() - started;
  stopped = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(writer.Answer().rfind("HTTP/1.1 201", 0), 0u);
  EXPECT_GT(refused.load(), 0) << "requests arrived while stopping";
  EXPECT_LT(took, std::chrono::seconds(3)) << "the stop waited for requests that came after it began";
  server_.reset();
}

// A handler that never answers holds Stop() back only until the drain timeout; an answer given
// after the listener closed goes nowhere and harms nothing.
TEST_F(ServerTest, StopGivesUpOnAnAnswerThatNeverComesAfterTheDrainTimeout) {
  auto kept = std::make_shared<std::promise<Responder>>();
  Start([kept](const Request&, Responder respond) { kept->set_value(std::move(respond)); }, 8 << 20,
        std::chrono::milliseconds(300));
  Connection client(port());
  client.Send(Post("/fhir/Observation", "{}"));
  Responder late = kept->get_future().get();
  const auto started = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "Stop() hangs";
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_TRUE(client.ClosedByServer());
  late({201, "application/fhir+json", {}, "{}"});
  server_.reset();
}

}  // namespace
}  // namespace ketamine::http
