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
                            const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms,
                            const ClientTls& tls) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::milliseconds(timeout_ms));
    if (!tls.ca_file.empty() || !tls.certificate_file.empty()) {
      // Called by cpprestsdk on the context of each new TLS connection; what it throws fails the
      // request (caught below).
      config.set_ssl_context_callback([tls](boost::asio::ssl::context& context) {
        if (!tls.ca_file.empty()) context.load_verify_file(tls.ca_file);
        if (!tls.certificate_file.empty()) {
          context.use_certificate_chain_file(tls.certificate_file);
          context.use_private_key_file(tls.private_key_file, boost::asio::ssl::context::pem);
        }
      });
    }
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
