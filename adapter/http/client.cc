// See the note in server.cc: pplx headers still name boost::asio::io_service.
#undef BOOST_ASIO_NO_DEPRECATED
#include "http/client.h"

#include "http/pool.h"

#include <cpprest/http_client.h>

#include <cctype>
#include <chrono>
#include <deque>

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

struct Client::Impl {
  std::string url;
  web::http::client::http_client client;

  Impl(std::string u, const web::http::client::http_client_config& config) : url(u), client(u, config) {}

  // The request and the reading of its answer as one task; the caller observes it with get().
  pplx::task<ClientResponse> Start(const OutgoingPost& post) {
    web::http::http_request request(web::http::methods::POST);
    std::string content_type = "application/fhir+json";
    for (const auto& [name, value] : post.headers) {
      if (name == "Content-Type") {
        content_type = value;
      } else {
        request.headers().add(name, value);
      }
    }
    request.set_body(post.body, content_type);
    request.headers().set_content_type(content_type);
    const auto start = std::chrono::steady_clock::now();
    return client.request(request).then([start](web::http::http_response response) {
      const int status = response.status_code();
      return response.extract_string(/*ignore_content_type=*/true).then([status, start](std::string body) {
        ClientResponse out;
        out.status = status;
        out.body = std::move(body);
        out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return out;
      });
    });
  }

  Result<ClientResponse> Wait(pplx::task<ClientResponse>& task) {
    try {
      return task.get();
    } catch (const std::exception& e) {
      return Unavailable("POST " + url + ": " + e.what());
    }
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Make(const std::string& url, const ClientOptions& options) {
  StartPool();  // sized for this machine unless a listener or the caller sized it first
  try {
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::milliseconds(options.timeout_ms));
    const ClientTls tls = options.tls;
    if (!tls.ca_file.empty() || !tls.certificate_file.empty()) {
      // Called by cpprestsdk on the context of each new TLS connection; what it throws fails that
      // request (observed in Wait).
      config.set_ssl_context_callback([tls](boost::asio::ssl::context& context) {
        if (!tls.ca_file.empty()) context.load_verify_file(tls.ca_file);
        if (!tls.certificate_file.empty()) {
          context.use_certificate_chain_file(tls.certificate_file);
          context.use_private_key_file(tls.private_key_file, boost::asio::ssl::context::pem);
        }
      });
    }
    return std::unique_ptr<Client>(new Client(std::make_unique<Impl>(url, config)));
  } catch (const std::exception& e) {
    return InvalidInput("URL " + url + ": " + e.what());
  }
}

Result<ClientResponse> Client::Post(const OutgoingPost& post) {
  try {
    auto task = impl_->Start(post);
    return impl_->Wait(task);
  } catch (const std::exception& e) {
    return Unavailable("POST " + impl_->url + ": " + e.what());
  }
}

std::vector<Result<ClientResponse>> Client::PostAll(const std::vector<OutgoingPost>& posts, size_t in_flight,
                                                    const std::function<bool()>& go_on) {
  std::vector<Result<ClientResponse>> out;
  out.reserve(posts.size());
  // A window of requests on the wire: each answer taken (in order) lets the next request go.
  std::deque<std::optional<pplx::task<ClientResponse>>> window;
  size_t next = 0;
  size_t end = posts.size();  // becomes `next` when go_on says stop
  auto start_next = [&] {
    if (go_on && !go_on()) {
      end = next;
      return;
    }
    try {
      window.emplace_back(impl_->Start(posts[next]));
    } catch (const std::exception&) {
      window.emplace_back(std::nullopt);  // could not even start: answered as unavailable below
    }
    ++next;
  };
  while (out.size() < end) {
    while (next < end && window.size() < std::max<size_t>(1, in_flight)) start_next();
    if (window.empty()) break;
    auto task = std::move(window.front());
    window.pop_front();
    if (task) {
      out.push_back(impl_->Wait(*task));
    } else {
      out.push_back(Unavailable("POST " + impl_->url + ": the request could not be started"));
    }
  }
  return out;
}

Result<ClientResponse> Post(const std::string& url, const std::string& body, const Headers& headers, int timeout_ms,
                            const ClientTls& tls) {
  auto client = Client::Make(url, {timeout_ms, tls});
  if (!client.ok()) return Unavailable("POST " + url + ": " + client.status().message());
  return (*client)->Post({body, headers});
}

}  // namespace ketamine::http
