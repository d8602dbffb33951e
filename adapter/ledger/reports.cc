#include "ledger/reports.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <map>
#include <set>

#include "common/clock.h"
#include "fhir/json.h"

namespace ketamine::ledger {
namespace {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string Str(const Value& object, const char* key) { return fhir::StringMember(object, key); }

int64_t Int(const Value& object, const char* key) {
  if (!object.IsObject()) return 0;
  auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

const Value& Details(const rapidjson::Document& body) {
  static const Value kEmpty(rapidjson::kObjectType);
  if (!body.IsObject()) return kEmpty;
  auto it = body.FindMember("details");
  return it != body.MemberEnd() && it->value.IsObject() ? it->value : kEmpty;
}

std::string Flags(const rapidjson::Document& body) {
  std::string out;
  if (!body.IsObject()) return out;
  auto it = body.FindMember("flags");
  if (it == body.MemberEnd() || !it->value.IsArray()) return out;
  for (const Value& f : it->value.GetArray()) {
    if (!f.IsString()) continue;
    if (!out.empty()) out += ' ';
    out += f.GetString();
  }
  return out;
}

// Date-only bounds cover their whole day.
std::string DayStart(const std::string& t) { return t.size() == 10 ? t + "T00:00:00Z" : t; }
std::string DayEnd(const std::string& t) { return t.size() == 10 ? t + "T23:59:59Z" : t; }

std::string AddDays(const std::string& date_time, int days) {
  if (date_time.size() < 10) return {};
  std::tm tm{};
  tm.tm_year = std::atoi(date_time.substr(0, 4).c_str()) - 1900;
  tm.tm_mon = std::atoi(date_time.substr(5, 2).c_str()) - 1;
  tm.tm_mday = std::atoi(date_time.substr(8, 2).c_str()) + days;
  std::time_t t = timegm(&tm);
  std::tm out{};
  gmtime_r(&t, &out);
  char text[16];
  std::strftime(text, sizeof(text), "%Y-%m-%d", &out);
  return text;
}

std::string PeriodOf(const std::string& time, const std::string& period) {
  if (period == "day") return time.substr(0, 10);
  if (period == "month") return time.substr(0, 7);
  std::tm tm{};  // ISO week
  tm.tm_year = std::atoi(time.substr(0, 4).c_str()) - 1900;
  tm.tm_mon = std::atoi(time.substr(5, 2).c_str()) - 1;
  tm.tm_mday = std::atoi(time.substr(8, 2).c_str());
  std::time_t t = timegm(&tm);
  std::tm norm{};
  gmtime_r(&t, &norm);
  char text[16];
  std::strftime(text, sizeof(text), "%G-W%V", &norm);
  return text;
}

struct LotInfo {
  std::string ndc, product, form, expiry;
  int64_t container_ug = 0;
};

struct FlagText {
  const char* severity;
  const char* text;
};
const std::map<std::string, FlagText>& FlagTexts() {
  static const std::map<std::string, FlagText> k = {
      {"overdraw", {"high", "took more than the lot's balance at its location"}},
      {"unknown-lot", {"high", "names a lot never received at this location"}},
      {"no-lot", {"high", "carries no lot number: it cannot be traced to stock"}},
      {"amount-unknown", {"high", "amount not in mg (or in mL with a known strength): recorded as 0"}},
      {"no-order", {"moderate", "administration without an order"}},
      {"waste-without-witness", {"high", "waste without a witness"}},
      {"witness-is-waster", {"high", "the witness is the person who wasted"}},
      {"ndc-mismatch", {"moderate", "NDC differs from the lot's receipt"}},
      {"no-performer", {"high", "who administered is not recorded (21 CFR 1304.22(c))"}},
      {"no-time", {"moderate", "no time of administration in the message: the time of posting was used"}},
      {"prescriber-dea-invalid", {"high", "the prescriber's DEA number fails its check digit"}},
      {"prescriber-without-dea", {"moderate", "the prescriber has no DEA number"}},
  };
  return k;
}

class Builder {
 public:
  Builder(Ledger& ledger, const ReportOptions& options) : ledger_(ledger), o_(options) {}

  Result<Table> Make(const std::string& name) {
    Table t;
    t.name = name;
    t.generated_at = FormatIsoTimestamp(Clock::System().Now());
    t.registration = ledger_.options().registration;
    const std::string from = DayStart(o_.from), to = DayEnd(o_.to);
    const std::string as_of = o_.as_of.empty() ? "9999" : DayEnd(o_.as_of);
    if (name == "entries") {
      t.columns = {"seq", "recorded_at", "kind", "location", "ndc", "lot", "event_time", "quantity_mg", "balance_mg",
                   "source", "body", "prev_hash", "hash"};
      KETAMINE_RETURN_IF_ERROR(ledger_.ForEach({}, [&](const Entry& e) {
        if (o_.progress) o_.progress(e.seq);
        if (InRange(e.event_time, from, to)) {
          t.rows.push_back({std::to_string(e.seq), e.recorded_at, std::string(KindName(e.kind)), e.location, e.ndc, e.lot,
                            e.event_time, FormatMg(e.quantity_ug), FormatMg(e.balance_ug), e.source, e.body, e.prev_hash,
                            e.hash});
        }
        return true;
      }));
      return t;
    }
    if (name == "waste-by-clinician") {
      if (o_.period != "day" && o_.period != "week" && o_.period != "month") {
        return InvalidInput("period: must be day, week or month");
      }
      struct Sum {
        int64_t count = 0, total_ug = 0, witnessed = 0;
      };
      std::map<std::pair<std::string, std::string>, Sum> sums;
      EntryFilter wastes;
      wastes.kind = Kind::kWaste;
      KETAMINE_RETURN_IF_ERROR(ledger_.ForEach(wastes, [&](const Entry& e) {
        if (o_.progress) o_.progress(e.seq);
        if (!InRange(e.event_time, from, to)) return true;
        rapidjson::Document body;
        body.Parse(e.body.c_str());
        Sum& s = sums[{PeriodOf(e.event_time, o_.period), Str(body, "by")}];
        ++s.count;
        s.total_ug += e.quantity_ug < 0 ? -e.quantity_ug : e.quantity_ug;
        if (!Str(Details(body), "witness").empty()) ++s.witnessed;
        return true;
      }));
      t.columns = {"period", "clinician", "wastes", "total_mg", "witnessed", "unwitnessed"};
      for (const auto& [key, s] : sums) {
        t.rows.push_back({key.first, key.second, std::to_string(s.count), FormatMg(s.total_ug), std::to_string(s.witnessed),
                          std::to_string(s.count - s.witnessed)});
      }
      return t;
    }
    if (name != "administration-log" && name != "inventory" && name != "discrepancies") {
      return InvalidInput("unknown report '" + name +
                          "' (administration-log, inventory, discrepancies, waste-by-clinician, entries)");
    }
    // One pass over the ledger for the other three.
    std::map<std::string, LotInfo> lots;
    struct Book {
      int64_t on_hand_ug = 0;  // as of
      int64_t balance_ug = 0;  // now
      int64_t count_ug = -1;
      std::string count_method, count_time;
      std::string ndc;
    };
    std::map<std::pair<std::string, std::string>, Book> books;
    struct OrderSums {
      bool seen = false;
      bool ordered_known = false;
      int64_t ordered_ug = 0, administered_ug = 0, wasted_ug = 0;
      int64_t last_seq = 0;
      std::string last_time;
    };
    std::map<std::string, OrderSums> orders;
    std::map<std::string, int64_t> invoices;  // invoice|lot -> first seq
    std::set<int64_t> corrected;              // counts that an adjustment corrects
    std::vector<std::vector<std::string>> found;  // discrepancies: seq, time, type, severity, location, lot, detail
    auto issue = [&](const Entry& e, const std::string& type, const std::string& severity, const std::string& detail) {
      found.push_back({std::to_string(e.seq), e.event_time, type, severity, e.location, e.lot, detail});
    };
    struct CountCheck {
      Entry entry;
      int64_t counted_ug;
      int64_t book_ug;
    };
    std::vector<CountCheck> counts;
    t.columns = name == "administration-log"
                    ? std::vector<std::string>{"seq", "time", "kind", "location", "ndc", "product", "form", "container_mg",
                                               "lot", "amount_mg", "patient_id", "patient_name", "patient_address", "order",
                                               "by", "witness", "reason", "method", "flags"}
                    : std::vector<std::string>{};
    KETAMINE_RETURN_IF_ERROR(ledger_.ForEach({}, [&](const Entry& e) {
      if (o_.progress) o_.progress(e.seq);
      rapidjson::Document body;
      body.Parse(e.body.c_str());
      const Value& d = Details(body);
      if (e.kind == Kind::kReceipt && lots.find(e.lot) == lots.end()) {
        lots[e.lot] = {e.ndc, Str(d, "product"), Str(d, "form"), Str(d, "expiry"), Int(d, "container_ug")};
      }
      if (!e.lot.empty()) {
        Book& b = books[{e.location, e.lot}];
        b.balance_ug = e.balance_ug;
        if (b.ndc.empty()) b.ndc = e.ndc;
        if (e.event_time <= as_of) {
          b.on_hand_ug += e.quantity_ug;
          if (e.kind == Kind::kCount) {
            b.count_ug = Int(body, "amount_ug");
            b.count_method = Str(d, "method");
            b.count_time = e.event_time;
          }
        }
      }
      const bool in_range = InRange(e.event_time, from, to);
      if (name == "administration-log" && in_range &&
          (e.kind == Kind::kAdministration || e.kind == Kind::kWaste || e.kind == Kind::kLoss ||
           e.kind == Kind::kDestruction)) {
        const LotInfo& lot = lots[e.lot];
        std::string patient_id, patient_name, patient_address;
        if (auto p = d.FindMember("patient"); p != d.MemberEnd()) {
          if (p->value.IsObject()) {
            patient_id = Str(p->value, "id"), patient_name = Str(p->value, "name"), patient_address = Str(p->value, "address");
          } else if (p->value.IsString()) {
            patient_id = p->value.GetString();
          }
        }
        std::string witness = Str(d, "witness");
        if (auto ws = d.FindMember("witnesses"); ws != d.MemberEnd() && ws->value.IsArray()) {
          for (const Value& w : ws->value.GetArray()) {
            if (w.IsString()) witness += (witness.empty() ? "" : "; ") + std::string(w.GetString());
          }
        }
        std::string reason = Str(d, "reason");
        if (reason.empty()) reason = Str(d, "loss_type").empty() ? Str(d, "disposition") : Str(d, "loss_type");
        t.rows.push_back({std::to_string(e.seq), e.event_time, std::string(KindName(e.kind)), e.location, e.ndc,
                          lot.product, lot.form, lot.container_ug > 0 ? FormatMg(lot.container_ug) : "", e.lot,
                          FormatMg(-e.quantity_ug), patient_id, patient_name, patient_address, Str(d, "order"),
                          Str(body, "by"), witness, reason, Str(d, "method"), Flags(body)});
      }
      if (name != "discrepancies") return true;
      // Flags the postings carry.
      if (body.IsObject() && body.HasMember("flags") && body["flags"].IsArray()) {
        for (const Value& f : body["flags"].GetArray()) {
          if (!f.IsString()) continue;
          auto text = FlagTexts().find(f.GetString());
          std::string detail = std::string(KindName(e.kind)) + " " +
                               (text != FlagTexts().end() ? text->second.text : f.GetString());
          if (std::string(f.GetString()) == "overdraw") detail += " (balance after: " + FormatMg(e.balance_ug) + " mg)";
          issue(e, f.GetString(), text != FlagTexts().end() ? text->second.severity : "moderate", detail);
        }
      }
      switch (e.kind) {
        case Kind::kReceipt: {
          const std::string invoice = Str(d, "invoice");
          if (invoice.empty()) {
            issue(e, "receipt-without-invoice", "moderate", "receipt without an invoice number to reconcile against");
          } else {
            auto [it, fresh] = invoices.try_emplace(invoice + "|" + e.lot, e.seq);
            if (!fresh) issue(e, "invoice-posted-twice", "moderate", "invoice " + invoice + " was already received for this lot in entry " + std::to_string(it->second));
          }
          if (d.HasMember("invoice_containers") && Int(d, "invoice_containers") != Int(d, "containers")) {
            issue(e, "receipt-invoice-mismatch", "high",
                  "invoice " + invoice + " lists " + std::to_string(Int(d, "invoice_containers")) + " containers, " +
                      std::to_string(Int(d, "containers")) + " were received");
          }
          break;
        }
        case Kind::kCount:
          counts.push_back({e, Int(body, "amount_ug"), Int(body, "book_ug")});
          break;
        case Kind::kAdjustment:
          if (int64_t c = Int(d, "corrects"); c > 0) corrected.insert(c);
          break;
        case Kind::kLoss: {
          std::string discovered = Str(d, "discovered");
          if (discovered.empty()) discovered = e.event_time;
          issue(e, "loss-reported", "high",
                Str(d, "loss_type") + " of " + FormatMg(-e.quantity_ug) + " mg discovered " + discovered.substr(0, 10) +
                    ": notify the DEA Field Division within one business day; DEA Form 106 due by " +
                    AddDays(discovered, 45));
          break;
        }
        case Kind::kOrder: {
          OrderSums& o = orders[Str(d, "order")];
          o.seen = true;
          if (d.HasMember("ordered_known") && d["ordered_known"].IsBool() && d["ordered_known"].GetBool()) {
            o.ordered_known = true;
            o.ordered_ug = Int(body, "amount_ug");
          }
          break;
        }
        case Kind::kAdministration:
        case Kind::kWaste: {
          const std::string order = Str(d, "order");
          if (order.empty()) break;
          OrderSums& o = orders[order];
          (e.kind == Kind::kAdministration ? o.administered_ug : o.wasted_ug) += -e.quantity_ug;
          o.last_seq = e.seq;
          o.last_time = e.event_time;
          break;
        }
        default:
          break;
      }
      return true;
    }));
    if (name == "administration-log") return t;
    if (name == "inventory") {
      t.columns = {"location", "lot", "ndc", "product", "form", "container_mg", "expiry", "on_hand_mg", "containers",
                   "last_count_mg", "last_count_method", "last_count_time", "inventory", "business", "as_of"};
      for (const auto& [key, b] : books) {
        const LotInfo& lot = lots[key.second];
        std::string containers;
        if (lot.container_ug > 0) {
          // On hand in containers, to a hundredth: estimated counts of opened containers (1304.11(e)(3)).
          containers = FormatMg(b.on_hand_ug * 1000 / lot.container_ug / 10 * 10);
        }
        t.rows.push_back({key.first, key.second, b.ndc.empty() ? lot.ndc : b.ndc, lot.product, lot.form,
                          lot.container_ug > 0 ? FormatMg(lot.container_ug) : "", lot.expiry, FormatMg(b.on_hand_ug),
                          containers, b.count_ug >= 0 ? FormatMg(b.count_ug) : "", b.count_method, b.count_time,
                          o_.inventory_kind, o_.business, o_.as_of.empty() ? t.generated_at : as_of});
      }
      return t;
    }
    // Discrepancies found after the pass.
    for (const CountCheck& c : counts) {
      const int64_t diff = c.counted_ug - c.book_ug;
      if (diff == 0) continue;
      const bool fixed = corrected.count(c.entry.seq) > 0;
      std::vector<std::string> row = {std::to_string(c.entry.seq), c.entry.event_time, "count-mismatch",
                                      fixed ? "low" : "high", c.entry.location, c.entry.lot,
                                      "counted " + FormatMg(c.counted_ug) + " mg, book " + FormatMg(c.book_ug) +
                                          " mg, difference " + FormatMg(diff) + " mg" +
                                          (fixed ? " (corrected by an adjustment)" : "")};
      found.push_back(std::move(row));
    }
    for (const auto& [order, o] : orders) {
      if (order.empty() || o.last_seq == 0) continue;
      const int64_t used = o.administered_ug + o.wasted_ug;
      std::vector<std::string> row = {std::to_string(o.last_seq), o.last_time, "", "", "", "", ""};
      if (!o.seen) {
        if (orders.size() > 0 && std::any_of(orders.begin(), orders.end(), [](const auto& p) { return p.second.seen; })) {
          row[2] = "order-not-seen", row[3] = "low", row[6] = "order " + order + " was administered but never seen in the message flow";
          found.push_back(row);
        }
        continue;
      }
      if (!o.ordered_known) continue;
      if (used > o.ordered_ug) {
        row[2] = "order-exceeded", row[3] = "high";
        row[6] = "order " + order + ": administered " + FormatMg(o.administered_ug) + " mg + wasted " + FormatMg(o.wasted_ug) +
                 " mg is more than the " + FormatMg(o.ordered_ug) + " mg ordered";
        found.push_back(row);
      } else if (used < o.ordered_ug) {
        row[2] = "order-unaccounted", row[3] = "moderate";
        row[6] = "order " + order + ": administered " + FormatMg(o.administered_ug) + " mg + wasted " + FormatMg(o.wasted_ug) +
                 " mg accounts for less than the " + FormatMg(o.ordered_ug) + " mg ordered";
        found.push_back(row);
      }
    }
    const std::string today = t.generated_at.substr(0, 10);
    for (const auto& [key, b] : books) {
      if (b.balance_ug < 0) {
        found.push_back({"", "", "negative-balance", "high", key.first, key.second,
                         "the book balance is " + FormatMg(b.balance_ug) + " mg: stock was used that the ledger never received"});
      }
      const LotInfo& lot = lots[key.second];
      if (b.balance_ug > 0 && !lot.expiry.empty() && lot.expiry < today) {
        found.push_back({"", "", "expired-on-hand", "moderate", key.first, key.second,
                         FormatMg(b.balance_ug) + " mg expired " + lot.expiry + ": destroy (DEA Form 41) or return it"});
      }
    }
    t.columns = {"seq", "time", "type", "severity", "location", "lot", "detail"};
    t.rows = std::move(found);
    return t;
  }

 private:
  static bool InRange(const std::string& time, const std::string& from, const std::string& to) {
    return (from.empty() || time >= from) && (to.empty() || time <= to);
  }
  Ledger& ledger_;
  const ReportOptions& o_;
};

std::string CsvField(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void RowObject(Writer& w, const Table& t, const std::vector<std::string>& row) {
  w.StartObject();
  for (size_t i = 0; i < t.columns.size() && i < row.size(); ++i) {
    w.Key(t.columns[i].c_str());
    if (t.columns[i] == "body" && !row[i].empty()) {
      w.RawValue(row[i].data(), row[i].size(), rapidjson::kObjectType);
    } else {
      w.String(row[i].data(), static_cast<rapidjson::SizeType>(row[i].size()));
    }
  }
  w.EndObject();
}

}  // namespace

Result<Table> MakeReport(Ledger& ledger, const std::string& name, const ReportOptions& options) {
  for (const std::string* t : {&options.from, &options.to, &options.as_of}) {
    if (!t->empty() && !DateTimeToUtc(*t)) return InvalidInput("'" + *t + "' is not a date or a dateTime with an offset");
  }
  if (!options.inventory_kind.empty() && options.inventory_kind != "initial" && options.inventory_kind != "biennial") {
    return InvalidInput("inventory kind: must be initial or biennial");
  }
  if (!options.business.empty() && options.business != "open" && options.business != "close") {
    return InvalidInput("business: must be open or close");
  }
  ReportOptions normalized = options;
  for (std::string* t : {&normalized.from, &normalized.to, &normalized.as_of}) {
    if (!t->empty()) *t = *DateTimeToUtc(*t);
  }
  Builder builder(ledger, normalized);
  return builder.Make(name);
}

std::string ToCsv(const Table& t) {
  std::string out;
  for (size_t i = 0; i < t.columns.size(); ++i) out += (i ? "," : "") + CsvField(t.columns[i]);
  out += "\r\n";
  for (const auto& row : t.rows) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + CsvField(row[i]);
    out += "\r\n";
  }
  return out;
}

std::string ToJson(const Table& t) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("report");
  w.String(t.name.c_str());
  w.Key("generated_at");
  w.String(t.generated_at.c_str());
  w.Key("registration");
  w.String(t.registration.c_str());
  w.Key("rows");
  w.StartArray();
  for (const auto& row : t.rows) RowObject(w, t, row);
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ToNdjson(const Table& t) {
  std::string out;
  for (const auto& row : t.rows) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    RowObject(w, t, row);
    out.append(buffer.GetString(), buffer.GetSize());
    out += '\n';
  }
  return out;
}

Result<std::string> ToFhirBundle(const Table& t) {
  if (t.name != "administration-log" && t.name != "inventory" && t.name != "discrepancies") {
    return Unsupported("report '" + t.name + "' has no FHIR form (use csv or json)");
  }
  auto col = [&](const std::vector<std::string>& row, const char* name) -> std::string {
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i] == name) return i < row.size() ? row[i] : "";
    }
    return "";
  };
  auto mg = [](Writer& w, const char* key, const std::string& value) {
    w.Key(key);
    w.StartObject();
    w.Key("value");
    w.RawValue(value.c_str(), value.size(), rapidjson::kNumberType);  // exact decimal text
    w.Key("unit");
    w.String("mg");
    w.Key("system");
    w.String("http://unitsofmeasure.org");
    w.Key("code");
    w.String("mg");
    w.EndObject();
  };
  auto code = [&](Writer& w, const std::string& ndc, const std::string& text) {
    w.StartObject();
    if (!ndc.empty()) {
      w.Key("coding");
      w.StartArray();
      w.StartObject();
      fhir::PutIfNotEmpty(w, "system", "http://hl7.org/fhir/sid/ndc");
      fhir::PutIfNotEmpty(w, "code", ndc);
      w.EndObject();
      w.EndArray();
    }
    w.Key("text");
    w.String(text.empty() ? "ketamine" : text.c_str());
    w.EndObject();
  };
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  fhir::PutIfNotEmpty(w, "resourceType", "Bundle");
  fhir::PutIfNotEmpty(w, "type", "collection");
  fhir::PutIfNotEmpty(w, "timestamp", t.generated_at);
  w.Key("entry");
  w.StartArray();
  int n = 0;
  for (const auto& row : t.rows) {
    ++n;
    if (t.name == "administration-log" && col(row, "kind") != "administration") continue;  // disposals: CSV/JSON
    w.StartObject();
    w.Key("resource");
    w.StartObject();
    if (t.name == "administration-log") {
      fhir::PutIfNotEmpty(w, "resourceType", "MedicationAdministration");
      fhir::PutIfNotEmpty(w, "id", "ledger-" + col(row, "seq"));
      fhir::PutIfNotEmpty(w, "status", "completed");
      w.Key("medicationCodeableConcept");
      code(w, col(row, "ndc"), col(row, "product"));
      w.Key("subject");
      w.StartObject();
      if (!col(row, "patient_id").empty()) {
        w.Key("identifier");
        w.StartObject();
        fhir::PutIfNotEmpty(w, "value", col(row, "patient_id"));
        w.EndObject();
      }
      fhir::PutIfNotEmpty(w, "display", col(row, "patient_name").empty() ? "unknown patient" : col(row, "patient_name"));
      w.EndObject();
      fhir::PutIfNotEmpty(w, "effectiveDateTime", col(row, "time"));
      if (!col(row, "by").empty()) {
        w.Key("performer");
        w.StartArray();
        w.StartObject();
        w.Key("actor");
        w.StartObject();
        fhir::PutIfNotEmpty(w, "display", col(row, "by"));
        w.EndObject();
        w.EndObject();
        w.EndArray();
      }
      if (!col(row, "order").empty()) {
        w.Key("request");
        w.StartObject();
        w.Key("identifier");
        w.StartObject();
        fhir::PutIfNotEmpty(w, "value", col(row, "order"));
        w.EndObject();
        w.EndObject();
      }
      w.Key("dosage");
      w.StartObject();
      mg(w, "dose", col(row, "amount_mg"));
      w.EndObject();
    } else if (t.name == "inventory") {
      fhir::PutIfNotEmpty(w, "resourceType", "Medication");
      fhir::PutIfNotEmpty(w, "id", "ledger-lot-" + std::to_string(n));
      w.Key("extension");
      w.StartArray();
      w.StartObject();
      fhir::PutIfNotEmpty(w, "url", "http://fhir.ketamine-gateway.org/StructureDefinition/ledger-on-hand");
      mg(w, "valueQuantity", col(row, "on_hand_mg"));
      w.EndObject();
      w.StartObject();
      fhir::PutIfNotEmpty(w, "url", "http://fhir.ketamine-gateway.org/StructureDefinition/ledger-location");
      fhir::PutIfNotEmpty(w, "valueString", col(row, "location"));
      w.EndObject();
      w.EndArray();
      w.Key("code");
      code(w, col(row, "ndc"), col(row, "product"));
      w.Key("batch");
      w.StartObject();
      fhir::PutIfNotEmpty(w, "lotNumber", col(row, "lot"));
      if (auto expiry = DateTimeToUtc(col(row, "expiry")); expiry && expiry->size() == 10) fhir::PutIfNotEmpty(w, "expirationDate", *expiry);
      w.EndObject();
    } else {
      fhir::PutIfNotEmpty(w, "resourceType", "DetectedIssue");
      fhir::PutIfNotEmpty(w, "id", "ledger-issue-" + std::to_string(n));
      fhir::PutIfNotEmpty(w, "status", "final");
      w.Key("code");
      w.StartObject();
      w.Key("coding");
      w.StartArray();
      w.StartObject();
      fhir::PutIfNotEmpty(w, "system", "http://fhir.ketamine-gateway.org/CodeSystem/ledger-discrepancy");
      fhir::PutIfNotEmpty(w, "code", col(row, "type"));
      w.EndObject();
      w.EndArray();
      w.EndObject();
      fhir::PutIfNotEmpty(w, "severity", col(row, "severity"));
      fhir::PutIfNotEmpty(w, "identifiedDateTime", col(row, "time").empty() ? t.generated_at : col(row, "time"));
      fhir::PutIfNotEmpty(w, "detail", col(row, "detail") + " (location " + col(row, "location") + ", lot " + col(row, "lot") +
                           (col(row, "seq").empty() ? "" : ", ledger entry " + col(row, "seq")) + ")");
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace ketamine::ledger
