#include "mllp/tls.h"

#include <filesystem>

namespace ketamine::mllp {
namespace {

namespace ssl = boost::asio::ssl;

Status CheckReadable(const std::string& file, std::string_view what) {
  if (file.empty()) return Status::Ok();
  if (!std::filesystem::is_regular_file(file)) {
    return InvalidInput(std::string(what) + " file not found: " + file);
  }
  return Status::Ok();
}

Status LoadFiles(ssl::context& ctx, const TlsOptions& options) {
  KETAMINE_RETURN_IF_ERROR(CheckReadable(options.certificate_file, "certificate"));
  KETAMINE_RETURN_IF_ERROR(CheckReadable(options.private_key_file, "private key"));
  KETAMINE_RETURN_IF_ERROR(CheckReadable(options.ca_file, "CA"));
  boost::system::error_code ec;
  if (!options.certificate_file.empty()) {
    ctx.use_certificate_chain_file(options.certificate_file, ec);
    if (ec) return InvalidInput("cannot load certificate " + options.certificate_file + ": " + ec.message());
  }
  if (!options.private_key_file.empty()) {
    ctx.use_private_key_file(options.private_key_file, ssl::context::pem, ec);
    if (ec) return InvalidInput("cannot load private key " + options.private_key_file + ": " + ec.message());
  }
  if (!options.ca_file.empty()) {
    ctx.load_verify_file(options.ca_file, ec);
    if (ec) return InvalidInput("cannot load CA file " + options.ca_file + ": " + ec.message());
  }
  return Status::Ok();
}

std::shared_ptr<ssl::context> NewContext(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  return ctx;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerContext(const TlsOptions& options) {
  if (options.certificate_file.empty() || options.private_key_file.empty()) {
    return InvalidInput("a TLS listener needs a certificate and a private key");
  }
  if (options.verify_peer && options.ca_file.empty()) {
    return InvalidInput("mutual TLS needs a CA file to check client certificates against");
  }
  auto ctx = NewContext(ssl::context::tls_server);
  KETAMINE_RETURN_IF_ERROR(LoadFiles(*ctx, options));
  ctx->set_verify_mode(options.verify_peer
                           ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                           : ssl::verify_none);
  return ctx;
}

Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsOptions& options) {
  auto ctx = NewContext(ssl::context::tls_client);
  KETAMINE_RETURN_IF_ERROR(LoadFiles(*ctx, options));
  if (options.verify_peer) {
    if (options.ca_file.empty()) ctx->set_default_verify_paths();
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace ketamine::mllp
