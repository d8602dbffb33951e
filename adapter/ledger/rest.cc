#include "ledger/rest.h"

#include <rapidjson/document.h>

#include "common/clock.h"
#include "fhir/json.h"
#include "http/facade.h"
#include "ledger/reports.h"
#include "ledger/request.h"

namespace ketamine::ledger {
namespace {

using rapidjson::Value;

using http::Outcome;

http::Response Failure(const Status& s) {
  if (s.code() == StatusCode::kUnavailable) return Outcome(503, "transient", s.message());
  if (s.code() == StatusCode::kInvalidInput) return Outcome(422, "business-rule", s.message(), s.location().ToString());
  return Outcome(500, "exception", s.message());
}

std::string Query(const http::Request& r, const char* name) {
  const std::string* v = r.Query(name);
  return v == nullptr ? std::string() : *v;
}

http::Response Post(Ledger& ledger, const http::Request& request) {
  const std::string* type = request.Header("content-type");
  if (type == nullptr || (type->find("application/json") != 0 && type->find("application/fhir+json") != 0)) {
    return Outcome(415, "not-supported", "send the posting as application/json");
  }
  fhir::JsonLimits limits;
  limits.max_bytes = 8u << 20;
  limits.max_depth = 8;
  auto doc = fhir::ParseJson(request.body, limits);
  if (!doc.ok()) return Outcome(400, "invalid", doc.status().message());
  const std::string now = *DateTimeToUtc(FormatIsoTimestamp(Clock::System().Now()));
  const Value& root = **doc;
  std::vector<Draft> drafts;
  const size_t n = root.IsArray() ? root.Size() : 1;
  for (size_t i = 0; i < n; ++i) {
    auto some = DraftsFromRequest(root.IsArray() ? root[static_cast<rapidjson::SizeType>(i)] : root, ledger.options(), now);
    if (!some.ok()) {
      const std::string where = some.status().location().ToString();
      const std::string expression = root.IsArray() ? "[" + std::to_string(i) + "]" + (where.empty() ? "" : "." + where) : where;
      return Outcome(422, "business-rule", some.status().message(), expression);
    }
    for (auto& d : *some) drafts.push_back(std::move(d));
  }
  auto appended = ledger.Append(drafts);
  if (!appended.ok()) return Failure(appended.status());
  rapidjson::Document out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  Value entries(rapidjson::kArrayType);
  for (const Entry& e : appended->entries) {
    Value v(rapidjson::kObjectType);
    v.AddMember("seq", e.seq, a);
    v.AddMember("kind", Value(std::string(KindName(e.kind)).c_str(), a), a);
    v.AddMember("location", Value(e.location.c_str(), a), a);
    v.AddMember("lot", Value(e.lot.c_str(), a), a);
    v.AddMember("quantity_mg", Value(FormatMg(e.quantity_ug).c_str(), a), a);
    v.AddMember("balance_mg", Value(FormatMg(e.balance_ug).c_str(), a), a);
    v.AddMember("hash", Value(e.hash.c_str(), a), a);
    entries.PushBack(v, a);
  }
  out.AddMember("entries", entries, a);
  out.AddMember("duplicates", static_cast<uint64_t>(appended->duplicates), a);
  return {appended->entries.empty() ? 200 : 201, "application/json", {}, fhir::ToJson(out)};
}

http::Response Report(Ledger& ledger, const http::Request& request, const std::string& name, std::string format) {
  ReportOptions options;
  options.from = Query(request, "from");
  options.to = Query(request, "to");
  options.as_of = Query(request, "as_of");
  options.inventory_kind = Query(request, "inventory");
  options.business = Query(request, "business");
  if (std::string p = Query(request, "period"); !p.empty()) options.period = p;
  auto table = MakeReport(ledger, name, options);
  if (!table.ok()) {
    return table.status().code() == StatusCode::kInvalidInput ? Outcome(400, "invalid", table.status().message())
                                                              : Failure(table.status());
  }
  if (format == "csv") return {200, "text/csv; charset=utf-8", {}, ToCsv(*table)};
  if (format == "json") return {200, "application/json", {}, ToJson(*table)};
  if (format == "ndjson") return {200, "application/x-ndjson", {}, ToNdjson(*table)};
  if (format == "fhir") {
    auto bundle = ToFhirBundle(*table);
    if (!bundle.ok()) return Outcome(400, "not-supported", bundle.status().message());
    return {200, "application/fhir+json", {}, *bundle};
  }
  return Outcome(400, "invalid", "format: must be csv, json, ndjson or fhir", "format");
}

}  // namespace

http::Response HandleRest(Ledger& ledger, const http::Request& request, const std::vector<std::string>& parts) {
  const std::string what = parts.size() >= 2 ? parts[1] : "";
  const bool get = request.method == "GET";
  if (parts.size() == 2 && what == "entries") {
    if (request.method == "POST") return Post(ledger, request);
    if (!get) return Outcome(405, "not-supported", "GET or POST /ledger/entries");
    std::string format = Query(request, "format");
    return Report(ledger, request, "entries", format.empty() ? "ndjson" : format);
  }
  if (parts.size() == 3 && what == "reports") {
    if (!get) return Outcome(405, "not-supported", "reports are read with GET");
    std::string format = Query(request, "format");
    return Report(ledger, request, parts[2], format.empty() ? "json" : format);
  }
  if (parts.size() == 2 && (what == "balances" || what == "verify" || what == "head")) {
    if (!get) return Outcome(405, "not-supported", "GET /ledger/" + what);
    rapidjson::Document out;
    auto& a = out.GetAllocator();
    if (what == "balances") {
      auto balances = ledger.Balances();
      if (!balances.ok()) return Failure(balances.status());
      out.SetArray();
      for (const Balance& b : *balances) {
        Value v(rapidjson::kObjectType);
        v.AddMember("location", Value(b.location.c_str(), a), a);
        v.AddMember("lot", Value(b.lot.c_str(), a), a);
        v.AddMember("ndc", Value(b.ndc.c_str(), a), a);
        v.AddMember("balance_mg", Value(FormatMg(b.balance_ug).c_str(), a), a);
        v.AddMember("last_seq", b.last_seq, a);
        out.PushBack(v, a);
      }
    } else if (what == "head") {
      auto head = ledger.GetHead();
      if (!head.ok()) return Failure(head.status());
      out.SetObject();
      out.AddMember("seq", head->seq, a);
      out.AddMember("hash", Value(head->hash.c_str(), a), a);
    } else {
      auto verdict = ledger.Verify(Query(request, "anchor"));
      if (!verdict.ok()) {
        return verdict.status().code() == StatusCode::kInvalidInput ? Outcome(400, "invalid", verdict.status().message(), "anchor")
                                                                    : Failure(verdict.status());
      }
      out.SetObject();
      out.AddMember("ok", verdict->ok, a);
      out.AddMember("entries", verdict->entries, a);
      if (!verdict->ok) {
        out.AddMember("first_bad_seq", verdict->first_bad_seq, a);
        out.AddMember("problem", Value(verdict->problem.c_str(), a), a);
      }
      out.AddMember("head", Value((std::to_string(verdict->head.seq) + ":" + verdict->head.hash).c_str(), a), a);
    }
    return {200, "application/json", {}, fhir::ToJson(out)};
  }
  return Outcome(404, "not-found", "no such ledger endpoint: " + request.method + " " + request.path);
}

}  // namespace ketamine::ledger
