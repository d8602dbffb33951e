#include "routing/outbox.h"

#include "common/log.h"
#include "fhir/json.h"

namespace ketamine::routing {

std::vector<store::OutboxWrite> OutboxForMessage(const Router& router, const hl7v2::Message& msg,
                                                 std::unique_ptr<rapidjson::Document> bundle, const std::string& raw) {
  std::vector<store::OutboxWrite> out;
  RouteInput input;
  input.message_type = std::string(msg.MessageCode()) + "^" + std::string(msg.TriggerEvent());
  input.sending_facility = std::string(msg.SendingFacility());
  if (bundle != nullptr) DescribeBundle(*bundle, input);
  const std::string partition(hl7v2::Component(hl7v2::Repetition(msg.Get("PID-3"), 1, msg.delimiters()), 1, msg.delimiters()));
  const std::string key = std::string(msg.SendingApplication()) + "|" + std::string(msg.SendingFacility()) + "|" +
                          std::string(msg.ControlId());
  std::string fhir_payload;
  for (const DestinationConfig* d : router.Match(input)) {
    store::OutboxWrite w;
    w.destination = d->name;
    w.partition = partition;
    w.idempotency_key = key + "|" + d->name;
    if (d->type != DestinationType::kMllp && d->type != DestinationType::kFolder) {  // FHIR, ledger, sandbox
      if (bundle == nullptr) continue;  // nothing converted: no FHIR to deliver
      if (fhir_payload.empty()) fhir_payload = FhirDeliveryPayload(*bundle);
      w.content_type = "application/fhir+json";
      w.payload = fhir_payload;
    } else {
      w.content_type = "x-application/hl7-v2+er7";
      w.payload = raw;
    }
    out.push_back(std::move(w));
  }
  return out;
}

namespace {

using rapidjson::Value;

// {"resourceType": "Bundle", "type": kind, "entry": []} with its entry array.
rapidjson::Document NewBundle(const char* kind) {
  rapidjson::Document b(rapidjson::kObjectType);
  b.AddMember("resourceType", "Bundle", b.GetAllocator());
  b.AddMember("type", Value(kind, b.GetAllocator()), b.GetAllocator());
  b.AddMember("entry", Value(rapidjson::kArrayType), b.GetAllocator());
  return b;
}

void AddEntry(rapidjson::Document& b, const std::string& full_url, const Value& resource, const char* put_url) {
  auto& a = b.GetAllocator();
  Value entry(rapidjson::kObjectType);
  entry.AddMember("fullUrl", Value(full_url.c_str(), a), a);
  entry.AddMember("resource", fhir::DeepCopy(resource, a), a);
  if (put_url != nullptr) {
    Value request(rapidjson::kObjectType);
    request.AddMember("method", "PUT", a);
    request.AddMember("url", Value(put_url, a), a);
    entry.AddMember("request", request, a);
  }
  b["entry"].PushBack(entry, a);
}

// The HL7 v2 message a resource converts to, with the resources it references (one level deep)
// that the store holds; "" (and a log line) when it does not convert cleanly.
std::string V2MessageFor(const mapping::Converter& converter, store::MessageStore& store, const std::string& type,
                         const std::string& id, const Value& resource) {
  rapidjson::Document bundle = NewBundle("collection");
  AddEntry(bundle, type + "/" + id, resource, nullptr);
  fhir::ForEachReference(resource, [&](const Value& reference) {
    std::string_view ref(reference.GetString(), reference.GetStringLength());
    size_t slash = ref.find('/');
    if (slash == std::string_view::npos) return;
    auto stored = store.ReadResource(ref.substr(0, slash), ref.substr(slash + 1));
    if (!stored.ok()) return;
    auto parsed = fhir::ParseJson(stored->json);
    if (parsed.ok()) AddEntry(bundle, std::string(ref), **parsed, nullptr);
  });
  auto message = converter.ToV2(bundle);
  if (message.ok() && !message->issues.HasErrors()) return message->message;
  log::Warn("routing.v2-failed", {{"type", type}});
  return {};
}

}  // namespace

std::vector<store::OutboxWrite> OutboxForResource(const Router& router, const mapping::Converter& converter,
                                                  store::MessageStore& store, const std::string& type,
                                                  const std::string& json) {
  std::vector<store::OutboxWrite> out;
  auto doc = fhir::ParseJson(json);
  if (!doc.ok() || !(*doc)->IsObject()) return out;
  const Value& resource = **doc;
  RouteInput input;  // no message type: what REST clients write
  DescribeResource(resource, input);
  auto destinations = router.Match(input);
  if (destinations.empty()) return out;
  const std::string id = fhir::StringMember(resource, "id");
  std::string partition = type + "/" + id;
  for (const char* key : {"subject", "patient"}) {
    if (auto ref = resource.FindMember(key); ref != resource.MemberEnd()) {
      if (std::string r = fhir::StringMember(ref->value, "reference"); !r.empty()) partition = r;
    }
  }
  const std::string key = mapping::DeterministicUuid({"rest", type, id, json}).substr(9);
  std::string fhir_payload, v2_payload;  // each made once, when a destination wants it
  bool v2_made = false;
  for (const DestinationConfig* d : destinations) {
    store::OutboxWrite w;
    w.destination = d->name;
    w.partition = partition;
    w.idempotency_key = key + "|" + d->name;
    if (d->type != DestinationType::kMllp && d->type != DestinationType::kFolder) {  // FHIR, ledger, sandbox
      if (fhir_payload.empty()) {
        rapidjson::Document transaction = NewBundle("transaction");
        const std::string url = type + "/" + id;
        AddEntry(transaction, url, resource, url.c_str());
        fhir_payload = fhir::ToJson(transaction);
      }
      w.content_type = "application/fhir+json";
      w.payload = fhir_payload;
    } else {
      if (!v2_made) {
        v2_payload = V2MessageFor(converter, store, type, id, resource);
        v2_made = true;
      }
      if (v2_payload.empty()) continue;
      w.content_type = "x-application/hl7-v2+er7";
      w.payload = v2_payload;
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace ketamine::routing
