// Routing: which destinations a message or resource goes to, from the "routes" and "destinations"
// of the gateway's JSON config. A route matches on message type, resource types in the result,
// sending facility and claimed profiles (an empty list matches anything) and names destinations:
// a FHIR server, an HL7 v2 system over MLLP, or a folder. A config error is refused at start-up
// with a message naming the key ("routes[1].destinations[0]: no destination named 'registy'").
//   auto router = routing::Router::FromJson(config["routing"]);
//   for (const auto* d : (*router)->Match({"RDE^O11", "RIVERSIDE_PAIN", {"MedicationRequest"}, {}})) ...
#pragma once

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::http {
class JwtSigner;
}  // namespace ketamine::http

namespace ketamine::routing {

// kLedger: the Schedule III ledger of this gateway (administrations, waste and orders posted from
// the FHIR of the message); kSandbox: this gateway's own FHIR store (what a message converted to,
// readable at /fhir). Both are delivered through the outbox like any other destination.
enum class DestinationType { kFhir, kMllp, kFolder, kLedger, kSandbox };

struct DestinationConfig {
  std::string name;
  DestinationType type = DestinationType::kFhir;
  std::string url;          // fhir: the server's base ("http://host/fhir/R4")
  std::string host;         // mllp
  uint16_t port = 0;        // mllp
  std::string folder;       // folder
  int timeout_ms = 10000;   // one attempt
  int max_attempts = 10;    // then the item is a dead letter
  int initial_backoff_ms = 500;
  int max_backoff_ms = 300000;
  // fhir: requests on the wire at once (each for a different partition, so per-patient order
  // holds); the other types send one at a time.
  int concurrency = 8;
  // fhir: how many claimed items (messages, each for a different partition) one request may carry,
  // merged into one transaction Bundle (see merge.h); 1: each its own request.
  int items_per_request = 1;
  // Gateway instances sharing one PostgreSQL store whose workers deliver to this destination;
  // empty: all of them. A ledger destination then names exactly one (one ledger file).
  std::set<std::string> instances;
  std::string bearer_token; // fhir: a static token, when the server wants one
  // fhir: OAuth2 client credentials (RFC 6749 4.4): a token from token_url, kept until it expires;
  // a 401 fetches a new one and tries again at once.
  std::string token_url;
  std::string client_id;
  std::string client_secret;
  std::string scope;
  // fhir: SMART Backend Services instead of a secret: a JWT client assertion signed with this key
  // (loaded and checked at start-up); `kid` names the key in the server's JWK Set.
  std::shared_ptr<const http::JwtSigner> jwt_signer;
  std::string jwt_kid;
  // fhir over https: a CA to trust, and a client certificate and key for mutual TLS.
  std::string tls_ca;
  std::string tls_certificate;
  std::string tls_private_key;
};

struct Route {
  std::string name;
  std::set<std::string> message_types;       // "RDE^O11"
  std::set<std::string> resource_types;      // any of them in the result
  std::set<std::string> sending_facilities;  // MSH-4
  std::set<std::string> profiles;            // any claimed in meta.profile
  std::vector<std::string> destinations;
};

struct RouteInput {
  std::string message_type;
  std::string sending_facility;
  std::set<std::string> resource_types;
  std::set<std::string> profiles;
};

class Router {
 public:
  // `config` is an object {"destinations": {...}, "routes": [...]}; `path` prefixes error keys.
  static Result<std::shared_ptr<const Router>> FromJson(const rapidjson::Value& config, const std::string& path = "");
  // Each destination once, in route order.
  std::vector<const DestinationConfig*> Match(const RouteInput& input) const;
  const std::map<std::string, DestinationConfig>& destinations() const { return destinations_; }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::map<std::string, DestinationConfig> destinations_;
  std::vector<Route> routes_;
};

// The FHIR payload of a transaction Bundle for delivery, with every write a PUT on an id the
// gateway chose: creates with a urn:uuid fullUrl (the converter's, derived from the message) use
// that uuid; conditional updates on a business identifier use a name-based uuid of it. A resend
// after an unknown outcome, or the next message about the same patient, updates what is there
// instead of creating it twice, whatever the server does with conditional requests. The Bundle is
// changed in place (the caller's copy is no longer needed, or it passes a copy).
std::string FhirDeliveryPayload(rapidjson::Document& bundle);

// What the route input of a resource or a Bundle is: the resource types and claimed profiles.
void DescribeResource(const rapidjson::Value& resource, RouteInput& input);
void DescribeBundle(const rapidjson::Value& bundle, RouteInput& input);

}  // namespace ketamine::routing
