#include "ledger/request.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <set>

#include "common/clock.h"
#include "fhir/json.h"
#include "profiles/identifiers.h"

namespace ketamine::ledger {
namespace {

using rapidjson::Value;

// Reads the request's fields; remembers which were read so an unknown one is refused.
class Fields {
 public:
  explicit Fields(const Value& request) : request_(request) {}

  const Value* Find(const char* key) {
    read_.insert(key);
    auto it = request_.FindMember(key);
    return it == request_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  }
  Status Text(const char* key, std::string& out, bool required) {
    const Value* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    if (!v->IsString()) return InvalidInput(std::string(key) + ": must be a string", Location(key));
    out.assign(v->GetString(), v->GetStringLength());
    if (required && out.empty()) return Missing(key);
    return Status::Ok();
  }
  Status Count(const char* key, int64_t& out, bool required) {
    const Value* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    if (!v->IsInt64() || v->GetInt64() < 0 || v->GetInt64() > 1000000) {
      return InvalidInput(std::string(key) + ": must be a whole number from 0 to 1000000", Location(key));
    }
    out = v->GetInt64();
    return Status::Ok();
  }
  // An amount in `unit`: a string ("12.5") or a number with at most microgram precision.
  Status Amount(const char* key, const std::string& unit, int64_t& out, bool required, bool allow_negative = false) {
    const Value* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    std::string text;
    if (v->IsString()) {
      text.assign(v->GetString(), v->GetStringLength());
    } else if (v->IsInt64()) {
      text = std::to_string(v->GetInt64());
    } else if (v->IsNumber()) {
      // A JSON number with a fraction arrives as a double: accepted when it is whole micrograms.
      const double scaled = v->GetDouble() * (unit == "g" ? 1e6 : unit == "mg" ? 1e3 : 1.0);
      if (!std::isfinite(scaled) || std::fabs(scaled) > 1e15 || std::fabs(scaled - std::round(scaled)) > 1e-6) {
        return InvalidInput(std::string(key) + ": give amounts finer than 1 microgram as text, or round them",
                            Location(key));
      }
      const auto ug = static_cast<int64_t>(std::llround(scaled));
      if (ug < 0 && !allow_negative) return InvalidInput(std::string(key) + ": must not be negative", Location(key));
      out = ug;
      return Status::Ok();
    } else {
      return InvalidInput(std::string(key) + ": must be a number or a decimal string", Location(key));
    }
    auto ug = ParseAmountUg(text, unit, allow_negative);
    if (!ug.ok()) return InvalidInput(std::string(key) + ": " + ug.status().message(), Location(key));
    out = *ug;
    return Status::Ok();
  }
  Status Time(const char* key, std::string& out, std::string_view now) {
    std::string text;
    KETAMINE_RETURN_IF_ERROR(Text(key, text, false));
    if (text.empty()) {
      out = std::string(now);
      return Status::Ok();
    }
    auto utc = DateTimeToUtc(text);
    if (!utc) return InvalidInput(std::string(key) + ": '" + text + "' is not a date or a dateTime with an offset", Location(key));
    out = *utc;
    return Status::Ok();
  }
  Status Unknown() {
    for (auto it = request_.MemberBegin(); it != request_.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (!read_.count(key)) return InvalidInput(key + ": unknown field for this kind", Location(key));
    }
    return Status::Ok();
  }
  static Status Missing(const char* key) { return InvalidInput(std::string(key) + ": is required", Location(key)); }

 private:
  const Value& request_;
  std::set<std::string, std::less<>> read_;
};

// A party (supplier, reverse distributor): name, address, DEA number with a valid check digit.
Status Party(Fields& f, const char* key, rapidjson::Writer<rapidjson::StringBuffer>& w, bool required) {
  const Value* v = f.Find(key);
  if (v == nullptr) return required ? Fields::Missing(key) : Status::Ok();
  if (!v->IsObject()) return InvalidInput(std::string(key) + ": must be an object", Location(key));
  std::string name, address, dea;
  for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
    std::string member(it->name.GetString(), it->name.GetStringLength());
    const std::string at = std::string(key) + "." + member;
    if (!it->value.IsString()) return InvalidInput(at + ": must be a string", Location(at));
    std::string text(it->value.GetString(), it->value.GetStringLength());
    if (member == "name") {
      name = text;
    } else if (member == "address") {
      address = text;
    } else if (member == "dea") {
      dea = text;
    } else {
      return InvalidInput(at + ": unknown field", Location(at));
    }
  }
  if (name.empty()) return Fields::Missing((std::string(key) + ".name").c_str());
  // 21 CFR 1304.22(c): the supplier's name, address and registration number.
  if (dea.empty()) return Fields::Missing((std::string(key) + ".dea").c_str());
  if (!profiles::IsValidDeaNumber(dea)) {
    return InvalidInput(std::string(key) + ".dea: '" + dea + "' is not a valid DEA number (registrant-type letter, a "
                        "second letter, seven digits with the check digit)", Location(std::string(key) + ".dea"));
  }
  w.Key(key);
  w.StartObject();
  w.Key("name");
  w.String(name.c_str());
  w.Key("address");
  w.String(address.c_str());
  w.Key("dea");
  w.String(dea.c_str());
  w.EndObject();
  return Status::Ok();
}

// A count that was given (negative: not given).
void PutCount(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key, int64_t value) {
  if (value < 0) return;
  w.Key(key);
  w.Int64(value);
}

bool OneOf(const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<Draft>> DraftsFromRequest(const Value& request, const LedgerOptions& options, std::string_view now) {
  if (!request.IsObject()) return InvalidInput("a ledger posting is a JSON object");
  Fields f(request);
  std::string kind_name;
  KETAMINE_RETURN_IF_ERROR(f.Text("kind", kind_name, true));
  std::optional<Kind> kind = KindFromName(kind_name);
  if (kind_name == "transfer") kind = Kind::kTransferOut;
  if (!kind || *kind == Kind::kTransferIn || *kind == Kind::kOrder) {
    return InvalidInput("kind: '" + kind_name + "' is not one of receipt, administration, waste, transfer, count, "
                        "adjustment, loss, destruction", Location("kind"));
  }
  Draft d;
  d.kind = *kind;
  std::string unit = "mg";
  KETAMINE_RETURN_IF_ERROR(f.Text("unit", unit, false));
  if (!OneOf(unit, {"mg", "ug", "mcg", "g"})) return InvalidInput("unit: must be mg, ug (mcg) or g", Location("unit"));
  KETAMINE_RETURN_IF_ERROR(f.Text("lot", d.lot, true));
  KETAMINE_RETURN_IF_ERROR(f.Text("ndc", d.ndc, d.kind == Kind::kReceipt));
  KETAMINE_RETURN_IF_ERROR(f.Text("by", d.by, true));
  KETAMINE_RETURN_IF_ERROR(f.Time("time", d.event_time, now));
  KETAMINE_RETURN_IF_ERROR(f.Text("request_id", d.source, false));  // a client's retry is not posted twice
  if (!d.source.empty()) d.source = "request:" + d.source;
  if (d.kind != Kind::kTransferOut) {
    d.location = options.location;
    KETAMINE_RETURN_IF_ERROR(f.Text("location", d.location, false));
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  std::string note;
  KETAMINE_RETURN_IF_ERROR(f.Text("note", note, false));
  fhir::PutIfNotEmpty(w, "note", note);
  std::vector<Draft> out;
  std::string transfer_to;  // a transfer's second entry is booked there
  switch (d.kind) {
    case Kind::kReceipt: {
      // 21 CFR 1304.22(c): finished form, units per commercial container, number of containers,
      // date of receipt, supplier; the invoice is what auditors reconcile receipts against.
      int64_t containers = 0, invoice_containers = -1, per_container_ug = 0, volume_ul = 0;
      std::string product, form, expiry, invoice;
      KETAMINE_RETURN_IF_ERROR(f.Count("containers", containers, true));
      if (containers == 0) return InvalidInput("containers: must be more than 0", Location("containers"));
      KETAMINE_RETURN_IF_ERROR(f.Amount("container_amount", unit, per_container_ug, true));
      if (per_container_ug == 0) return InvalidInput("container_amount: must be more than 0", Location("container_amount"));
      KETAMINE_RETURN_IF_ERROR(f.Amount("container_volume_ml", "mg", volume_ul, false));  // mL in thousandths
      KETAMINE_RETURN_IF_ERROR(f.Text("product", product, false));
      KETAMINE_RETURN_IF_ERROR(f.Text("form", form, false));
      KETAMINE_RETURN_IF_ERROR(f.Text("expiry", expiry, false));
      if (!expiry.empty() && !DateTimeToUtc(expiry)) return InvalidInput("expiry: is not a date", Location("expiry"));
      KETAMINE_RETURN_IF_ERROR(f.Text("invoice", invoice, false));
      if (f.Find("invoice_containers") != nullptr) KETAMINE_RETURN_IF_ERROR(f.Count("invoice_containers", invoice_containers, true));
      KETAMINE_RETURN_IF_ERROR(Party(f, "supplier", w, true));
      d.amount_ug = containers * per_container_ug;
      w.Key("containers");
      w.Int64(containers);
      w.Key("container_ug");
      w.Int64(per_container_ug);
      if (volume_ul > 0) {
        w.Key("container_volume_ml");
        w.String(FormatMg(volume_ul).c_str());
      }
      fhir::PutIfNotEmpty(w, "product", product);
      fhir::PutIfNotEmpty(w, "form", form);
      fhir::PutIfNotEmpty(w, "expiry", expiry);
      fhir::PutIfNotEmpty(w, "invoice", invoice);
      PutCount(w, "invoice_containers", invoice_containers);
      break;
    }
    case Kind::kAdministration: {
      std::string order, patient_id, patient_name, patient_address;
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("order", order, false));
      const Value* patient = f.Find("patient");
      if (patient == nullptr || !patient->IsObject()) return InvalidInput("patient: is required (an object with id, name, address)", Location("patient"));
      // 21 CFR 1304.22(c): the name and address of the patient.
      for (auto it = patient->MemberBegin(); it != patient->MemberEnd(); ++it) {
        std::string member(it->name.GetString(), it->name.GetStringLength());
        if (!it->value.IsString()) return InvalidInput("patient." + member + ": must be a string", Location("patient." + member));
        std::string text(it->value.GetString(), it->value.GetStringLength());
        if (member == "id") patient_id = text;
        else if (member == "name") patient_name = text;
        else if (member == "address") patient_address = text;
        else return InvalidInput("patient." + member + ": unknown field", Location("patient." + member));
      }
      if (patient_name.empty()) return Fields::Missing("patient.name");
      w.Key("patient");
      w.StartObject();
      fhir::PutIfNotEmpty(w, "id", patient_id);
      fhir::PutIfNotEmpty(w, "name", patient_name);
      fhir::PutIfNotEmpty(w, "address", patient_address);
      w.EndObject();
      fhir::PutIfNotEmpty(w, "order", order);
      if (order.empty()) d.flags.push_back("no-order");
      break;
    }
    case Kind::kWaste: {
      std::string reason, witness, method, order, patient;
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("reason", reason, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("witness", witness, options.waste_witness_required));
      KETAMINE_RETURN_IF_ERROR(f.Text("method", method, false));
      KETAMINE_RETURN_IF_ERROR(f.Text("order", order, false));
      KETAMINE_RETURN_IF_ERROR(f.Text("patient", patient, false));
      if (!witness.empty() && witness == d.by) {
        return InvalidInput("witness: must be someone other than the person wasting ('" + d.by + "')", Location("witness"));
      }
      fhir::PutIfNotEmpty(w, "reason", reason);
      fhir::PutIfNotEmpty(w, "witness", witness);
      fhir::PutIfNotEmpty(w, "method", method);
      fhir::PutIfNotEmpty(w, "order", order);
      fhir::PutIfNotEmpty(w, "patient", patient);
      break;
    }
    case Kind::kTransferOut: {
      std::string from, to, witness;
      KETAMINE_RETURN_IF_ERROR(f.Text("from", from, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("to", to, true));
      if (from == to) return InvalidInput("to: must differ from 'from'", Location("to"));
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("witness", witness, false));
      fhir::PutIfNotEmpty(w, "from", from);
      fhir::PutIfNotEmpty(w, "to", to);
      fhir::PutIfNotEmpty(w, "witness", witness);
      d.location = from;
      transfer_to = to;
      break;
    }
    case Kind::kCount: {
      std::string method = "exact", inventory = "routine", business, witness;
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("method", method, false));
      // 21 CFR 1304.11(e)(3): opened Schedule III containers may be estimated.
      if (!OneOf(method, {"exact", "estimated"})) return InvalidInput("method: must be exact or estimated", Location("method"));
      KETAMINE_RETURN_IF_ERROR(f.Text("inventory", inventory, false));
      // 1304.11(a)-(c): initial and biennial inventories, and counts in between.
      if (!OneOf(inventory, {"initial", "biennial", "routine"})) {
        return InvalidInput("inventory: must be initial, biennial or routine", Location("inventory"));
      }
      KETAMINE_RETURN_IF_ERROR(f.Text("business", business, inventory != "routine"));
      if (!business.empty() && !OneOf(business, {"open", "close"})) {
        return InvalidInput("business: must be open or close (taken at the opening or close of business)", Location("business"));
      }
      KETAMINE_RETURN_IF_ERROR(f.Text("witness", witness, false));
      fhir::PutIfNotEmpty(w, "method", method);
      fhir::PutIfNotEmpty(w, "inventory", inventory);
      fhir::PutIfNotEmpty(w, "business", business);
      fhir::PutIfNotEmpty(w, "witness", witness);
      break;
    }
    case Kind::kAdjustment: {
      std::string reason;
      int64_t corrects = 0;
      KETAMINE_RETURN_IF_ERROR(f.Amount("change", unit, d.change_ug, true, /*allow_negative=*/true));
      if (d.change_ug == 0) return InvalidInput("change: must not be 0", Location("change"));
      KETAMINE_RETURN_IF_ERROR(f.Text("reason", reason, true));
      KETAMINE_RETURN_IF_ERROR(f.Count("corrects", corrects, false));
      fhir::PutIfNotEmpty(w, "reason", reason);
      PutCount(w, "corrects", corrects > 0 ? corrects : -1);  // the entry this one corrects
      break;
    }
    case Kind::kLoss: {
      // DEA Form 106: type of loss, date of discovery, what and how much, circumstances, police report.
      std::string type, discovered, description, police;
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("loss_type", type, true));
      if (!OneOf(type, {"theft", "armed-robbery", "employee-pilferage", "customer-theft", "lost-in-transit", "other"})) {
        return InvalidInput("loss_type: must be theft, armed-robbery, employee-pilferage, customer-theft, lost-in-transit or other",
                            Location("loss_type"));
      }
      KETAMINE_RETURN_IF_ERROR(f.Time("discovered", discovered, now));
      KETAMINE_RETURN_IF_ERROR(f.Text("description", description, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("police_report", police, false));
      fhir::PutIfNotEmpty(w, "loss_type", type);
      fhir::PutIfNotEmpty(w, "discovered", discovered);
      fhir::PutIfNotEmpty(w, "description", description);
      fhir::PutIfNotEmpty(w, "police_report", police);
      break;
    }
    case Kind::kDestruction: {
      // DEA Form 41: method, date, location, and two authorized employees as witnesses; a return
      // to a reverse distributor names it with its DEA number.
      std::string disposition, method;
      int64_t full = -1;
      KETAMINE_RETURN_IF_ERROR(f.Amount("amount", unit, d.amount_ug, true));
      KETAMINE_RETURN_IF_ERROR(f.Text("disposition", disposition, true));
      if (!OneOf(disposition, {"destroyed", "returned"})) {
        return InvalidInput("disposition: must be destroyed or returned", Location("disposition"));
      }
      KETAMINE_RETURN_IF_ERROR(f.Text("method", method, disposition == "destroyed"));
      if (f.Find("full_containers") != nullptr) KETAMINE_RETURN_IF_ERROR(f.Count("full_containers", full, true));
      std::vector<std::string> witnesses;
      if (const Value* list = f.Find("witnesses")) {
        if (!list->IsArray()) return InvalidInput("witnesses: must be a list of names", Location("witnesses"));
        for (const Value& name : list->GetArray()) {
          if (!name.IsString() || name.GetStringLength() == 0) return InvalidInput("witnesses: must be a list of names", Location("witnesses"));
          witnesses.emplace_back(name.GetString(), name.GetStringLength());
        }
      }
      std::set<std::string> distinct(witnesses.begin(), witnesses.end());
      distinct.erase(d.by);
      if (disposition == "destroyed" && static_cast<int>(distinct.size()) < options.destruction_witnesses) {
        return InvalidInput("witnesses: a destruction needs " + std::to_string(options.destruction_witnesses) +
                            " witnesses other than the person destroying (DEA Form 41)", Location("witnesses"));
      }
      fhir::PutIfNotEmpty(w, "disposition", disposition);
      fhir::PutIfNotEmpty(w, "method", method);
      PutCount(w, "full_containers", full);
      w.Key("witnesses");
      w.StartArray();
      for (const std::string& name : witnesses) w.String(name.c_str());
      w.EndArray();
      KETAMINE_RETURN_IF_ERROR(Party(f, "reverse_distributor", w, disposition == "returned"));
      break;
    }
    case Kind::kTransferIn:
    case Kind::kOrder:
      break;
  }
  KETAMINE_RETURN_IF_ERROR(f.Unknown());
  w.EndObject();
  d.details.assign(buffer.GetString(), buffer.GetSize());
  if (d.kind == Kind::kTransferOut) {
    // Two entries in one transaction: out of one location, into the other.
    Draft in = d;
    in.kind = Kind::kTransferIn;
    in.location = transfer_to;
    if (!in.source.empty()) in.source += "#in";
    out.push_back(std::move(d));
    out.push_back(std::move(in));
  } else {
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<Draft>> DraftsFromRequestText(std::string_view json, const LedgerOptions& options, std::string_view now) {
  fhir::JsonLimits limits;
  limits.max_bytes = 1u << 20;
  limits.max_depth = 8;
  KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJson(json, limits));
  return DraftsFromRequest(*doc, options, now);
}

}  // namespace ketamine::ledger
