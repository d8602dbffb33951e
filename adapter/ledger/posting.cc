#include "ledger/posting.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <map>

#include "common/clock.h"
#include "common/log.h"
#include "fhir/json.h"
#include "profiles/identifiers.h"

namespace ketamine::ledger {
namespace {

using rapidjson::Value;
using fhir::StringMember;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr const char* kWasteUrl = "http://fhir.ketamine-gateway.org/StructureDefinition/ketamine-waste";
constexpr const char* kScheduleUrl = "http://fhir.ketamine-gateway.org/StructureDefinition/ketamine-dea-schedule";
constexpr const char* kNdcSystem = "http://hl7.org/fhir/sid/ndc";

const Value* Member(const Value& object, const char* key) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

const Value* First(const Value* array) {
  return array != nullptr && array->IsArray() && !array->Empty() ? &(*array)[0] : nullptr;
}

// The resources of the payload by the names references use: fullUrl, "Type/id", "#id" (contained).
class Resolver {
 public:
  Resolver(const Value& payload, const PostingContext& context) : context_(context) {
    if (StringMember(payload, "resourceType") == "Bundle") {
      if (const Value* entries = Member(payload, "entry"); entries != nullptr && entries->IsArray()) {
        for (const Value& e : entries->GetArray()) {
          const Value* r = Member(e, "resource");
          if (r == nullptr || !r->IsObject()) continue;
          resources_.push_back(r);
          if (std::string url = StringMember(e, "fullUrl"); !url.empty()) by_name_[url] = r;
          Name(*r);
        }
      }
    } else if (payload.IsObject()) {
      resources_.push_back(&payload);
      Name(payload);
    }
  }
  const std::vector<const Value*>& resources() const { return resources_; }

  // The resource a Reference points at, from `owner`'s contained resources, the payload, or the store.
  const Value* Follow(const Value* reference, const Value& owner) {
    if (reference == nullptr) return nullptr;
    const std::string ref = StringMember(*reference, "reference");
    if (ref.empty()) return nullptr;
    if (ref[0] == '#') {
      if (const Value* contained = Member(owner, "contained"); contained != nullptr && contained->IsArray()) {
        for (const Value& c : contained->GetArray()) {
          if ("#" + StringMember(c, "id") == ref) return &c;
        }
      }
      return nullptr;
    }
    if (auto it = by_name_.find(ref); it != by_name_.end()) return it->second;
    if (!context_.resolve || ref.rfind("urn:", 0) == 0) return nullptr;
    auto doc = context_.resolve(ref);
    if (doc == nullptr) return nullptr;
    fetched_.push_back(std::move(doc));
    by_name_[ref] = fetched_.back().get();
    return fetched_.back().get();
  }

 private:
  void Name(const Value& r) {
    std::string type = StringMember(r, "resourceType"), id = StringMember(r, "id");
    if (!type.empty() && !id.empty()) by_name_[type + "/" + id] = &r;
  }
  const PostingContext& context_;
  std::vector<const Value*> resources_;
  std::map<std::string, const Value*> by_name_;
  std::vector<std::unique_ptr<rapidjson::Document>> fetched_;
};

bool IsKetamine(const Value* concept_value, const PostingContext& context) {
  if (concept_value == nullptr || context.ketamine_codes == nullptr) return false;
  const Value* codings = Member(*concept_value, "coding");
  if (codings == nullptr || !codings->IsArray()) return false;
  for (const Value& c : codings->GetArray()) {
    if (context.ketamine_codes->Contains(StringMember(c, "system"), StringMember(c, "code"))) return true;
  }
  return false;
}

bool ClaimsScheduleIII(const Value& medication) {
  const Value* extensions = Member(medication, "extension");
  if (extensions == nullptr || !extensions->IsArray()) return false;
  for (const Value& e : extensions->GetArray()) {
    if (StringMember(e, "url") != kScheduleUrl) continue;
    const Value* codings = Member(e, "valueCodeableConcept") ? Member(*Member(e, "valueCodeableConcept"), "coding") : nullptr;
    if (codings == nullptr || !codings->IsArray()) continue;
    for (const Value& c : codings->GetArray()) {
      if (StringMember(c, "code") == "III" || StringMember(c, "code") == "C48676") return true;
    }
  }
  return false;
}

struct MedicationFacts {
  bool ketamine = false;
  std::string lot;
  std::string ndc;
  std::string name;
  int64_t ug_per_ml = 0;  // from ingredient strength, for doses given in mL
};

MedicationFacts MedicationOf(const Value& owner, Resolver& resolver, const PostingContext& context) {
  MedicationFacts facts;
  const Value* concept_value = Member(owner, "medicationCodeableConcept");
  const Value* medication = resolver.Follow(Member(owner, "medicationReference"), owner);
  if (medication != nullptr) concept_value = Member(*medication, "code");
  facts.ketamine = IsKetamine(concept_value, context) || (medication != nullptr && ClaimsScheduleIII(*medication));
  if (concept_value != nullptr) {
    facts.name = StringMember(*concept_value, "text");
    if (const Value* codings = Member(*concept_value, "coding"); codings != nullptr && codings->IsArray()) {
      for (const Value& c : codings->GetArray()) {
        if (StringMember(c, "system") == kNdcSystem) facts.ndc = StringMember(c, "code");
        if (facts.name.empty()) facts.name = StringMember(c, "display");
      }
    }
  }
  if (medication != nullptr) {
    if (const Value* batch = Member(*medication, "batch")) facts.lot = StringMember(*batch, "lotNumber");
    if (const Value* ingredient = First(Member(*medication, "ingredient"))) {
      const Value* strength = Member(*ingredient, "strength");
      const Value* num = strength ? Member(*strength, "numerator") : nullptr;
      const Value* den = strength ? Member(*strength, "denominator") : nullptr;
      const Value* nv = num ? Member(*num, "value") : nullptr;
      const Value* dv = den ? Member(*den, "value") : nullptr;
      if (nv != nullptr && dv != nullptr && nv->IsNumber() && dv->IsNumber() && dv->GetDouble() > 0 &&
          StringMember(*num, "code") == "mg" && StringMember(*den, "code") == "mL") {
        facts.ug_per_ml = std::llround(nv->GetDouble() * 1000.0 / dv->GetDouble());
      }
    }
  }
  return facts;
}

// A Quantity in micrograms; nullopt when its unit is not a mass we know (or mL without strength).
std::optional<int64_t> QuantityUg(const Value* quantity, int64_t ug_per_ml) {
  if (quantity == nullptr) return std::nullopt;
  const Value* value = Member(*quantity, "value");
  if (value == nullptr || !value->IsNumber() || value->GetDouble() < 0) return std::nullopt;
  std::string unit = StringMember(*quantity, "code");
  if (unit.empty()) unit = StringMember(*quantity, "unit");
  const double v = value->GetDouble();
  double ug;
  if (unit == "mg") ug = v * 1e3;
  else if (unit == "ug" || unit == "mcg") ug = v;
  else if (unit == "g") ug = v * 1e6;
  else if ((unit == "mL" || unit == "ml") && ug_per_ml > 0) ug = v * static_cast<double>(ug_per_ml);
  else return std::nullopt;
  if (!std::isfinite(ug) || ug > 1e15) return std::nullopt;
  return std::llround(ug);  // FHIR decimals to the microgram: exact for up to three mg decimals
}

std::string NameOf(const Value* person) {
  if (person == nullptr) return {};
  const Value* name = First(Member(*person, "name"));
  if (name == nullptr) return {};
  if (std::string text = StringMember(*name, "text"); !text.empty()) return text;
  std::string out;
  if (const Value* given = Member(*name, "given"); given != nullptr && given->IsArray()) {
    for (const Value& g : given->GetArray()) {
      if (g.IsString()) out += std::string(g.GetString()) + " ";
    }
  }
  return out + StringMember(*name, "family");
}

std::string IdentifierOf(const Value* resource, const char* preferred_type = nullptr) {
  if (resource == nullptr) return {};
  const Value* ids = Member(*resource, "identifier");
  if (ids == nullptr || !ids->IsArray()) return {};
  if (preferred_type != nullptr) {
    for (const Value& id : ids->GetArray()) {
      const Value* coding = Member(id, "type") ? First(Member(*Member(id, "type"), "coding")) : nullptr;
      if (coding != nullptr && StringMember(*coding, "code") == preferred_type) return StringMember(id, "value");
    }
  }
  return ids->Empty() ? std::string() : StringMember((*ids)[0], "value");
}

std::string DeaOf(const Value* practitioner) {
  if (practitioner == nullptr) return {};
  const Value* ids = Member(*practitioner, "identifier");
  if (ids == nullptr || !ids->IsArray()) return {};
  for (const Value& id : ids->GetArray()) {
    std::string system = StringMember(id, "system");
    for (char& c : system) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (system == "http://terminology.hl7.org/namingsystem/usdeanumber") return StringMember(id, "value");
  }
  return {};
}

std::string AddressOf(const Value* patient) {
  const Value* a = patient ? First(Member(*patient, "address")) : nullptr;
  if (a == nullptr) return {};
  if (std::string text = StringMember(*a, "text"); !text.empty()) return text;
  std::string out;
  if (const Value* lines = Member(*a, "line"); lines != nullptr && lines->IsArray()) {
    for (const Value& l : lines->GetArray()) {
      if (l.IsString()) out += std::string(l.GetString()) + ", ";
    }
  }
  for (const char* part : {"city", "state", "postalCode"}) {
    if (std::string p = StringMember(*a, part); !p.empty()) out += p + " ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ',')) out.pop_back();
  return out;
}

std::string TimeOf(const Value& r, const char* datetime, const char* period) {
  std::string t = StringMember(r, datetime);
  if (t.empty()) {
    if (const Value* p = Member(r, period)) {
      t = StringMember(*p, "end");
      if (t.empty()) t = StringMember(*p, "start");
    }
  }
  return DateTimeToUtc(t).value_or(std::string());
}

void Patient(Writer& w, const Value* patient, const Value& owner) {
  w.Key("patient");
  w.StartObject();
  std::string id = IdentifierOf(patient, "MR");
  if (id.empty()) id = StringMember(*Member(owner, "subject"), "reference");
  fhir::PutIfNotEmpty(w, "id", id);
  fhir::PutIfNotEmpty(w, "name", NameOf(patient));
  fhir::PutIfNotEmpty(w, "address", AddressOf(patient));
  w.EndObject();
}

void Administration(const Value& ma, const std::string& name, Resolver& resolver, const PostingContext& context,
                    std::vector<Draft>& out) {
  if (StringMember(ma, "status") != "completed") return;
  MedicationFacts med = MedicationOf(ma, resolver, context);
  if (!med.ketamine) return;
  const Value* subject = Member(ma, "subject");
  const Value* patient = resolver.Follow(subject, ma);
  const Value* performer = nullptr;
  if (const Value* performers = Member(ma, "performer"); performers != nullptr && performers->IsArray()) {
    for (const Value& p : performers->GetArray()) {
      const Value* function = Member(p, "function") ? First(Member(*Member(p, "function"), "coding")) : nullptr;
      const std::string code = function ? StringMember(*function, "code") : "performer";
      if (code == "performer" && performer == nullptr) performer = resolver.Follow(Member(p, "actor"), ma);
    }
  }
  // The order by its placer number, as the order postings name it.
  std::string order;
  if (const Value* request = Member(ma, "request")) {
    order = Member(*request, "identifier") ? StringMember(*Member(*request, "identifier"), "value") : "";
    if (order.empty()) order = IdentifierOf(resolver.Follow(request, ma), "PLAC");
    if (order.empty()) order = StringMember(*request, "reference");
  }
  Draft d;
  d.kind = Kind::kAdministration;
  d.from_flow = true;
  d.location = context.location;
  d.ndc = med.ndc;
  d.lot = med.lot;
  if (d.lot.empty()) {
    d.lot = "UNKNOWN";
    d.flags.push_back("no-lot");
  }
  d.event_time = TimeOf(ma, "effectiveDateTime", "effectivePeriod");
  if (d.event_time.empty()) {
    d.event_time = FormatIsoTimestamp(Clock::System().Now());
    d.flags.push_back("no-time");
  }
  d.by = NameOf(performer);
  if (d.by.empty()) d.flags.push_back("no-performer");
  const Value* dosage = Member(ma, "dosage");
  std::optional<int64_t> amount = QuantityUg(dosage ? Member(*dosage, "dose") : nullptr, med.ug_per_ml);
  if (!amount) d.flags.push_back("amount-unknown");
  d.amount_ug = amount.value_or(0);
  if (order.empty()) d.flags.push_back("no-order");
  d.source = context.source + "|" + name + "#administration";
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Patient(w, patient, ma);
  fhir::PutIfNotEmpty(w, "order", order);
  fhir::PutIfNotEmpty(w, "medication", med.name);
  fhir::PutIfNotEmpty(w, "performer_id", IdentifierOf(performer));
  fhir::PutIfNotEmpty(w, "resource", name);
  w.EndObject();
  d.details.assign(buffer.GetString(), buffer.GetSize());
  const std::string performer_name = d.by;
  const std::string patient_id = IdentifierOf(patient, "MR");
  out.push_back(d);

  // The waste extension: the unused part of the dose, disposed of, with its witness.
  const Value* extensions = Member(ma, "extension");
  if (extensions == nullptr || !extensions->IsArray()) return;
  for (const Value& e : extensions->GetArray()) {
    if (StringMember(e, "url") != kWasteUrl) continue;
    Draft waste = d;
    waste.kind = Kind::kWaste;
    waste.flags.clear();
    if (d.lot == "UNKNOWN") waste.flags.push_back("no-lot");
    std::string reason, witness, witness_id;
    std::optional<int64_t> wasted;
    if (const Value* parts = Member(e, "extension"); parts != nullptr && parts->IsArray()) {
      for (const Value& part : parts->GetArray()) {
        const std::string url = StringMember(part, "url");
        if (url == "amount") wasted = QuantityUg(Member(part, "valueQuantity"), med.ug_per_ml);
        if (url == "reason" && Member(part, "valueCodeableConcept")) {
          const Value& cc = *Member(part, "valueCodeableConcept");
          reason = StringMember(cc, "text");
          if (const Value* c = First(Member(cc, "coding")); reason.empty() && c != nullptr) reason = StringMember(*c, "code");
        }
        if (url == "witness") {
          const Value* person = resolver.Follow(Member(part, "valueReference"), ma);
          witness = NameOf(person);
          witness_id = IdentifierOf(person);
        }
      }
    }
    if (!wasted) waste.flags.push_back("amount-unknown");
    waste.amount_ug = wasted.value_or(0);
    if (witness.empty() && context.waste_witness_required) waste.flags.push_back("waste-without-witness");
    if (!witness.empty() && witness == performer_name) waste.flags.push_back("witness-is-waster");
    waste.source = context.source + "|" + name + "#waste";
    rapidjson::StringBuffer wb;
    Writer ww(wb);
    ww.StartObject();
    fhir::PutIfNotEmpty(ww, "reason", reason);
    fhir::PutIfNotEmpty(ww, "witness", witness);
    fhir::PutIfNotEmpty(ww, "witness_id", witness_id);
    fhir::PutIfNotEmpty(ww, "order", order);
    fhir::PutIfNotEmpty(ww, "patient", patient_id);
    fhir::PutIfNotEmpty(ww, "resource", name);
    ww.EndObject();
    waste.details.assign(wb.GetString(), wb.GetSize());
    out.push_back(std::move(waste));
    break;
  }
}

void Order(const Value& mr, const std::string& name, Resolver& resolver, const PostingContext& context,
           std::vector<Draft>& out) {
  const std::string status = StringMember(mr, "status");
  if (status != "active" && status != "completed") return;
  MedicationFacts med = MedicationOf(mr, resolver, context);
  if (!med.ketamine) return;
  const Value* prescriber = resolver.Follow(Member(mr, "requester"), mr);
  const Value* patient = resolver.Follow(Member(mr, "subject"), mr);
  Draft d;
  d.kind = Kind::kOrder;
  d.from_flow = true;
  d.location = context.location;
  d.ndc = med.ndc;
  d.event_time = DateTimeToUtc(StringMember(mr, "authoredOn")).value_or(FormatIsoTimestamp(Clock::System().Now()));
  d.by = NameOf(prescriber);
  std::optional<int64_t> ordered;
  if (const Value* dispense = Member(mr, "dispenseRequest")) ordered = QuantityUg(Member(*dispense, "quantity"), med.ug_per_ml);
  if (!ordered) {
    if (const Value* dosage = First(Member(mr, "dosageInstruction"))) {
      if (const Value* dr = First(Member(*dosage, "doseAndRate"))) ordered = QuantityUg(Member(*dr, "doseQuantity"), med.ug_per_ml);
    }
  }
  d.amount_ug = ordered.value_or(0);
  // 21 CFR 1306.03: a prescriber of controlled substances is registered with the DEA.
  const std::string dea = DeaOf(prescriber);
  if (dea.empty()) d.flags.push_back("prescriber-without-dea");
  else if (!profiles::IsValidDeaNumber(dea)) d.flags.push_back("prescriber-dea-invalid");
  std::string order = IdentifierOf(&mr, "PLAC");
  if (order.empty()) order = name;
  d.source = context.source + "|" + name + "#order";
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  fhir::PutIfNotEmpty(w, "order", order);
  Patient(w, patient, mr);
  fhir::PutIfNotEmpty(w, "prescriber_dea", dea);
  fhir::PutIfNotEmpty(w, "medication", med.name);
  w.Key("ordered_known");
  w.Bool(ordered.has_value());
  fhir::PutIfNotEmpty(w, "resource", name);
  w.EndObject();
  d.details.assign(buffer.GetString(), buffer.GetSize());
  out.push_back(std::move(d));
}

}  // namespace

Result<std::vector<Draft>> DraftsFromFhir(const Value& payload, const PostingContext& context) {
  if (!payload.IsObject()) return InvalidInput("ledger posting: the payload is not a FHIR resource");
  Resolver resolver(payload, context);
  std::vector<Draft> out;
  // Names for sources: the Bundle's fullUrl, else Type/id.
  std::map<const Value*, std::string> names;
  if (StringMember(payload, "resourceType") == "Bundle") {
    if (const Value* entries = Member(payload, "entry"); entries != nullptr && entries->IsArray()) {
      for (const Value& e : entries->GetArray()) {
        if (const Value* r = Member(e, "resource")) names[r] = StringMember(e, "fullUrl");
      }
    }
  }
  for (const Value* r : resolver.resources()) {
    std::string name = names[r];
    if (name.empty()) name = StringMember(*r, "resourceType") + "/" + StringMember(*r, "id");
    const std::string type = StringMember(*r, "resourceType");
    if (type == "MedicationAdministration") Administration(*r, name, resolver, context, out);
    if (type == "MedicationRequest") Order(*r, name, resolver, context, out);
  }
  return out;
}

LedgerSender::LedgerSender(std::shared_ptr<Ledger> ledger, std::shared_ptr<store::MessageStore> store,
                           const profiles::ValueSetDef* ketamine_codes)
    : ledger_(std::move(ledger)), store_(std::move(store)), ketamine_codes_(ketamine_codes) {}

routing::SendResult LedgerSender::Send(const store::OutboxItem& item) {
  auto doc = fhir::ParseJson(item.write.payload);
  if (!doc.ok()) return {routing::SendResult::Kind::kPermanent, "not FHIR JSON: " + doc.status().message()};
  PostingContext context;
  // The key names the message (sending application|facility|control id) or the REST write.
  context.source = item.write.idempotency_key;
  context.location = ledger_->options().location;
  context.waste_witness_required = ledger_->options().waste_witness_required;
  context.ketamine_codes = ketamine_codes_;
  context.resolve = [this](std::string_view reference) -> std::unique_ptr<rapidjson::Document> {
    size_t slash = reference.find('/');
    if (slash == std::string_view::npos || store_ == nullptr) return nullptr;
    auto stored = store_->ReadResource(reference.substr(0, slash), reference.substr(slash + 1));
    if (!stored.ok()) return nullptr;
    auto resource = std::make_unique<rapidjson::Document>();
    resource->Parse(stored->json.data(), stored->json.size());
    if (resource->HasParseError()) return nullptr;
    return resource;
  };
  auto drafts = DraftsFromFhir(**doc, context);
  if (!drafts.ok()) return {routing::SendResult::Kind::kPermanent, drafts.status().message()};
  if (drafts->empty()) return {routing::SendResult::Kind::kDelivered, "nothing for the ledger"};
  auto appended = ledger_->Append(*drafts);
  if (!appended.ok()) {
    const bool retry = appended.status().code() == StatusCode::kUnavailable;
    return {retry ? routing::SendResult::Kind::kRetry : routing::SendResult::Kind::kPermanent, appended.status().message()};
  }
  log::Info("ledger.posted", {{"entries", std::to_string(appended->entries.size())},
                              {"already_posted", std::to_string(appended->duplicates)}});
  return {routing::SendResult::Kind::kDelivered,
          "posted " + std::to_string(appended->entries.size()) + " ledger entries" +
              (appended->duplicates > 0 ? " (" + std::to_string(appended->duplicates) + " already posted)" : "")};
}

}  // namespace ketamine::ledger
