#include "cli/config.h"

#include "common/file.h"
#include "common/utf8.h"
#include "store/sqlite_store.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fstream>
#include <set>
#include <sstream>

namespace ketamine::cli {
namespace {

constexpr size_t kMaxConfigBytes = 1u << 20;
using Value = rapidjson::Value;

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status Keys(const Value& object, const std::string& path, std::set<std::string> allowed) {
    if (!object.IsObject()) return Error(path, "must be an object");
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (!allowed.count(key)) return Error(Join(path, key), "unknown key");
    }
    return Status::Ok();
  }

  const Value* Find(const Value& object, const char* key) {
    auto it = object.FindMember(key);
    return it == object.MemberEnd() ? nullptr : &it->value;
  }

  Status String(const Value& object, const std::string& path, const char* key, std::string& out) {
    const Value* v = Find(object, key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsString()) return Error(Join(path, key), "must be a string");
    out.assign(v->GetString(), v->GetStringLength());
    return Status::Ok();
  }

  template <typename Int>
  Status Integer(const Value& object, const std::string& path, const char* key, Int& out,
                 int64_t min, int64_t max) {
    const Value* v = Find(object, key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsInt64() || v->GetInt64() < min || v->GetInt64() > max) {
      return Error(Join(path, key),
                   "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    }
    out = static_cast<Int>(v->GetInt64());
    return Status::Ok();
  }

  Status Bool(const Value& object, const std::string& path, const char* key, bool& out) {
    const Value* v = Find(object, key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsBool()) return Error(Join(path, key), "must be true or false");
    out = v->GetBool();
    return Status::Ok();
  }

  Status Error(const std::string& path, const std::string& what) {
    return InvalidInput(source_ + ": " + path + " " + what, Location(path));
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string source_;
};

Status ReadTls(Reader& r, const Value& v, const std::string& path, mllp::TlsOptions& tls) {
  KETAMINE_RETURN_IF_ERROR(
      r.Keys(v, path, {"certificate", "private_key", "ca", "require_client_certificate"}));
  KETAMINE_RETURN_IF_ERROR(r.String(v, path, "certificate", tls.certificate_file));
  KETAMINE_RETURN_IF_ERROR(r.String(v, path, "private_key", tls.private_key_file));
  KETAMINE_RETURN_IF_ERROR(r.String(v, path, "ca", tls.ca_file));
  tls.verify_peer = false;
  KETAMINE_RETURN_IF_ERROR(r.Bool(v, path, "require_client_certificate", tls.verify_peer));
  if (tls.certificate_file.empty()) return r.Error(Reader::Join(path, "certificate"), "is required");
  if (tls.private_key_file.empty()) return r.Error(Reader::Join(path, "private_key"), "is required");
  if (tls.verify_peer && tls.ca_file.empty()) {
    return r.Error(Reader::Join(path, "ca"), "is required with require_client_certificate");
  }
  return Status::Ok();
}

Status ReadMllp(Reader& r, const Value& v, GatewayConfig& config) {
  const std::string path = "mllp";
  KETAMINE_RETURN_IF_ERROR(r.Keys(v, path, {"host", "port", "max_message_bytes", "idle_timeout_ms",
                                            "max_connections", "default_charset", "tls"}));
  mllp::ServerOptions& o = config.mllp;
  KETAMINE_RETURN_IF_ERROR(r.String(v, path, "host", o.host));
  KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "port", o.port, 0, 65535));
  KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "max_message_bytes", o.max_frame_bytes, 1024,
                                     int64_t{256} << 20));
  KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "idle_timeout_ms", o.idle_timeout_ms, 100, 86400000));
  KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "max_connections", o.max_connections, 1, 100000));
  KETAMINE_RETURN_IF_ERROR(r.String(v, path, "default_charset", config.inbound.parse.default_charset));
  if (const Value* tls = r.Find(v, "tls")) {
    mllp::TlsOptions t;
    KETAMINE_RETURN_IF_ERROR(ReadTls(r, *tls, path + ".tls", t));
    o.tls = t;
  }
  return Status::Ok();
}

}  // namespace

Result<GatewayConfig> ParseConfig(std::string_view json, std::string_view source) {
  Reader r{std::string(source)};
  if (json.size() > kMaxConfigBytes) return r.Error("", "is larger than 1 MiB");
  rapidjson::Document doc;
  // Iterative parsing: deep nesting cannot overflow the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return InvalidInput(std::string(source) + ": invalid JSON at offset " +
                        std::to_string(doc.GetErrorOffset()) + ": " +
                        rapidjson::GetParseError_En(doc.GetParseError()));
  }
  GatewayConfig config;
  KETAMINE_RETURN_IF_ERROR(
      r.Keys(doc, "", {"data_dir", "threads", "mllp", "http", "application", "facility", "profiles_dir", "seed_examples", "routing",
                       "mappings_dir", "site_mappings_dir", "timezone", "convert_and_validate", "ledger", "store", "outbox_retention_days", "inboxes"}));
  KETAMINE_RETURN_IF_ERROR(r.Integer(doc, "", "outbox_retention_days", config.outbox_retention_days, 0, 36500));
  std::string data_dir;
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "data_dir", data_dir));
  if (!data_dir.empty()) config.data_dir = data_dir;
  KETAMINE_RETURN_IF_ERROR(r.Integer(doc, "", "threads", config.threads, 1, 64));
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "application", config.inbound.application));
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "facility", config.inbound.facility));
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "profiles_dir", config.profiles_dir));
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "mappings_dir", config.mappings_dir));
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "site_mappings_dir", config.site_mappings_dir));
  KETAMINE_RETURN_IF_ERROR(r.Bool(doc, "", "convert_and_validate", config.convert_and_validate));
  std::string timezone;
  KETAMINE_RETURN_IF_ERROR(r.String(doc, "", "timezone", timezone));
  if (!timezone.empty()) {
    if (timezone.size() != 6 || (timezone[0] != '+' && timezone[0] != '-') || timezone[3] != ':') {
      return r.Error("timezone", "is +HH:MM or -HH:MM");
    }
    config.inbound.convert.default_timezone = timezone;
  }
  if (const Value* routing = r.Find(doc, "routing")) {
    auto router = routing::Router::FromJson(*routing, "routing");
    if (!router.ok()) return InvalidInput(std::string(source) + ": " + router.status().message());
    config.router = *router;
  }
  if (const Value* store = r.Find(doc, "store")) {
    KETAMINE_RETURN_IF_ERROR(
        r.Keys(*store, "store", {"type", "conninfo", "instance", "lease_ms", "cache_mib", "wal_limit_mib"}));
    std::string type = "sqlite";
    KETAMINE_RETURN_IF_ERROR(r.String(*store, "store", "type", type));
    if (type == "postgres") {
      store::PostgresOptions pg;
      KETAMINE_RETURN_IF_ERROR(r.String(*store, "store", "conninfo", pg.conninfo));
      KETAMINE_RETURN_IF_ERROR(r.String(*store, "store", "instance", pg.instance));
      KETAMINE_RETURN_IF_ERROR(r.Integer(*store, "store", "lease_ms", pg.lease_ms, 1000, 86400000));
      if (pg.conninfo.empty()) return r.Error("store.conninfo", "is required for a postgres store");
      config.postgres = pg;
    } else if (type != "sqlite") {
      return r.Error("store.type", "is sqlite or postgres");
    } else if (store->HasMember("conninfo") || store->HasMember("instance") || store->HasMember("lease_ms")) {
      return r.Error("store", "conninfo, instance and lease_ms are for a postgres store");
    }
    for (const char* sqlite_only : {"cache_mib", "wal_limit_mib"}) {
      if (type == "postgres" && store->HasMember(sqlite_only)) {
        return r.Error(std::string("store.") + sqlite_only,
                       "is for a sqlite store (PostgreSQL sizes its own shared_buffers and WAL)");
      }
    }
    KETAMINE_RETURN_IF_ERROR(r.Integer(*store, "store", "cache_mib", config.sqlite.cache_mib, 1, 65536));
    KETAMINE_RETURN_IF_ERROR(r.Integer(*store, "store", "wal_limit_mib", config.sqlite.wal_limit_mib, 1, 65536));
  }
  if (config.postgres && config.router != nullptr) {
    // Every instance claims from the shared outbox: postings to the ledger must land in one file.
    for (const auto& [name, d] : config.router->destinations()) {
      if (d.type == routing::DestinationType::kLedger && d.instances.size() != 1) {
        return r.Error("routing.destinations." + name + ".instances",
                       "with a postgres store, a ledger destination names the one instance that keeps the ledger");
      }
    }
  }
  if (const Value* ledger = r.Find(doc, "ledger")) {
    auto options = ledger::LedgerOptions::FromJson(*ledger, "ledger");
    if (!options.ok()) return InvalidInput(std::string(source) + ": " + options.status().message());
    config.ledger = *options;
  }
  config.seed_examples = false;  // a configured gateway starts empty unless asked
  if (const Value* inboxes = r.Find(doc, "inboxes")) {
    if (!inboxes->IsArray()) return r.Error("inboxes", "must be an array");
    std::set<std::string> names;
    for (rapidjson::SizeType i = 0; i < inboxes->Size(); ++i) {
      const std::string path = "inboxes[" + std::to_string(i) + "]";
      const Value& v = (*inboxes)[i];
      KETAMINE_RETURN_IF_ERROR(r.Keys(v, path, {"name", "folder", "layout", "charset", "poll_ms", "max_bytes"}));
      inbox::InboxOptions box;
      box.name = "inbox-" + std::to_string(i + 1);
      std::string folder;
      KETAMINE_RETURN_IF_ERROR(r.String(v, path, "name", box.name));
      KETAMINE_RETURN_IF_ERROR(r.String(v, path, "folder", folder));
      KETAMINE_RETURN_IF_ERROR(r.String(v, path, "layout", box.layout));
      KETAMINE_RETURN_IF_ERROR(r.String(v, path, "charset", box.charset));
      KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "poll_ms", box.poll_ms, 100, 3600000));
      KETAMINE_RETURN_IF_ERROR(r.Integer(v, path, "max_bytes", box.max_bytes, 1, int64_t{1} << 30));
      if (folder.empty()) return r.Error(path + ".folder", "is required (the folder the exports are written to)");
      if (box.layout.empty()) return r.Error(path + ".layout", "is required (a layout of mappings/csv/)");
      if (!names.insert(box.name).second) return r.Error(path + ".name", "is the name of an earlier inbox");
      if (!box.charset.empty() && !IconvToUtf8("", box.charset).ok()) {
        return r.Error(path + ".charset", "is a character set glibc's iconv knows (UTF-8, WINDOWS-1252, ISO-8859-1, ...)");
      }
      box.folder = folder;
      config.inboxes.push_back(std::move(box));
    }
  }
  if (const Value* seed = r.Find(doc, "seed_examples")) {
    if (!seed->IsBool()) return r.Error("seed_examples", "must be true or false");
    config.seed_examples = seed->GetBool();
  }
  if (const Value* mllp = r.Find(doc, "mllp")) KETAMINE_RETURN_IF_ERROR(ReadMllp(r, *mllp, config));
  if (const Value* http = r.Find(doc, "http")) {
    KETAMINE_RETURN_IF_ERROR(
        r.Keys(*http, "http", {"host", "port", "max_body_bytes", "drain_seconds", "tls", "base_url", "operator_tokens_file"}));
    std::string tokens_file;
    KETAMINE_RETURN_IF_ERROR(r.String(*http, "http", "operator_tokens_file", tokens_file));
    if (!tokens_file.empty()) {
      auto tokens = http::LoadOperatorTokens(tokens_file);
      if (!tokens.ok()) return r.Error("http.operator_tokens_file", tokens.status().message());
      config.operators = std::make_shared<const http::OperatorTokens>(std::move(*tokens));
    }
    KETAMINE_RETURN_IF_ERROR(r.String(*http, "http", "host", config.http_host));
    KETAMINE_RETURN_IF_ERROR(r.Integer(*http, "http", "port", config.http_port, 0, 65535));
    KETAMINE_RETURN_IF_ERROR(r.Integer(*http, "http", "max_body_bytes", config.http_max_body_bytes, 1024, 1 << 30));
    KETAMINE_RETURN_IF_ERROR(r.Integer(*http, "http", "drain_seconds", config.http_drain_seconds, 1, 3600));
    KETAMINE_RETURN_IF_ERROR(r.String(*http, "http", "base_url", config.http_base_url));
    if (!config.http_base_url.empty()) {
      // It starts every fullUrl and link ("{base_url}/Patient/x") and says which absolute references
      // are the gateway's own: a trailing '/' would double every slash after it.
      std::string& base = config.http_base_url;
      while (base.size() > 1 && base.back() == '/') base.pop_back();
      const bool http_url = base.rfind("http://", 0) == 0 || base.rfind("https://", 0) == 0;
      if (!http_url || base.find_first_of("?# \t") != std::string::npos || base.find('/', base.find("//") + 2) == std::string::npos) {
        return r.Error("http.base_url", "an absolute http(s) URL with a path, such as https://gw.example.org/fhir (got '" +
                                            base + "')");
      }
    }
    if (const Value* tls = r.Find(*http, "tls")) {
      KETAMINE_RETURN_IF_ERROR(r.Keys(*tls, "http.tls", {"certificate", "private_key"}));
      KETAMINE_RETURN_IF_ERROR(r.String(*tls, "http.tls", "certificate", config.http_certificate));
      KETAMINE_RETURN_IF_ERROR(r.String(*tls, "http.tls", "private_key", config.http_private_key));
      if (config.http_certificate.empty() || config.http_private_key.empty()) {
        return r.Error("http.tls", "needs certificate and private_key");
      }
    }
  }
  return config;
}

Result<std::unique_ptr<store::MessageStore>> OpenStore(const GatewayConfig& config) {
  if (config.postgres) {
    auto pg = store::PostgresStore::Open(*config.postgres);
    if (!pg.ok()) return pg.status();
    return std::unique_ptr<store::MessageStore>(std::move(*pg));
  }
  auto sqlite = store::SqliteStore::Open(config.data_dir, config.sqlite);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<store::MessageStore>(std::move(*sqlite));
}

Result<GatewayConfig> LoadConfig(const std::filesystem::path& file) {
  auto text = ReadFile(file);
  if (!text.ok()) return InvalidInput("cannot read config file " + file.string());
  return ParseConfig(*text, file.string());
}

}  // namespace ketamine::cli
