// The gateway's JSON configuration (serve --config FILE). With no file, the sandbox defaults:
// data under ./data, MLLP on 127.0.0.1:2575, HTTP on 127.0.0.1:8080. An unknown key or a value of
// the wrong type is refused at start-up with a message naming its path ("mllp.tls.ca").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/operators.h"
#include "inbox/inbox.h"
#include "mllp/server.h"
#include "pipeline/inbound.h"
#include "ledger/ledger.h"
#include "routing/router.h"
#include "store/postgres_store.h"
#include "store/sqlite.h"

namespace ketamine::cli {

struct GatewayConfig {
  std::filesystem::path data_dir = "data";
  int threads = 2;  // I/O threads for the listeners
  mllp::ServerOptions mllp;
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080;
  size_t http_max_body_bytes = 8 << 20;
  int http_drain_seconds = 10;     // how long a stop waits for REST requests in flight
  std::string http_base_url;       // as clients reach the gateway; default http(s)://host:port/fhir
  std::string http_certificate;    // PEM: HTTPS when both are set
  std::string http_private_key;
  // Operators' tokens for /admin and /ledger (http.operator_tokens_file); none: those endpoints are
  // open to whoever reaches the listener (keep it on localhost).
  std::shared_ptr<const http::OperatorTokens> operators;
  pipeline::InboundOptions inbound;
  // Data files loaded at start-up (found beside the program when empty).
  std::string profiles_dir;
  std::string mappings_dir;
  std::string site_mappings_dir;  // a site's overrides, layered over mappings_dir
  bool convert_and_validate = true;  // convert and validate before the ACK (AE on errors)
  // Sandbox: load fhir-profiles/examples/valid into the store at start-up (the default without a
  // config file; a config file turns it on with "seed_examples": true).
  bool seed_examples = true;
  // Routes and destinations ("routing": {"destinations": {...}, "routes": [...]}); none: nothing leaves.
  std::shared_ptr<const routing::Router> router;
  // The Schedule III ledger (ledger.db in data_dir): the clinic's registration and its policies.
  ledger::LedgerOptions ledger;
  // The message store: SQLite in data_dir (default), or PostgreSQL for several instances
  // ("store": {"type": "postgres", "conninfo": ..., "instance": ..., "lease_ms": ...}).
  std::optional<store::PostgresOptions> postgres;
  // The SQLite store's options ("store": {"type": "sqlite", "cache_mib": 64}).
  store::SqliteOptions sqlite;
  // Delivered outbox items (copies of what went out) are removed after so many days; 0 keeps them.
  int outbox_retention_days = 30;
  // Folders a clinic's system exports CSV files into, taken as uploads to /csv/{layout}
  // ("inboxes": [{"name", "folder", "layout", "charset", "poll_ms", "max_bytes"}]).
  std::vector<inbox::InboxOptions> inboxes;
};

// The store the config names: PostgreSQL when configured, else SQLite under data_dir.
[[nodiscard]] Result<std::unique_ptr<store::MessageStore>> OpenStore(const GatewayConfig& config);

[[nodiscard]] Result<GatewayConfig> LoadConfig(const std::filesystem::path& file);
[[nodiscard]] Result<GatewayConfig> ParseConfig(std::string_view json, std::string_view source);

}  // namespace ketamine::cli
