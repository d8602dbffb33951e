// An HTTP client for deliveries (cpprestsdk's http_client behind our own types): a Client keeps
// its connections to one URL open between requests (keep-alive, a pool that grows to the number of
// requests in flight), with a timeout per request and TLS for https URLs (an extra CA, a client
// certificate for mutual TLS). Every failure is a Status, never an exception.
//   auto client = http::Client::Make("http://fhir/R4", {.timeout_ms = 5000});
//   auto answers = (*client)->PostAll({{body1, headers}, {body2, headers}}, /*in_flight=*/8);
//   auto r = http::Post("http://auth/token", form, {{"Content-Type", "application/x-www-form-urlencoded"}}, 5000);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ketamine::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ClientResponse {
  int status = 0;
  std::string body;
  double seconds = 0;  // from sending the request to the whole answer read
};

// RFC 3986 percent-encoding of everything but the unreserved characters: query values in links
// we hand out, application/x-www-form-urlencoded token requests.
std::string PercentEncode(std::string_view text);

// TLS towards a peer: the CA to trust beside the system's (PEM), and for mutual TLS the client
// certificate (PEM chain) and its private key.
struct ClientTls {
  std::string ca_file;
  std::string certificate_file;
  std::string private_key_file;
};

struct ClientOptions {
  int timeout_ms = 10000;  // one request, connection included
  ClientTls tls;
};

struct OutgoingPost {
  std::string body;
  Headers headers;  // "Content-Type" among them sets the body's type (default application/fhir+json)
};

class Client {
 public:
  // kInvalidInput for a URL cpprestsdk cannot take.
  static Result<std::unique_ptr<Client>> Make(const std::string& url, const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // kUnavailable for connection failures, TLS refusals and timeouts (worth a retry).
  Result<ClientResponse> Post(const OutgoingPost& post);
  // Several POSTs with up to `in_flight` of them on the wire at once; the answers in the order of
  // `posts`. Blocks the calling thread (never call it from a cpprestsdk continuation). `go_on`,
  // when given, is asked before each request starts: once it says false no more start, the ones
  // on the wire are awaited, and the answers cover only the posts that went (a prefix of `posts`).
  std::vector<Result<ClientResponse>> PostAll(const std::vector<OutgoingPost>& posts, size_t in_flight,
                                              const std::function<bool()>& go_on = {});

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One POST on a connection of its own (token requests and other rare calls).
Result<ClientResponse> Post(const std::string& url, const std::string& body, const Headers& headers, int timeout_ms,
                            const ClientTls& tls = {});

}  // namespace ketamine::http
