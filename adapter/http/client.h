// An HTTP client for deliveries (cpprestsdk's http_client behind our own types): one request at
// a time with a timeout; TLS for https URLs (an extra CA, a client certificate for mutual TLS).
// Every failure is a Status, never an exception.
//   auto r = http::Post("http://fhir/R4", body, {{"Content-Type", "application/fhir+json"}}, 5000);
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ketamine::http {

struct ClientResponse {
  int status = 0;
  std::string body;
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

// kUnavailable for connection failures, TLS refusals and timeouts (worth a retry).
Result<ClientResponse> Post(const std::string& url, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms,
                            const ClientTls& tls = {});

}  // namespace ketamine::http
