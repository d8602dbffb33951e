#include "routing/router.h"

#include <algorithm>
#include <filesystem>

#include "fhir/json.h"
#include "http/jwt.h"
#include "mapping/converter.h"

namespace ketamine::routing {
namespace {

using rapidjson::Value;

Status Bad(const std::string& where, const std::string& what) { return InvalidInput(where + ": " + what, Location(where)); }

std::string Join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

Status Keys(const Value& v, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!v.IsObject()) return Bad(where, "must be an object");
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* k) { return std::string_view(k) == it->name.GetString(); })) {
      return Bad(Join(where, it->name.GetString()), "unknown key");
    }
  }
  return Status::Ok();
}

Status ReadSet(const Value& v, const std::string& where, const char* key, std::set<std::string>& out) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd()) return Status::Ok();
  if (!it->value.IsArray()) return Bad(Join(where, key), "must be an array of strings");
  for (const Value& s : it->value.GetArray()) {
    if (!s.IsString()) return Bad(Join(where, key), "must be an array of strings");
    out.insert(s.GetString());
  }
  return Status::Ok();
}

Status ReadInt(const Value& v, const std::string& where, const char* key, int& out, int min, int max) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd()) return Status::Ok();
  if (!it->value.IsInt() || it->value.GetInt() < min || it->value.GetInt() > max) {
    return Bad(Join(where, key), "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  out = it->value.GetInt();
  return Status::Ok();
}

Status ReadString(const Value& v, const std::string& where, const char* key, std::string& out) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd()) return Status::Ok();
  if (!it->value.IsString()) return Bad(Join(where, key), "must be a string");
  out = it->value.GetString();
  return Status::Ok();
}

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

}  // namespace

Result<std::shared_ptr<const Router>> Router::FromJson(const Value& config, const std::string& path) {
  auto router = std::make_shared<Router>();
  KETAMINE_RETURN_IF_ERROR(Keys(config, path.empty() ? "(routing)" : path, {"destinations", "routes"}));
  if (auto d = config.FindMember("destinations"); d != config.MemberEnd()) {
    const std::string where = Join(path, "destinations");
    if (!d->value.IsObject()) return Bad(where, "must be an object of named destinations");
    for (auto it = d->value.MemberBegin(); it != d->value.MemberEnd(); ++it) {
      const std::string at = Join(where, it->name.GetString());
      KETAMINE_RETURN_IF_ERROR(Keys(it->value, at, {"type", "url", "host", "port", "folder", "timeout_ms", "max_attempts",
                                                    "initial_backoff_ms", "max_backoff_ms", "concurrency", "items_per_request", "bearer_token", "oauth2", "smart",
                                                    "tls", "instances"}));
      DestinationConfig dest;
      dest.name = it->name.GetString();
      std::string type = Str(it->value, "type");
      if (type == "fhir") {
        dest.type = DestinationType::kFhir;
      } else if (type == "mllp") {
        dest.type = DestinationType::kMllp;
      } else if (type == "folder") {
        dest.type = DestinationType::kFolder;
      } else if (type == "ledger") {
        dest.type = DestinationType::kLedger;
      } else if (type == "sandbox") {
        dest.type = DestinationType::kSandbox;
      } else {
        return Bad(Join(at, "type"), "is fhir, mllp, folder, ledger or sandbox");
      }
      KETAMINE_RETURN_IF_ERROR(ReadSet(it->value, at, "instances", dest.instances));
      KETAMINE_RETURN_IF_ERROR(ReadString(it->value, at, "url", dest.url));
      KETAMINE_RETURN_IF_ERROR(ReadString(it->value, at, "host", dest.host));
      KETAMINE_RETURN_IF_ERROR(ReadString(it->value, at, "folder", dest.folder));
      KETAMINE_RETURN_IF_ERROR(ReadString(it->value, at, "bearer_token", dest.bearer_token));
      if (auto o = it->value.FindMember("oauth2"); o != it->value.MemberEnd()) {
        const std::string oat = Join(at, "oauth2");
        KETAMINE_RETURN_IF_ERROR(Keys(o->value, oat, {"token_url", "client_id", "client_secret", "scope"}));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, oat, "token_url", dest.token_url));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, oat, "client_id", dest.client_id));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, oat, "client_secret", dest.client_secret));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, oat, "scope", dest.scope));
        if (dest.token_url.empty() || dest.client_id.empty()) return Bad(oat, "needs token_url and client_id");
      }
      if (auto o = it->value.FindMember("smart"); o != it->value.MemberEnd()) {
        // SMART Backend Services: the token request carries a JWT signed with our key.
        const std::string sat = Join(at, "smart");
        KETAMINE_RETURN_IF_ERROR(Keys(o->value, sat, {"token_url", "client_id", "private_key", "algorithm", "kid", "scope"}));
        if (!dest.token_url.empty()) return Bad(at, "takes oauth2 or smart, not both");
        std::string key_file, algorithm = "RS384";
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "token_url", dest.token_url));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "client_id", dest.client_id));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "private_key", key_file));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "algorithm", algorithm));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "kid", dest.jwt_kid));
        KETAMINE_RETURN_IF_ERROR(ReadString(o->value, sat, "scope", dest.scope));
        if (dest.token_url.empty() || dest.client_id.empty() || key_file.empty()) {
          return Bad(sat, "needs token_url, client_id and private_key");
        }
        auto signer = http::JwtSigner::Load(key_file, algorithm);
        if (!signer.ok()) {
          return Bad(Join(sat, algorithm != "RS384" && algorithm != "ES384" ? "algorithm" : "private_key"),
                     signer.status().message());
        }
        dest.jwt_signer = *signer;
      }
      if (auto t = it->value.FindMember("tls"); t != it->value.MemberEnd()) {
        const std::string tat = Join(at, "tls");
        KETAMINE_RETURN_IF_ERROR(Keys(t->value, tat, {"ca", "certificate", "private_key"}));
        KETAMINE_RETURN_IF_ERROR(ReadString(t->value, tat, "ca", dest.tls_ca));
        KETAMINE_RETURN_IF_ERROR(ReadString(t->value, tat, "certificate", dest.tls_certificate));
        KETAMINE_RETURN_IF_ERROR(ReadString(t->value, tat, "private_key", dest.tls_private_key));
        if (dest.tls_certificate.empty() != dest.tls_private_key.empty()) {
          return Bad(tat, "a client certificate needs its private_key (and the key its certificate)");
        }
        for (const auto& [key, file] : {std::pair<const char*, const std::string&>{"ca", dest.tls_ca},
                                        {"certificate", dest.tls_certificate}, {"private_key", dest.tls_private_key}}) {
          std::error_code ec;
          if (!file.empty() && !std::filesystem::is_regular_file(file, ec)) return Bad(Join(tat, key), "cannot read " + file);
        }
      }
      int port = 0;
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "port", port, 1, 65535));
      dest.port = static_cast<uint16_t>(port);
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "timeout_ms", dest.timeout_ms, 100, 600000));
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "max_attempts", dest.max_attempts, 1, 1000));
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "initial_backoff_ms", dest.initial_backoff_ms, 1, 3600000));
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "max_backoff_ms", dest.max_backoff_ms, 1, 86400000));
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "concurrency", dest.concurrency, 1, 64));
      KETAMINE_RETURN_IF_ERROR(ReadInt(it->value, at, "items_per_request", dest.items_per_request, 1, 100));
      for (const char* key : {"concurrency", "items_per_request"}) {
        if (dest.type != DestinationType::kFhir && it->value.HasMember(key)) {
          return Bad(Join(at, key), "applies to fhir destinations only (the others send one at a time)");
        }
      }
      if (dest.type == DestinationType::kFhir &&
          dest.url.rfind("http://", 0) != 0 && dest.url.rfind("https://", 0) != 0) {
        return Bad(Join(at, "url"), "a FHIR destination needs an http(s) base URL");
      }
      if (dest.type == DestinationType::kMllp && (dest.host.empty() || dest.port == 0)) {
        return Bad(at, "an MLLP destination needs host and port");
      }
      if (dest.type == DestinationType::kFolder && dest.folder.empty()) return Bad(Join(at, "folder"), "is required");
      router->destinations_[dest.name] = std::move(dest);
    }
  }
  if (auto r = config.FindMember("routes"); r != config.MemberEnd()) {
    const std::string where = Join(path, "routes");
    if (!r->value.IsArray()) return Bad(where, "must be an array");
    int i = 0;
    for (const Value& v : r->value.GetArray()) {
      const std::string at = where + "[" + std::to_string(i++) + "]";
      KETAMINE_RETURN_IF_ERROR(Keys(v, at, {"name", "match", "destinations"}));
      Route route;
      route.name = Str(v, "name");
      if (auto m = v.FindMember("match"); m != v.MemberEnd()) {
        const std::string mat = at + ".match";
        KETAMINE_RETURN_IF_ERROR(Keys(m->value, mat, {"message_type", "resource_type", "sending_facility", "profile"}));
        KETAMINE_RETURN_IF_ERROR(ReadSet(m->value, mat, "message_type", route.message_types));
        KETAMINE_RETURN_IF_ERROR(ReadSet(m->value, mat, "resource_type", route.resource_types));
        KETAMINE_RETURN_IF_ERROR(ReadSet(m->value, mat, "sending_facility", route.sending_facilities));
        KETAMINE_RETURN_IF_ERROR(ReadSet(m->value, mat, "profile", route.profiles));
      }
      auto d = v.FindMember("destinations");
      if (d == v.MemberEnd() || !d->value.IsArray() || d->value.Empty()) {
        return Bad(at + ".destinations", "is a non-empty array of destination names");
      }
      int j = 0;
      for (const Value& name : d->value.GetArray()) {
        const std::string dat = at + ".destinations[" + std::to_string(j++) + "]";
        if (!name.IsString()) return Bad(dat, "must be a destination name");
        if (!router->destinations_.count(name.GetString())) {
          return Bad(dat, std::string("no destination named '") + name.GetString() + "'");
        }
        route.destinations.emplace_back(name.GetString());
      }
      router->routes_.push_back(std::move(route));
    }
  }
  return std::shared_ptr<const Router>(std::move(router));
}

std::vector<const DestinationConfig*> Router::Match(const RouteInput& input) const {
  auto any_of = [](const std::set<std::string>& wanted, const std::set<std::string>& have) {
    if (wanted.empty()) return true;
    return std::any_of(have.begin(), have.end(), [&](const std::string& h) { return wanted.count(h) > 0; });
  };
  std::vector<const DestinationConfig*> out;
  for (const Route& route : routes_) {
    if (!route.message_types.empty() && !route.message_types.count(input.message_type)) continue;
    if (!route.sending_facilities.empty() && !route.sending_facilities.count(input.sending_facility)) continue;
    if (!any_of(route.resource_types, input.resource_types) || !any_of(route.profiles, input.profiles)) continue;
    for (const auto& name : route.destinations) {
      const DestinationConfig* d = &destinations_.at(name);
      if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
    }
  }
  return out;
}

void DescribeResource(const Value& resource, RouteInput& input) {
  if (!resource.IsObject()) return;
  if (std::string type = Str(resource, "resourceType"); !type.empty()) input.resource_types.insert(type);
  auto meta = resource.FindMember("meta");
  if (meta == resource.MemberEnd() || !meta->value.IsObject()) return;
  auto profiles = meta->value.FindMember("profile");
  if (profiles == meta->value.MemberEnd() || !profiles->value.IsArray()) return;
  for (const Value& p : profiles->value.GetArray()) {
    if (p.IsString()) input.profiles.insert(p.GetString());
  }
}

void DescribeBundle(const Value& bundle, RouteInput& input) {
  auto entries = bundle.IsObject() ? bundle.FindMember("entry") : Value::ConstMemberIterator();
  if (!bundle.IsObject() || entries == bundle.MemberEnd() || !entries->value.IsArray()) return;
  for (const Value& e : entries->value.GetArray()) {
    auto r = e.IsObject() ? e.FindMember("resource") : Value::ConstMemberIterator();
    if (e.IsObject() && r != e.MemberEnd()) DescribeResource(r->value, input);
  }
}

std::string FhirDeliveryPayload(rapidjson::Document& bundle) {
  auto entries = bundle.FindMember("entry");
  if (entries != bundle.MemberEnd() && entries->value.IsArray()) {
    for (Value& e : entries->value.GetArray()) {
      if (!e.IsObject()) continue;
      std::string full_url = Str(e, "fullUrl");
      auto req = e.FindMember("request");
      auto res = e.FindMember("resource");
      if (req == e.MemberEnd() || res == e.MemberEnd()) continue;
      const std::string method = Str(req->value, "method");
      const std::string request_url = Str(req->value, "url");
      std::string id;
      if (method == "PUT" && request_url.find("?identifier=") != std::string::npos) {
        // A conditional update: servers resolve these by search, which races (and some do not
        // search identifiers at all). The id is made from the business identifier instead, so
        // every message about this patient or order writes the same resource.
        id = mapping::DeterministicUuid({"delivery", request_url}).substr(9);
      } else if (method == "POST" && full_url.rfind("urn:uuid:", 0) == 0) {
        id = full_url.substr(9);
      } else {
        continue;
      }
      std::string url = Str(res->value, "resourceType") + "/" + id;
      req->value.RemoveMember("method");
      req->value.RemoveMember("url");
      req->value.AddMember("method", "PUT", bundle.GetAllocator());
      req->value.AddMember("url", Value(url.c_str(), bundle.GetAllocator()), bundle.GetAllocator());
      res->value.RemoveMember("id");
      res->value.AddMember("id", Value(id.c_str(), bundle.GetAllocator()), bundle.GetAllocator());
    }
  }
  return fhir::ToJson(bundle);
}

}  // namespace ketamine::routing
