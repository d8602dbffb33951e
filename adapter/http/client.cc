// See the note in server.cc: pplx headers still name boost::asio::io_service.
#undef BOOST_ASIO_NO_DEPRECATED
#include "http/client.h"

#include <cpprest/http_client.h>

#include <cctype>

namespace ketamine::http {

std::string PercentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<ClientResponse> Post(const std::string& url, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::milliseconds(timeout_ms));
    web::http::client::http_client client(url, config);
    web::http::http_request request(web::http::methods::POST);
    std::string content_type = "application/fhir+json";
    for (const auto& [name, value] : headers) {
      if (name == "Content-Type") {
        content_type = value;
      } else {
        request.headers().add(name, value);
      }
    }
    request.set_body(body, content_type);
    request.headers().set_content_type(content_type);
    web::http::http_response response = client.request(request).get();
    ClientResponse out;
    out.status = response.status_code();
    out.body = response.extract_string(/*ignore_content_type=*/true).get();
    return out;
  } catch (const std::exception& e) {
    return Unavailable(std::string("POST ") + url + ": " + e.what());
  }
}

}  // namespace ketamine::http
