// pplx/threadpool.h still names boost::asio::io_service, which BOOST_ASIO_NO_DEPRECATED hides.
#undef BOOST_ASIO_NO_DEPRECATED
#include "http/server.h"

#include "http/pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "common/log.h"
#include "fhir/operation_outcome.h"

namespace ketamine::http {
namespace {

std::atomic<bool> close_stuck{false};

// The methods the gateway answers (DELETE is refused: resources are never deleted).
constexpr char kAllowed[] = "GET, HEAD, POST, PUT, PATCH, OPTIONS";

using web::http::http_request;
using web::http::http_response;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// An OperationOutcome of one error issue (`code`, an issue type) for what the listener answers
// itself, in the form of every other outcome the gateway gives (fhir/operation_outcome.h).
std::string OutcomeBody(const char* code, const std::string& text) {
  Issues issues;
  issues.Error(code, Location(), text);
  return fhir::OperationOutcomeJson(issues);
}

http_response ToCpprest(const Response& r) {
  http_response out(static_cast<web::http::status_code>(r.status));
  for (const auto& [name, value] : r.headers) out.headers().add(name, value);
  if (!r.body.empty() || (r.status != 204 && r.status != 304)) {  // neither has a body
    out.set_body(r.body, r.content_type.empty() ? "application/fhir+json" : r.content_type);
    // set_body appends "; charset=utf-8" for text types; keep the type we name.
    out.headers().set_content_type(r.content_type.empty() ? "application/fhir+json" : r.content_type);
  }
  return out;
}

// Decoded, a URL's query (into r.query, every pair in the order given) and, unless null, its path;
// kInvalidInput when the percent-encoding does not decode ("%ZZ", a lone "%": the client's error).
// The pairs are split here: cpprestsdk's split_query answers a map, which keeps one of a repeated
// name (date=ge2026-11-01&date=le2026-11-30 would lose a bound, two _revinclude one of them).
Status DecodeParts(const std::string* path, const std::string& query, Request& r) {
  try {
    if (path != nullptr) r.path = web::uri::decode(*path);
    r.query.clear();
    for (size_t at = 0; at < query.size();) {
      const size_t end = std::min(query.find('&', at), query.size());
      const std::string_view pair = std::string_view(query).substr(at, end - at);
      at = end + 1;
      if (pair.empty()) continue;
      const size_t equals = pair.find('=');
      const std::string name(pair.substr(0, equals));
      const std::string value(equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1));
      r.query.emplace_back(web::uri::decode(name), web::uri::decode(value));
    }
  } catch (const web::uri_exception&) {
    return InvalidInput("the URL has a malformed percent-encoding (%XX)");
  }
  return Status::Ok();
}

// Runs `then` on the thread that completes `task`, or at once when it is done already. The public
// then() always hands a continuation to the pool, a thread hop per call; _Then is the form
// cpprestsdk uses for its own continuations. `then` must not throw: nothing observes its task.
template <typename T, typename Then>
void WhenDone(const pplx::task<T>& task, Then then) {
  task._Then(std::move(then), nullptr);
}

// A free TCP port on `host`: cpprestsdk cannot tell which port it bound for port 0.
Result<uint16_t> FreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Unavailable("socket: cannot create");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
  }
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return Unavailable("cannot find a free port on " + host);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Serves the listener's requests. Its continuations hold it (not the server), so one that runs
// after Stop() has returned (a body that completed as the listener closed) finds it still there.
// It counts the requests it has received and not yet answered, so that Stop() can let them finish:
// cpprestsdk's close shuts every connection at once, also one whose answer is still to come (a
// write waiting for its commit), and the client would not learn whether its write was stored.
class Dispatcher : public std::enable_shared_from_this<Dispatcher> {
 public:
  Dispatcher(Handler handler, size_t max_body_bytes)
      : handler_(std::move(handler)), max_body_bytes_(max_body_bytes) {}

  void Serve(http_request request) {
    // What arrives once the stop has begun is refused (503) and not counted: the stop waits only for
    // what came before it, however busy the clients keep it.
    const bool counted = !draining_.load();
    if (counted) open_.fetch_add(1);
    try {
      const std::string method = request.method();
      if (method == web::http::methods::TRCE) {  // never echo a request back
        Answer(request, {405, "application/fhir+json", {{"Allow", kAllowed}},
                        OutcomeBody("not-supported", "TRACE is not supported")}, counted);
        return;
      }
      if (method == web::http::methods::OPTIONS) {  // cpprestsdk's own answer would say "Allow: TRACE"
        Answer(request, {204, "", {{"Allow", kAllowed}}, ""}, counted);
        return;
      }
      const auto& headers = request.headers();
      if (headers.has(web::http::header_names::content_length)) {
        if (headers.content_length() > max_body_bytes_) return RefuseTooLarge(request, counted);
      } else if (std::string coding; headers.match(web::http::header_names::transfer_encoding, coding) &&
                                     Lower(coding).find("chunked") != std::string::npos) {
        return ReadAsItComes(request, std::make_shared<std::string>(), counted);
      }
      // The body is complete when the request's data-available event fires: on the thread that
      // read its last byte, or already (a request without a body) so that this runs here.
      WhenDone(pplx::create_task(request._get_impl()->_get_data_available()),
               [self = shared_from_this(), request, counted](const pplx::task<utility::size64_t>& received) noexcept {
        try {
          received.get();
        } catch (const std::exception& e) {
          return self->NotReceived(request, e, counted);
        }
        self->Dispatch(request, counted, [&request] {
          return request._get_impl()->extract_string(/*ignore_content_type=*/true);
        });
      });
    } catch (const std::exception& e) {
      log::Error("http-request-failed", {{"error", e.what()}});
      Answer(request, InternalErrorResponse(), counted);
    }
  }

  // From now on a request is answered 503 instead of being handled. Returns once every request
  // received before has been answered, or at `deadline` (false then). The 503 keeps its connection
  // open: a connection that closes itself while the listener's close closes it too is the race in
  // cpprestsdk that Stop() guards against (with Connection: close on the 503s, one stop in five
  // under AddressSanitizer hung; none in fourteen without).
  bool Drain(std::chrono::steady_clock::time_point deadline) {
    draining_.store(true);
    std::unique_lock<std::mutex> lock(mutex_);
    return idle_.wait_until(lock, deadline, [this] { return open_.load() == 0; });
  }
  size_t open() const { return open_.load(); }

 private:
  // cpprestsdk writes an answer only once the request's body is complete, and would read the whole
  // body into memory first: ending the body here sends the 413 at once, and the connection closes
  // after it (Connection: close) instead of reading on.
  void RefuseTooLarge(const http_request& request, bool counted) {
    Answer(request, {413, "application/fhir+json", {{"Connection", "close"}},
                    OutcomeBody("too-costly", "the request body is larger than " +
                                                  std::to_string(max_body_bytes_) + " bytes")},
           counted);
    request._get_impl()->_complete(0, std::make_exception_ptr(std::length_error("request body over the limit")));
  }

  void NotReceived(const http_request& request, const std::exception& e, bool counted) {
    // The client went away or its body could not be read.
    log::Warn("http-body-not-received", {{"error", e.what()}});
    Answer(request, {400, "application/fhir+json", {{"Connection", "close"}},
                    OutcomeBody("invalid", "the request body was not received")},
           counted);
  }

  // A body of no announced length (chunked) is read as it arrives and refused as soon as it passes
  // the limit. A read completes when it has all it asked for or the body has ended, so each asks
  // for 64 KB, or for one byte more than the limit leaves. The reads go through the pool:
  // cpprestsdk completes them under its buffer's lock, where the next read could not be asked for.
  void ReadAsItComes(const http_request& request, std::shared_ptr<std::string> body, bool counted) {
    const size_t at = body->size();
    const size_t ask = std::min<size_t>(64 << 10, max_body_bytes_ + 1 - at);
    body->resize(at + ask);
    request.body().streambuf().getn(reinterpret_cast<uint8_t*>(body->data() + at), ask)
        .then([self = shared_from_this(), request, body, at, counted](const pplx::task<size_t>& read) noexcept {
          size_t n = 0;
          try {
            n = read.get();
          } catch (const std::exception& e) {
            return self->NotReceived(request, e, counted);
          }
          body->resize(at + n);
          if (body->size() > self->max_body_bytes_) return self->RefuseTooLarge(request, counted);
          if (n > 0) return self->ReadAsItComes(request, body, counted);
          self->Dispatch(request, counted, [body] { return std::move(*body); });
        });
  }

  // Hands the request to the handler; `take_body` gives its body (within the limit: both callers
  // checked its size, from Content-Length or as it came). `counted`: see Serve.
  template <typename TakeBody>
  void Dispatch(const http_request& request, bool counted, TakeBody take_body) noexcept {
    try {
      if (draining_.load()) return Answer(request, ShuttingDown(), counted);
      Request r;
      r.method = request.method();
      // HEAD is a GET whose answer goes without its body (one sent anyway would be read as the next
      // answer on the connection).
      const bool head = r.method == web::http::methods::HEAD;
      if (head) r.method = web::http::methods::GET;
      const web::uri& uri = request.relative_uri();
      const std::string path = uri.path();
      if (Status decoded = DecodeParts(&path, uri.query(), r); !decoded.ok()) {
        return Answer(request, {400, "application/fhir+json", {},
                                OutcomeBody("invalid", decoded.message() + ": " + uri.to_string())}, counted);
      }
      for (const auto& [name, value] : request.headers()) r.headers[Lower(name)] = value;
      r.body = take_body();
      handler_(r, [self = shared_from_this(), request, counted, head](Response response) {
        if (head) response.body.clear();
        self->Answer(request, response, counted);
      });
    } catch (const std::exception& e) {
      log::Error("http-handler-failed", {{"error", e.what()}});
      Answer(request, InternalErrorResponse(), counted);
    } catch (...) {
      log::Error("http-handler-failed", {{"error", "unknown exception"}});
      Answer(request, InternalErrorResponse(), counted);
    }
  }

  static Response ShuttingDown() {
    return {503, "application/fhir+json", {{"Retry-After", "1"}},
            OutcomeBody("transient", "the server is shutting down; send the request again")};
  }

  // Sends the answer; a counted request stays open until the answer is written or its connection is
  // gone (the task reply() returns ends then). cpprestsdk observes that task itself (http_msg.cpp),
  // so a client that went away ends nothing; this continuation runs on the thread that wrote the
  // answer. A second answer to one request (reply() throws http_exception) is dropped and not
  // counted twice; an answer that could not be made at all leaves its request unanswered, and it
  // no longer holds the stop back.
  void Answer(const http_request& request, const Response& response, bool counted) noexcept {
    pplx::task<void> written;
    try {
      written = request.reply(ToCpprest(response));
    } catch (const web::http::http_exception&) {
      return;
    } catch (const std::exception& e) {
      log::Error("http-answer-failed", {{"error", e.what()}});
      if (counted) Finished();
      return;
    }
    if (!counted) return;
    WhenDone(written, [self = shared_from_this()](const pplx::task<void>& done) noexcept {
      try {
        done.wait();
      } catch (const std::exception&) {
      }
      self->Finished();
    });
  }

  void Finished() noexcept {
    if (open_.fetch_sub(1) == 1 && draining_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.notify_all();
    }
  }

  Handler handler_;
  size_t max_body_bytes_;
  std::atomic<size_t> open_{0};  // received, not yet answered
  std::atomic<bool> draining_{false};
  std::mutex mutex_;
  std::condition_variable idle_;
};

class CpprestServer : public Server {
 public:
  CpprestServer(const ServerOptions& options, Handler handler, uint16_t port)
      : options_(options),
        dispatcher_(std::make_shared<Dispatcher>(std::move(handler), options.max_body_bytes)),
        port_(port) {}

  Status Open() {
    const bool tls = !options_.certificate.empty() && !options_.private_key.empty();
    std::string uri = std::string(tls ? "https://" : "http://") + options_.host + ":" + std::to_string(port_) + "/";
    http_listener_config config;
    config.set_timeout(utility::seconds(30));
    if (tls) {
      std::string certificate = options_.certificate, key = options_.private_key;
      config.set_ssl_context_callback([certificate, key](boost::asio::ssl::context& context) {
        context.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                            boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                            boost::asio::ssl::context::no_tlsv1_1);
        context.use_certificate_chain_file(certificate);
        context.use_private_key_file(key, boost::asio::ssl::context::pem);
      });
    }
    try {
      listener_ = std::make_unique<http_listener>(uri, config);
      listener_->support([dispatcher = dispatcher_](http_request request) { dispatcher->Serve(std::move(request)); });
      // cpprestsdk answers TRACE itself, echoing the request (headers included), unless told otherwise.
      for (const auto& method : {web::http::methods::TRCE, web::http::methods::OPTIONS}) {
        listener_->support(method, [dispatcher = dispatcher_](http_request request) { dispatcher->Serve(std::move(request)); });
      }
      listener_->open().wait();
    } catch (const std::exception& e) {
      return Unavailable("cannot listen on " + uri + ": " + e.what());
    }
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (!listener_) return;
    const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
    if (!dispatcher_->Drain(deadline)) {
      log::Warn("http-drain-timed-out", {{"unanswered", std::to_string(dispatcher_->open())}});
    }
    // cpprestsdk's close waits for every connection to end. Closing a socket while one of that
    // connection's handlers starts an operation on it on another pool thread is a race inside
    // cpprestsdk, and that connection may then never end (seen under AddressSanitizer with clients
    // reconnecting through the stop). So the wait is bounded; a listener whose close did not end is
    // left as it is (its destructor would wait again) and CloseStuck() tells the program.
    auto closed = std::make_shared<std::promise<void>>();
    std::future<void> done = closed->get_future();
    try {
      WhenDone(listener_->close(), [closed](const pplx::task<void>& close) noexcept {
        try {
          close.wait();
        } catch (const std::exception&) {
        }
        closed->set_value();
      });
    } catch (const std::exception& e) {
      log::Warn("http-close-failed", {{"error", e.what()}});
      listener_.reset();
      return;
    }
    if (done.wait_for(options_.close_timeout) != std::future_status::ready) {
      log::Error("http-close-stuck", {{"waited_ms", std::to_string(options_.close_timeout.count())}});
      close_stuck.store(true);
      (void)listener_.release();
      return;
    }
    listener_.reset();
  }

  ~CpprestServer() override { Stop(); }

 private:
  ServerOptions options_;
  std::shared_ptr<Dispatcher> dispatcher_;
  uint16_t port_;
  std::unique_ptr<http_listener> listener_;
};

}  // namespace

Status DecodeUrl(std::string_view url, Request& request) {
  const size_t mark = url.find('?');
  const std::string path(url.substr(0, mark));
  return DecodeParts(&path, mark == std::string_view::npos ? std::string() : std::string(url.substr(mark + 1)),
                     request);
}

Status DecodeForm(std::string_view body, Request& request) {
  std::string query;  // "+" as "%20", which the URL decoder reads as a space
  for (char c : body) {
    if (c == '+') {
      query.append("%20");
    } else {
      query.push_back(c);
    }
  }
  return DecodeParts(nullptr, query, request);
}

const std::string* Request::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

const std::string* Request::Query(const std::string& name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

// Straight onto cpprestsdk's pool (one post, no task object and no continuation to observe it):
// every REST write is answered through here from the store's writer.
void RunLater(std::function<void()> work) {
  // The store's writer may answer before any listener or client has sized the pool (the sandbox's
  // seeded examples are written while the listeners start): cpprestsdk would start 40 threads.
  StartPool();
  auto job = std::make_unique<std::function<void()>>(std::move(work));
  pplx::get_ambient_scheduler()->schedule(
      [](void* p) {
        std::unique_ptr<std::function<void()>> owned(static_cast<std::function<void()>*>(p));
        try {
          (*owned)();
        } catch (const std::exception& e) {
          log::Error("http-deferred-failed", {{"error", e.what()}});
        } catch (...) {
          log::Error("http-deferred-failed", {{"error", "unknown exception"}});
        }
      },
      job.get());
  job.release();  // the pool owns it now
}

bool CloseStuck() { return close_stuck.load(); }

Response InternalErrorResponse() {
  return {500, "application/fhir+json", {}, OutcomeBody("exception", "internal error; the request was not completed")};
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler) {
  // Handlers run on cpprestsdk's shared pool and never block it (a write answers from the store's
  // commit callback), so a pool the size of the machine serves best; see pool.h.
  StartPool(options.threads);
  Status last = Status::Ok();
  for (int attempt = 0; attempt < (options.port == 0 ? 5 : 1); ++attempt) {
    uint16_t port = options.port;
    if (port == 0) {
      KETAMINE_ASSIGN_OR_RETURN(port, FreePort(options.host));
    }
    auto server = std::make_unique<CpprestServer>(options, handler, port);
    last = server->Open();
    if (last.ok()) return std::unique_ptr<Server>(std::move(server));
  }
  return last;
}

}  // namespace ketamine::http
