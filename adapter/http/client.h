// An HTTP client for deliveries (cpprestsdk's http_client behind our own types): one request at
// a time with a timeout; TLS for https URLs. Every failure is a Status, never an exception.
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

// kUnavailable for connection failures and timeouts (worth a retry).
Result<ClientResponse> Post(const std::string& url, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms);

}  // namespace ketamine::http
