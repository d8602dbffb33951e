// TLS settings shared by the MLLP server and client (OpenSSL through Boost.Asio's ssl::context).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "common/status.h"

namespace ketamine::mllp {

struct TlsOptions {
  std::string certificate_file;  // PEM; the server's own, or the client's for mutual TLS
  std::string private_key_file;  // PEM
  std::string ca_file;           // PEM bundle that peers' certificates must chain to
  // Server: ask for and check a client certificate (mutual TLS).
  // Client: check the server's certificate against ca_file (on unless turned off for a test).
  bool verify_peer = true;
  std::string server_name;  // client: the name the server certificate must carry (SNI too)
};

// Builds a context for TLS 1.2 or later. A missing or unreadable file is kInvalidInput naming it.
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(
    const TlsOptions& options);
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(
    const TlsOptions& options);

}  // namespace ketamine::mllp
