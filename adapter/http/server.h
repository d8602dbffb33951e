// The HTTP listener: cpprestsdk's http_listener behind our own request/response types, so that no
// other folder includes cpprestsdk. It handles cpprestsdk's traps in one place: no task is left with
// an exception nobody observes (that ends the process), bodies are read whatever the Content-Type
// (extract_string refuses application/fhir+json otherwise), a throwing handler gives a 500 with an
// OperationOutcome, TRACE is refused (405), a body over the limit gets 413 and its connection is
// closed without reading on (at once when Content-Length says so, as soon as it passes the limit
// when it is chunked; cpprestsdk would otherwise read all of it into memory first), and the
// handler runs on the thread that read the body's last byte rather than one more hand-off through
// the pool. cpprestsdk sets TCP_NODELAY on accepted sockets itself (without it Linux holds small
// responses back up to 40 ms). Stop() answers the requests in flight before cpprestsdk's close,
// which would otherwise cut their connections.
//   auto server = http::Server::Start({"127.0.0.1", 0}, [](const http::Request& r, http::Responder respond) {
//     respond({200, "text/plain", {}, "ok"});
//   });
//   std::printf("listening http %s:%u\n", host, (*server)->port());
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ketamine::http {

struct Request {
  std::string method;                                       // "GET"
  std::string path;                                         // decoded, without the query: "/fhir/Patient/1"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string> headers;              // names in lower case
  std::string body;
  // false for the gateway's own writes through the facade (the sandbox's copy of a routed message,
  // the seeded examples): stored, never routed again. Requests from the network are always routed.
  bool routed = true;
  const std::string* Header(const std::string& lower_case_name) const;
  const std::string* Query(const std::string& name) const;  // the first value
};

// Decodes a relative URL's path and query ("Observation?code=a%7Cb") into `request`, as the listener
// decodes what it receives (a transaction's GET entries come this way); kInvalidInput when its
// percent-encoding does not decode ("%ZZ").
Status DecodeUrl(std::string_view url, Request& request);
// Decodes an application/x-www-form-urlencoded body ("code=a%7Cb&name=van+dijk": "+" is a space)
// into `request.query`, replacing what was there; kInvalidInput when it does not decode.
Status DecodeForm(std::string_view body, Request& request);

struct Response {
  int status = 200;
  std::string content_type = "application/fhir+json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The handler answers through `respond`, at once or later from another thread (a write answers
// when the store has committed it, without holding a server thread meanwhile). Exactly once.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(const Request&, Responder respond)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                  // 0: a free port (see port())
  size_t max_body_bytes = 8 << 20;       // larger requests get 413
  size_t threads = 0;                    // cpprestsdk pool threads, 0: DefaultPoolThreads() (see pool.h)
  std::chrono::milliseconds drain_timeout{10000};  // how long Stop() waits for unanswered requests
  std::chrono::milliseconds close_timeout{5000};   // then for cpprestsdk's close (see CloseStuck)
  std::string certificate;               // PEM files: HTTPS when both are given
  std::string private_key;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  // Stops: requests received before are answered (for up to drain_timeout), later ones get 503
  // with Retry-After, then the listener closes its connections (for up to close_timeout).
  virtual void Stop() = 0;
};

// Runs `work` on the HTTP thread pool: for answers that arrive on another component's thread (the
// store's writer calls back once per committed request; building and sending the answer there
// would hold up the next commit).
void RunLater(std::function<void()> work);

// True once a listener's close did not end within its close_timeout (a race inside cpprestsdk, see
// Stop in server.cc). cpprestsdk's own static objects would wait for that close again when the
// process ends, so the program ends with _Exit once everything of its own is closed and flushed.
bool CloseStuck();

// 500 body used when a handler throws.
Response InternalErrorResponse();

}  // namespace ketamine::http
