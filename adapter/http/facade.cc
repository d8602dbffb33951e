#include "http/facade.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <chrono>
#include <limits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <future>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "common/utf8.h"
#include "fhir/json.h"
#include "fhir/json_patch.h"
#include "http/client.h"
#include "fhir/operation_outcome.h"
#include "hl7v2/parser.h"
#include "mapping/convert_data.h"
#include "mapping/csv.h"
#include "profiles/primitives.h"
#include "store/reference_paths.h"

namespace ketamine::http {
namespace {

using rapidjson::Value;

const std::set<std::string, std::less<>> kTypes = {"MedicationRequest", "MedicationAdministration", "Observation",
                                                   "Patient", "Practitioner", "Medication"};

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

Response FromIssues(int status, const Issues& issues) {
  return {status, "application/fhir+json", {}, fhir::OperationOutcomeJson(issues)};
}

// Random bytes for new ids from OpenSSL's generator, drawn 4 KB at a time per thread: one
// RAND_bytes call per ~400 ids instead of one per id (each call locks the generator; ~3 us here).
bool IdBytes(unsigned char* out, size_t n) {
  thread_local std::array<unsigned char, 4096> pool;
  thread_local size_t left = 0;
  if (left < n) {
    if (RAND_bytes(pool.data(), pool.size()) != 1) return false;
    left = pool.size();
  }
  std::memcpy(out, pool.data() + (pool.size() - left), n);
  left -= n;
  return true;
}

// A time-ordered UUID (version 7 layout: 48 bits of Unix milliseconds, then random): new
// resources land at the end of the store's indexes instead of all over them, which keeps each
// commit's writes small. Should the generator ever fail, the id is a name-based UUID of the
// process's start and a counter: still unique, no longer time-ordered.
std::string NewId() {
  unsigned char b[16];
  if (!IdBytes(b + 6, 10)) {
    static const std::string started = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    static std::atomic<uint64_t> counter{0};
    log::Warn("id-random-bytes-unavailable");
    return mapping::DeterministicUuid({"id", started, std::to_string(counter.fetch_add(1))}).substr(9);
  }
  const auto ms = static_cast<uint64_t>(UnixMs(Clock::System().Now()));
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  return mapping::FormatUuid(b, 7);
}

// A reference to the gateway's own base is the relative one: "{base_url}/Patient/x" is "Patient/x"
// (FHIR: a relative reference is relative to the service base). Anything else is as written: an
// absolute reference to another server names another server's resource.
std::string_view LocalReference(std::string_view reference, std::string_view base_url) {
  if (reference.size() > base_url.size() + 1 && reference.substr(0, base_url.size()) == base_url &&
      reference[base_url.size()] == '/') {
    return reference.substr(base_url.size() + 1);
  }
  return reference;
}

// A Reference.reference (the string value) made relative when it names this gateway.
void LocalizeReference(Value& reference, const std::string& base_url, rapidjson::Document::AllocatorType& a) {
  std::string_view written(reference.GetString(), reference.GetStringLength());
  std::string_view local = LocalReference(written, base_url);
  if (local.size() != written.size()) reference.SetString(local.data(), static_cast<rapidjson::SizeType>(local.size()), a);
}

// Stores what a write references the way searches, _include, $everything and the destinations
// read it: absolute references to this gateway made relative (a search for patient=x finds an
// Observation whose subject was written as "{base_url}/Patient/x").
void LocalizeReferences(Value& resource, const std::string& base_url, rapidjson::Document::AllocatorType& a) {
  fhir::ForEachReference(resource, [&](Value& reference) { LocalizeReference(reference, base_url, a); });
}

// FHIR dateTime -> UTC, so stored dates compare as text; a time without an offset is taken as
// UTC, a malformed one is indexed by its date part.
std::string NormalizeDate(const std::string& text) {
  if (auto utc = DateTimeToUtc(text)) return *utc;
  if (auto utc = DateTimeToUtc(text + "Z")) return *utc;
  return text.substr(0, std::min<size_t>(text.size(), 10));
}

void Tokens(const Value& cc, const char* param, std::vector<store::IndexEntry>& out) {
  if (!cc.IsObject()) return;
  auto codings = cc.FindMember("coding");
  if (codings == cc.MemberEnd() || !codings->value.IsArray()) return;
  for (const Value& c : codings->value.GetArray()) {
    if (!Str(c, "code").empty()) out.push_back({param, Str(c, "system"), Str(c, "code")});
  }
}

// The search index of a resource: what the search parameters of the CapabilityStatement read.
std::vector<store::IndexEntry> IndexOf(const std::string& type, const Value& r) {
  std::vector<store::IndexEntry> out;
  if (auto ids = r.FindMember("identifier"); ids != r.MemberEnd() && ids->value.IsArray()) {
    for (const Value& id : ids->value.GetArray()) {
      if (!Str(id, "value").empty()) out.push_back({"identifier", Str(id, "system"), Str(id, "value")});
    }
  }
  if (std::string status = Str(r, "status"); !status.empty()) out.push_back({"status", "", status});
  if (auto subject = r.FindMember("subject"); subject != r.MemberEnd()) {
    if (std::string ref = Str(subject->value, "reference"); !ref.empty()) out.push_back({"subject", "", ref});
  }
  auto member = [&](const char* name) -> const Value* {
    auto it = r.FindMember(name);
    return it == r.MemberEnd() ? nullptr : &it->value;
  };
  if (type == "MedicationRequest" || type == "MedicationAdministration") {
    if (const Value* m = member("medicationCodeableConcept")) Tokens(*m, "code", out);
  }
  if (type == "Observation" || type == "Medication") {
    if (const Value* c = member("code")) Tokens(*c, "code", out);
  }
  if (type == "MedicationAdministration") {  // the order given against
    if (const Value* q = member("request")) {
      if (std::string ref = Str(*q, "reference"); !ref.empty()) out.push_back({"request", "", ref});
    }
  }
  if (type == "Observation") {
    if (auto cats = r.FindMember("category"); cats != r.MemberEnd() && cats->value.IsArray()) {
      for (const Value& c : cats->value.GetArray()) Tokens(c, "category", out);
    }
  }
  auto date = [&](const std::string& text) {
    if (!text.empty()) out.push_back({"date", "", NormalizeDate(text)});
  };
  if (type == "Observation" || type == "MedicationAdministration") {
    date(Str(r, "effectiveDateTime"));
    if (const Value* p = member("effectivePeriod")) date(Str(*p, "start"));
  }
  if (type == "MedicationRequest") date(Str(r, "authoredOn"));
  if (type == "Patient") {
    date(Str(r, "birthDate"));
    if (std::string g = Str(r, "gender"); !g.empty()) out.push_back({"gender", "", g});
  }
  if (type == "Patient" || type == "Practitioner") {
    if (auto names = r.FindMember("name"); names != r.MemberEnd() && names->value.IsArray()) {
      for (const Value& n : names->value.GetArray()) {
        auto lower = [](std::string s) {
          std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          return s;
        };
        if (!Str(n, "family").empty()) out.push_back({"name", "", lower(Str(n, "family"))});
        if (auto given = n.FindMember("given"); given != n.MemberEnd() && given->value.IsArray()) {
          for (const Value& g : given->value.GetArray()) {
            if (g.IsString()) out.push_back({"name", "", lower(g.GetString())});
          }
        }
      }
    }
  }
  return out;
}

// Last-Modified of a stored instant ("2026-11-23T14:05:00.123Z" as meta.lastUpdated has it): HTTP
// takes a date of its own form ("Mon, 23 Nov 2026 14:05:00 GMT").
std::string HttpDateOf(const std::string& instant) {
  const auto seconds = DateTimeToUnixSeconds(instant);
  return seconds ? FormatHttpDate(std::chrono::system_clock::from_time_t(static_cast<std::time_t>(*seconds))) : instant;
}

// A stored resource's version and time into its meta (the store keeps them beside the JSON).
void AddMeta(Value& resource, const store::StoredResource& r, rapidjson::Document::AllocatorType& alloc) {
  auto meta = resource.FindMember("meta");
  if (meta == resource.MemberEnd() || !meta->value.IsObject()) {
    resource.RemoveMember("meta");
    resource.AddMember("meta", Value(rapidjson::kObjectType), alloc);
    meta = resource.FindMember("meta");
  }
  meta->value.RemoveMember("versionId");
  meta->value.RemoveMember("lastUpdated");
  meta->value.AddMember("versionId", Value(std::to_string(r.version).c_str(), alloc), alloc);
  meta->value.AddMember("lastUpdated", Value(r.last_updated.c_str(), alloc), alloc);
}

// The stored JSON with its version and time in meta.
std::string WithMeta(const store::StoredResource& r) {
  auto doc = fhir::ParseJson(r.json);
  if (!doc.ok()) return r.json;
  AddMeta(**doc, r, (*doc)->GetAllocator());
  return fhir::ToJson(**doc);
}

// The pieces of a list ("a, b;q=1" split on ','), each without the spaces around it.
std::vector<std::string> SplitList(std::string_view text, char separator) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find(separator, at), text.size());
    std::string_view piece = text.substr(at, end - at);
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    out.emplace_back(piece);
    at = end + 1;
  }
  return out;
}

// _count or _offset into `range`: a whole number, 0 and up; a count past `max_count` is that, an
// offset past any is the largest the stores' OFFSET takes (a signed 64-bit).
Status SetPage(const std::string& name, const std::string& value, size_t max_count, store::SearchRange& range) {
  uint64_t n = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
  const bool whole = !value.empty() && end == value.data() + value.size();
  if (!whole || (error != std::errc() && error != std::errc::result_out_of_range)) {
    return InvalidInput("search parameter '" + name + "' must be a whole number, 0 or more (got '" + value + "')");
  }
  if (error == std::errc::result_out_of_range) n = UINT64_MAX;
  if (name == "_count") {
    range.count = static_cast<size_t>(std::min<uint64_t>(n, max_count));
  } else {
    range.offset = static_cast<size_t>(std::min<uint64_t>(n, INT64_MAX));
  }
  return Status::Ok();
}

// A conditional read (RFC 9110 section 13): If-None-Match naming the current version (or "*"), or
// else If-Modified-Since not before its last update, is answered 304 with no body.
Response NotModified(Response read, const Request& request) {
  if (read.status != 200) return read;
  auto header = [&](const char* name) -> std::string {
    for (const auto& [key, value] : read.headers) {
      if (key == name) return value;
    }
    return {};
  };
  const std::string etag = header("ETag");
  bool unchanged = false;
  if (const std::string* match = request.Header("if-none-match")) {
    const std::string strong = etag.size() > 2 ? etag.substr(2) : etag;  // W/"2" -> "2": weak comparison
    for (std::string tag : SplitList(*match, ',')) {
      if (tag.rfind("W/", 0) == 0) tag.erase(0, 2);
      unchanged = unchanged || tag == "*" || tag == strong;
    }
  } else if (const std::string* since = request.Header("if-modified-since")) {
    const auto client = HttpDateToUnixSeconds(*since), ours = HttpDateToUnixSeconds(header("Last-Modified"));
    unchanged = client && ours && *ours <= *client;
  }
  if (!unchanged) return read;
  return {304, "", {{"ETag", etag}, {"Last-Modified", header("Last-Modified")}}, ""};
}

// What _summary and _elements leave of a resource: without its narrative (data), only what the base
// definition marks as summary (true: recursively through the backbone elements kept) or only the
// narrative (text), the type's mandatory elements kept either way so that the subset still
// validates; or only the named top-level elements (with resourceType, id and meta). Marked as a
// subset (FHIR R4 search 3.1.1.5.8).
struct Subset {
  enum class Summary { kAll, kTrue, kText };
  bool without_text = false;
  Summary summary = Summary::kAll;
  const profiles::Model* model = nullptr;       // for kTrue and kText
  std::set<std::string, std::less<>> elements;  // _elements; empty: all
  bool any() const { return without_text || summary != Summary::kAll || !elements.empty(); }
};

// Keeps the members of `object` (of element `def`) that a summary keeps: summary or mandatory ones
// (text: mandatory ones and the narrative); "_x" (a primitive's id and extensions) goes with "x".
void KeepSummary(Value& object, const profiles::ElementDef& def, Subset::Summary summary, bool top) {
  const auto& properties = def.Properties();
  for (auto it = object.MemberBegin(); it != object.MemberEnd();) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (top && (name == "resourceType" || name == "id" || name == "meta")) {
      ++it;
      continue;
    }
    if (name.size() > 1 && name[0] == '_') name.remove_prefix(1);
    auto property = properties.find(name);
    const profiles::ElementDef* element = property == properties.end() ? nullptr : property->second.element;
    bool kept = element != nullptr && (element->min > 0 || (summary == Subset::Summary::kTrue ? element->summary
                                                                                                  : top && name == "text"));
    if (kept && summary == Subset::Summary::kTrue && !element->Children().empty()) {  // a backbone element
      if (it->value.IsObject()) KeepSummary(it->value, *element, summary, false);
      if (it->value.IsArray()) {
        for (Value& item : it->value.GetArray()) {
          if (item.IsObject()) KeepSummary(item, *element, summary, false);
        }
      }
    }
    it = kept ? it + 1 : object.EraseMember(it);
  }
}

void ApplySubset(Value& resource, const Subset& subset, rapidjson::Document::AllocatorType& alloc) {
  if (!subset.any()) return;
  if (subset.without_text) resource.RemoveMember("text");
  if (subset.summary != Subset::Summary::kAll && subset.model != nullptr) {
    if (const profiles::TypeDef* def = subset.model->FindType(fhir::StringMember(resource, "resourceType"))) {
      KeepSummary(resource, def->root, subset.summary, true);
    }
  }
  if (!subset.elements.empty()) {
    for (auto it = resource.MemberBegin(); it != resource.MemberEnd();) {
      const std::string_view name(it->name.GetString(), it->name.GetStringLength());
      const bool kept = name == "resourceType" || name == "id" || name == "meta" || subset.elements.count(name) > 0;
      it = kept ? it + 1 : resource.EraseMember(it);
    }
  }
  Value& meta = resource["meta"];  // AddMeta made it
  if (!meta.HasMember("tag") || !meta["tag"].IsArray()) {
    meta.RemoveMember("tag");
    meta.AddMember("tag", Value(rapidjson::kArrayType), alloc);
  }
  Value tag(rapidjson::kObjectType);
  tag.AddMember("system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", alloc);
  tag.AddMember("code", "SUBSETTED", alloc);
  meta["tag"].PushBack(tag, alloc);
}

// Reads _summary or _elements into `subset`; `count_only` (a search's _summary=count) may be null
// where a count means nothing (a read). A value FHIR does not give them is an error.
Status ReadSubsetParam(const std::string& name, const std::string& value, const profiles::Model& model, Subset& subset,
                       bool* count_only) {
  if (name == "_elements") {  // top-level element names, comma-separated
    for (const std::string& element : SplitList(value, ',')) {
      if (!element.empty()) subset.elements.insert(element);
    }
  } else if (value == "count" && count_only != nullptr) {
    *count_only = true;
  } else if (value == "data") {
    subset.without_text = true;
  } else if (value == "true" || value == "text") {
    subset.summary = value == "true" ? Subset::Summary::kTrue : Subset::Summary::kText;
    subset.model = &model;
  } else if (value != "false") {
    return InvalidInput(std::string("_summary must be true, text, data") + (count_only != nullptr ? ", count" : "") +
                        " or false (got '" + value + "')");
  }
  return Status::Ok();
}

// _elements keeps the type's mandatory elements too, so that what is returned is still valid.
void KeepMandatory(const profiles::Model& model, const std::string& type, Subset& subset) {
  if (subset.elements.empty()) return;
  if (const profiles::TypeDef* def = model.FindType(type)) {
    for (const auto& [json_name, property] : def->root.Properties()) {
      if (property.element != nullptr && property.element->min > 0) subset.elements.insert(json_name);
    }
  }
}

// A Bundle entry of a stored resource (`resource` its parsed JSON): fullUrl, and the resource with its
// version and time in meta, trimmed as `subset` says. Searches add search.mode, history its request
// and response.
Value StoredEntry(const Value& resource, const store::StoredResource& r, const std::string& full_url,
                  const Subset& subset, rapidjson::Document::AllocatorType& a) {
  Value copy = fhir::DeepCopy(resource, a);
  AddMeta(copy, r, a);
  ApplySubset(copy, subset, a);
  Value entry(rapidjson::kObjectType);
  entry.AddMember("fullUrl", Value(full_url.c_str(), a), a);
  entry.AddMember("resource", copy, a);
  return entry;
}

void SetSearchMode(Value& entry, const char* mode, rapidjson::Document::AllocatorType& a) {
  Value search(rapidjson::kObjectType);
  search.AddMember("mode", Value(mode, a), a);
  entry.AddMember("search", search, a);
}

// A stored resource of `type` as an include entry trimmed as `subset` says.
void AddIncludedEntry(const std::string& type, const store::StoredResource& r, const std::string& base_url,
                      const Subset& subset, Value& entries, rapidjson::Document::AllocatorType& a) {
  auto doc = fhir::ParseJson(r.json);
  if (!doc.ok()) return;
  Value entry = StoredEntry(**doc, r, base_url + "/" + type + "/" + r.id, subset, a);
  SetSearchMode(entry, "include", a);
  entries.PushBack(entry, a);
}

// The stored resources `wanted` names ("Type/id"), in order, as include entries; a reference to what
// is not here adds nothing. Returns what it added (for _include:iterate to follow).
std::vector<store::StoredResource> AddIncluded(store::MessageStore& store, const std::string& base_url,
                                               const std::vector<std::string>& wanted, const Subset& subset,
                                               Value& entries, rapidjson::Document::AllocatorType& a) {
  std::vector<store::StoredResource> added;
  for (const std::string& reference : wanted) {
    const size_t slash = reference.find('/');
    const std::string type = reference.substr(0, slash);
    auto included = store.ReadResource(type, reference.substr(slash + 1));
    if (!included.ok()) continue;
    included->type = type;
    AddIncludedEntry(type, *included, base_url, subset, entries, a);
    added.push_back(std::move(*included));
  }
  return added;
}

// A search value's prefix ("ge" of "ge2026-11-23") and the rest, or "" and the whole value when it
// does not start with a letter.
std::pair<std::string, std::string> SplitSearchPrefix(const std::string& text) {
  if (text.size() > 2 && std::isalpha(static_cast<unsigned char>(text[0])) != 0) return {text.substr(0, 2), text.substr(2)};
  return {"", text};
}

// A date search value: its prefix (eq when none) and the date or dateTime after it, minutes
// without seconds ("2026-11-23T10:00", as people write them) meaning second 00. kInvalidInput names
// `param` when the prefix or the date is not one we take.
struct DateSearch {
  store::SearchCondition::Op op = store::SearchCondition::Op::kPrefix;
  std::string value;
  bool has_time = false;
};
Result<DateSearch> ParseDateSearch(const std::string& param, const std::string& text) {
  using Op = store::SearchCondition::Op;
  static const std::map<std::string, Op, std::less<>> kPrefixes = {
      {"eq", Op::kPrefix}, {"ge", Op::kGe}, {"le", Op::kLe}, {"gt", Op::kGt}, {"lt", Op::kLt}};
  DateSearch out;
  auto [prefix, rest] = SplitSearchPrefix(text);
  out.value = std::move(rest);
  if (!prefix.empty()) {
    auto known = kPrefixes.find(prefix);
    if (known == kPrefixes.end()) return InvalidInput("date prefix '" + prefix + "' is not supported (eq, ge, le, gt, lt)");
    out.op = known->second;
  }
  std::string& v = out.value;
  const size_t t = v.find('T');
  out.has_time = t != std::string::npos;
  if (out.has_time && v.size() >= t + 6 && v[t + 3] == ':' && (v.size() == t + 6 || v[t + 6] != ':')) {
    v.insert(t + 6, ":00");
  }
  // YYYY, YYYY-MM, YYYY-MM-DD or a dateTime; a time without an offset is taken as UTC.
  if (!profiles::IsValidDateTime(v) && !(out.has_time && profiles::IsValidDateTime(v + "Z"))) {
    return InvalidInput("search parameter '" + param + "': '" + text +
                        "' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)");
  }
  return out;
}

// _lastUpdated as conditions on the stored instants ("2026-11-23T14:05:00.123Z", UTC): a value
// covers its day (month, year), its second, or what its fraction says (".5" covers .500 to .599),
// and the prefix compares with that range as FHIR's date search does: ge from its start, gt after
// its end, le to its end, lt before its start, eq within it.
Result<std::vector<store::SearchCondition>> LastUpdatedConditions(const std::string& param, const std::string& text) {
  using Op = store::SearchCondition::Op;
  KETAMINE_ASSIGN_OR_RETURN(DateSearch parsed, ParseDateSearch(param, text));
  std::string low = parsed.value, high = parsed.value + "~";  // a date: "~" sorts after any time of it
  if (parsed.has_time) {
    std::string v = parsed.value;
    std::string fraction;
    const size_t dot = v.find('.', v.find('T'));
    if (dot != std::string::npos) {
      size_t end = dot + 1;
      while (end < v.size() && std::isdigit(static_cast<unsigned char>(v[end])) != 0) ++end;
      fraction = v.substr(dot + 1, std::min<size_t>(end - dot - 1, 3));
      v.erase(dot, end - dot);
    }
    auto utc = DateTimeToUtc(v);
    if (!utc) utc = DateTimeToUtc(v + "Z");
    if (!utc) return InvalidInput("search parameter '" + param + "': '" + text + "' is not a date");
    const std::string second = utc->substr(0, utc->size() - 1);  // without its "Z"
    low = second + "." + fraction + std::string(3 - fraction.size(), '0') + "Z";
    high = second + "." + fraction + std::string(3 - fraction.size(), '9') + "Z";
  }
  auto condition = [&](Op op, const std::string& value) { return store::SearchCondition{"_lastUpdated", op, false, "", value}; };
  switch (parsed.op) {
    case Op::kGe: return std::vector{condition(Op::kGe, low)};
    case Op::kGt: return std::vector{condition(Op::kGt, high)};
    case Op::kLe: return std::vector{condition(Op::kLe, high)};
    case Op::kLt: return std::vector{condition(Op::kLt, low)};
    case Op::kEq:
    case Op::kPrefix: break;
  }
  return std::vector{condition(Op::kGe, low), condition(Op::kLe, high)};
}

// A quantity search value, "[prefix]number[|system|code]" ("ge7", "80|http://unitsofmeasure.org|kg",
// "97||%"), as the store's conditions on `param`: eq (no prefix) is the number's range at its
// precision (7 is 6.5 up to 7.5, 7.0 is 6.95 up to 7.05), ne the rest, its two sides alternatives in
// `or_group`; ge, le, gt, lt compare. A comma list is not taken (several conditions make one value).
// kInvalidInput names `name`.
Result<std::vector<store::SearchCondition>> QuantityConditions(const std::string& name, const std::string& param,
                                                               const std::string& text, int or_group) {
  using Op = store::SearchCondition::Op;
  auto [prefix, number] = SplitSearchPrefix(text.substr(0, text.find('|')));
  if (prefix.empty()) prefix = "eq";
  static const std::set<std::string, std::less<>> kPrefixes = {"eq", "ne", "ge", "le", "gt", "lt"};
  if (!kPrefixes.count(prefix)) {
    return InvalidInput("search parameter '" + name + "': '" + text.substr(0, text.find('|')) +
                        "' is not a number after one of the prefixes eq, ne, ge, le, gt, lt (ap, sa and eb are not taken)");
  }
  // A plain decimal, as FHIR writes numbers: digits, one point, a sign.
  const size_t point = number.find('.');
  const std::string digits = number.substr(number[0] == '-' || number[0] == '+' ? 1 : 0);
  const bool decimal = !digits.empty() && digits.size() <= 30 && digits.front() != '.' && digits.back() != '.' &&
                       std::count(digits.begin(), digits.end(), '.') <= 1 &&
                       std::all_of(digits.begin(), digits.end(), [](unsigned char ch) { return std::isdigit(ch) || ch == '.'; });
  if (!decimal) {
    return InvalidInput("search parameter '" + name + "': '" + number + "' is not a number (e.g. 7, ge7, 80.5|http://unitsofmeasure.org|kg)");
  }
  store::SearchCondition base;
  base.param = param;
  if (const size_t bar = text.find('|'); bar != std::string::npos) {
    base.has_system = true;
    base.system = text.substr(bar + 1);  // "system|code"
    if (base.system.find('|') == std::string::npos) {
      return InvalidInput("search parameter '" + name + "': a unit is number|system|code (got '" + text + "')");
    }
  }
  auto with = [&base](Op op, std::string value) {
    store::SearchCondition c = base;
    c.op = op;
    c.value = std::move(value);
    return c;
  };
  if (prefix == "ge") return std::vector{with(Op::kGe, number)};
  if (prefix == "le") return std::vector{with(Op::kLe, number)};
  if (prefix == "gt") return std::vector{with(Op::kGt, number)};
  if (prefix == "lt") return std::vector{with(Op::kLt, number)};
  // eq and ne: half a unit of the last digit given either side.
  const int decimals = point == std::string::npos ? 0 : static_cast<int>(number.size() - point - 1);
  const double value = std::strtod(number.c_str(), nullptr);
  const double half = 0.5 * std::pow(10.0, -decimals);
  char low[64];
  char high[64];
  std::snprintf(low, sizeof low, "%.*f", decimals + 1, value - half);
  std::snprintf(high, sizeof high, "%.*f", decimals + 1, value + half);
  if (prefix == "eq") return std::vector{with(Op::kGe, low), with(Op::kLt, high)};
  std::vector<store::SearchCondition> either{with(Op::kLt, low), with(Op::kGe, high)};
  for (store::SearchCondition& side : either) side.or_group = or_group;
  return either;
}

// The references _include follows: "Type:param" -> the elements (dotted paths) that hold them, from
// the table the stores read references from (store/reference_paths.h).
const std::map<std::string, std::vector<std::string>, std::less<>>& IncludePaths() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kPaths = [] {
    std::map<std::string, std::vector<std::string>, std::less<>> paths;
    for (const store::ReferencePath& p : store::ReferencePaths()) {
      std::string dotted = p.array;
      for (const char* step : p.steps) dotted += (dotted.empty() ? "" : ".") + std::string(step);
      paths[std::string(p.type) + ":" + p.param].push_back(std::move(dotted));
    }
    return paths;
  }();
  return kPaths;
}

// Calls f(reference text) for each Reference at a dotted path of `resource` (arrays on the way are
// walked through).
template <typename F>
void ForEachReferenceAt(const Value& value, std::string_view path, F&& f) {
  if (value.IsArray()) {
    for (const Value& element : value.GetArray()) ForEachReferenceAt(element, path, f);
    return;
  }
  if (!value.IsObject()) return;
  if (path.empty()) {
    if (auto ref = value.FindMember("reference"); ref != value.MemberEnd() && ref->value.IsString()) {
      f(std::string(ref->value.GetString(), ref->value.GetStringLength()));
    }
    return;
  }
  const size_t dot = path.find('.');
  const std::string key(path.substr(0, dot));
  if (auto member = value.FindMember(key.c_str()); member != value.MemberEnd()) {
    ForEachReferenceAt(member->value, dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1), f);
  }
}

enum class SearchParamKind { kToken, kReference, kDate, kString, kQuantity };

// A search parameter of a type: what kind of value it takes, the store's param it is tested as
// (IndexOf writes most; requester, performer and value-quantity the stores read from the resource's
// JSON, store/internal/search_rules.h), and for a reference the type an id alone refers to.
struct SearchParamDef {
  const char* name;
  SearchParamKind kind;
  const char* index;   // the store's param
  const char* target;  // a reference's default type ("request=123" is MedicationRequest/123)
};

// Every type's search parameters but _id and _lastUpdated (which every type takes): the search
// reads them from here and the CapabilityStatement lists them, so a parameter another type has is
// ignored with a warning (not taken as a filter that matches nothing).
const std::vector<SearchParamDef>& SearchParamsOf(std::string_view type) {
  using K = SearchParamKind;
  static const SearchParamDef kIdentifier{"identifier", K::kToken, "identifier", ""};
  static const SearchParamDef kPatient{"patient", K::kReference, "subject", "Patient"};
  static const SearchParamDef kSubject{"subject", K::kReference, "subject", "Patient"};
  static const SearchParamDef kCode{"code", K::kToken, "code", ""};
  static const SearchParamDef kStatus{"status", K::kToken, "status", ""};
  static const SearchParamDef kDate{"date", K::kDate, "date", ""};
  static const SearchParamDef kPerformer{"performer", K::kReference, "performer", "Practitioner"};
  static const std::map<std::string, std::vector<SearchParamDef>, std::less<>> kParams = {
      {"MedicationRequest",
       {kIdentifier, kPatient, kSubject, kCode, kStatus, {"authoredon", K::kDate, "date", ""}, kDate,
        {"requester", K::kReference, "requester", "Practitioner"}}},
      {"MedicationAdministration",
       {kIdentifier, kPatient, kSubject, kCode, kStatus, {"effective-time", K::kDate, "date", ""}, kDate,
        {"request", K::kReference, "request", "MedicationRequest"}, kPerformer}},
      {"Observation",
       {kIdentifier, kPatient, kSubject, kCode, {"category", K::kToken, "category", ""}, kStatus, kDate,
        {"value-quantity", K::kQuantity, "value-quantity", ""}, kPerformer}},
      {"Patient",
       {kIdentifier, {"name", K::kString, "name", ""}, {"family", K::kString, "name", ""},
        {"given", K::kString, "name", ""}, {"birthdate", K::kDate, "date", ""}, {"gender", K::kToken, "gender", ""}}},
      {"Practitioner", {kIdentifier, {"name", K::kString, "name", ""}}},
      {"Medication", {kIdentifier, kCode}}};
  static const std::vector<SearchParamDef> kNone;
  auto it = kParams.find(type);
  return it == kParams.end() ? kNone : it->second;
}

// `name`'s definition on `type`, or nullptr when the type has no such parameter.
const SearchParamDef* FindSearchParam(std::string_view type, std::string_view name) {
  for (const SearchParamDef& p : SearchParamsOf(type)) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

// At most this many resources one _revinclude adds to a page (a warning says when more refer to it).
constexpr size_t kMaxRevIncluded = 1000;
// How many times _include:iterate follows what the last round included (an administration's order,
// then the order's prescriber, then ...): the types here refer to each other at most two deep.
constexpr int kIncludeRounds = 3;

// The reference parameters of every type whose target is `type` (a type and the parameter): what a
// _revinclude on `type` may follow.
std::vector<std::pair<std::string, const SearchParamDef*>> ReferencesTo(const std::string& type) {
  std::vector<std::pair<std::string, const SearchParamDef*>> out;
  for (const std::string& source : kTypes) {
    for (const SearchParamDef& param : SearchParamsOf(source)) {
      if (param.kind == SearchParamKind::kReference && param.target == type) out.emplace_back(source, &param);
    }
  }
  return out;
}

// The resources a _revinclude value ("MedicationAdministration:request", "Observation:patient",
// "Observation:subject:Patient", "*") asks for with the matches of a search of `type`: each as its
// type and the store's param that holds its reference (patient and subject give the same pair: the
// search takes each pair once). Refused (with the reason) when the parameter is not a reference of
// that type to `type`.
Result<std::vector<std::pair<std::string, std::string>>> RevIncludesOf(const std::string& type, const std::string& value) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::vector<std::string> pieces = SplitList(value, ':');
  for (const auto& [source, param] : ReferencesTo(type)) {
    if (value == "*" || (pieces.size() >= 2 && pieces.size() <= 3 && pieces[0] == source && pieces[1] == param->name &&
                         (pieces.size() == 2 || pieces[2] == type))) {
      out.emplace_back(source, param->index);
    }
  }
  if (out.empty() && value != "*") {
    return Unsupported("_revinclude=" + value + " is not supported on " + type +
                       " (see the CapabilityStatement's searchRevInclude)");
  }
  return out;
}

// At most this many patients a chained search may find (an identifier names one patient).
constexpr size_t kMaxChainMatches = 100;

// A chained search on the patient ("patient.identifier", "subject.identifier",
// "subject:Patient.identifier"): nullopt when `raw_name` is no chain, OK for one of those, an error for
// any other chain (refused, not ignored: ignoring it would return every patient's resources).
std::optional<Status> PatientChain(const std::string& type, const std::string& raw_name) {
  const size_t dot = raw_name.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string head = raw_name.substr(0, dot);
  const size_t colon = head.find(':');
  const SearchParamDef* param = FindSearchParam(type, head.substr(0, colon));
  if (param == nullptr || param->kind != SearchParamKind::kReference || std::string_view(param->target) != "Patient" ||
      (colon != std::string::npos && head.substr(colon + 1) != "Patient") || raw_name.substr(dot + 1) != "identifier") {
    return Unsupported("chained search '" + raw_name + "' is not supported (patient.identifier and subject.identifier are)");
  }
  return Status::Ok();
}

// A search value's comma list ("final,amended": either), "\," standing for a comma within a value.
std::vector<std::string> SplitSearchValues(const std::string& value) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() && (value[i + 1] == ',' || value[i + 1] == '\\')) {
      out.back() += value[++i];
    } else if (value[i] == ',') {
      out.emplace_back();
    } else {
      out.back() += value[i];
    }
  }
  return out;
}

// A token search value: "system|code", "|code" (no system) or "code" (any system).
store::SearchCondition TokenCondition(std::string param, const std::string& value) {
  store::SearchCondition c;
  c.param = std::move(param);
  size_t bar = value.find('|');
  c.has_system = bar != std::string::npos;
  c.system = c.has_system ? value.substr(0, bar) : std::string();
  c.value = c.has_system ? value.substr(bar + 1) : value;
  return c;
}

// A body sent with a Content-Encoding (gzip ...): a 415 that says so; bodies are not unpacked.
std::optional<Response> RefuseEncoded(const Request& request) {
  const std::string* coding = request.Header("content-encoding");
  if (coding == nullptr || coding->empty() || *coding == "identity") return std::nullopt;
  return Outcome(415, "not-supported", "Content-Encoding " + *coding + " is not taken: send the body as it is");
}

// The request's media type without parameters or spaces, in lower case ("" without Content-Type).
std::string MediaType(const Request& request) {
  const std::string* type = request.Header("content-type");
  if (type == nullptr) return "";
  std::string t = type->substr(0, type->find(';'));
  t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return t;
}

bool JsonContentType(const Request& request) {
  const std::string t = MediaType(request);
  return t == "application/fhir+json" || t == "application/json";
}

// Whether an Accept header takes JSON: one of its types is */*, application/* or a JSON type (the
// parameters and q-values aside). A client asking for FHIR XML alone gets a 406, not JSON it
// cannot read.
bool AcceptsJson(const std::string& accept) {
  for (const std::string& item : SplitList(accept, ',')) {
    std::string type = SplitList(item, ';').front();
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (type.empty() || type == "*/*" || type == "application/*" || type.find("json") != std::string::npos) return true;
  }
  return false;
}

// What a write answers with (Prefer: return=...): the resource as stored, nothing, or an
// OperationOutcome of what the validation had to say (its warnings: a dose near a clinical limit)
// and what was done.
enum class Returned { kRepresentation, kMinimal, kOutcome };
Returned PreferredReturn(const Request& request) {
  const std::string* prefer = request.Header("prefer");
  if (prefer == nullptr) return Returned::kRepresentation;
  if (prefer->find("return=minimal") != std::string::npos) return Returned::kMinimal;
  if (prefer->find("return=OperationOutcome") != std::string::npos) return Returned::kOutcome;
  return Returned::kRepresentation;
}

// The answer to a write: `status` and `headers`, with the body `returned` asks for; `done` says what
// was done ("created Observation/1 version 1") after the validation's warnings.
Response WriteAnswer(int status, std::vector<std::pair<std::string, std::string>> headers, Returned returned,
                     const Issues& warnings, const std::string& done, const std::function<std::string()>& representation) {
  if (returned == Returned::kMinimal) return {status, "application/fhir+json", std::move(headers), ""};
  if (returned == Returned::kRepresentation) return {status, "application/fhir+json", std::move(headers), representation()};
  Issues outcome = warnings;
  outcome.Add({Severity::kInformation, "informational", Location(), done});
  return {status, "application/fhir+json", std::move(headers), fhir::OperationOutcomeJson(outcome)};
}

// "W/\"3\"" or "3" -> 3; 0 when unreadable.
int64_t VersionFromEtag(const std::string& etag) {
  std::string digits;
  for (char c : etag) {
    if (c >= '0' && c <= '9') digits += c;
  }
  return digits.empty() || digits.size() > 15 ? 0 : std::stoll(digits);
}

// The path's non-empty segments ("/fhir//Patient/1/" -> fhir, Patient, 1). Every request splits
// its path: a stringstream here cost more than the split.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// An _include: "Type:param" (a key of IncludePaths) and the one type it may name ("": any).
using Include = std::pair<std::string, std::string>;

// What `resource` (of `type`) references through those of `which` that are its type's (a type
// served here, of the include's target when it names one) and `listed` does not hold yet: added to
// `listed` and, in the order met, to `wanted`.
void FollowIncludes(const std::string& type, const Value& resource, const std::vector<Include>& which,
                    std::set<std::string>& listed, std::vector<std::string>& wanted) {
  for (const Include& include : which) {
    const std::string& key = include.first;
    const std::string& target = include.second;  // a named variable: clang captures no structured binding
    if (key.compare(0, type.size() + 1, type + ":") != 0) continue;
    for (const std::string& path : IncludePaths().find(key)->second) {
      ForEachReferenceAt(resource, path, [&](const std::string& reference) {
        const std::vector<std::string> parts = SplitPath(reference);
        if (parts.size() != 2 || !kTypes.count(parts[0]) || (!target.empty() && parts[0] != target)) return;
        if (listed.insert(reference).second) wanted.push_back(reference);
      });
    }
  }
}

Response StoreFailure(const Status& status) {
  return Outcome(status.code() == StatusCode::kUnavailable ? 503 : 500, "transient",
                 "the store could not take the request: " + status.message());
}

}  // namespace

Response Outcome(int status, const char* code, const std::string& text, const std::string& expression) {
  Issues issues;
  issues.Add({Severity::kError, code, Location(expression), text});
  return {status, "application/fhir+json", {}, fhir::OperationOutcomeJson(issues)};
}

Facade::Facade(std::shared_ptr<store::MessageStore> store, std::shared_ptr<const profiles::Validator> validator,
               std::shared_ptr<const mapping::Converter> converter, FacadeOptions options)
    : store_(std::move(store)),
      validator_(std::move(validator)),
      converter_(std::move(converter)),
      options_(std::move(options)) {}

// Threads that run requests which block on the store, off the HTTP pool; at most `max_waiting` wait
// for them. Stopping finishes the tasks in hand and refuses the rest (each task knows how to say no).
class Facade::Lane {
 public:
  struct Task {
    std::function<void()> run;
    std::function<void()> refuse;
  };
  Lane(const char* name, size_t threads, size_t max_waiting) : name_(name), max_waiting_(max_waiting) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Lane() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
    for (Task& task : tasks_) task.refuse();
  }
  size_t max_waiting() const { return max_waiting_; }
  // False when max_waiting tasks wait already (the caller answers for it).
  bool Post(Task task) {
    {
      std::lock_guard lock(mutex_);
      if (tasks_.size() >= max_waiting_) return false;
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
    return true;
  }

 private:
  void Loop() {
    NameThisThread(name_);
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) break;
      Task task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task.run();
      lock.lock();
    }
  }

  const char* name_;
  const size_t max_waiting_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: they start once the rest is made
};

// While every member the tasks in hand use is still here.
Facade::~Facade() {
  imports_.reset();
  bundles_.reset();
}

namespace {

// A 503 with Retry-After: the request can be sent again shortly.
Response Busy(const std::string& text, const char* retry_after) {
  Response r = Outcome(503, "transient", text);
  r.headers.emplace_back("Retry-After", retry_after);
  return r;
}

}  // namespace

void Facade::RunOnLane(std::unique_ptr<Lane>& lane, const LaneSpec& spec, std::function<void(const Responder&)> work,
                       Responder respond) {
  auto answer = std::make_shared<Responder>(std::move(respond));
  std::lock_guard lock(lanes_mutex_);
  if (!lane) lane = std::make_unique<Lane>(spec.thread_name, spec.threads, spec.max_waiting);
  const std::string what = spec.what;
  const bool queued = lane->Post({[answer, work = std::move(work)] { work(*answer); },
                                  [answer, what] { (*answer)(Busy("the gateway is stopping; send the " + what + " again", "5")); }});
  if (!queued) {
    (*answer)(Busy(std::to_string(spec.max_waiting) + " " + spec.waiting + "; send it again in a moment", spec.retry_after));
  }
}

namespace {

// A 406 for a _format or Accept that asks for other than JSON.
std::optional<Response> RefuseFormat(const Request& request) {
  if (const std::string* format = request.Query("_format");
      format != nullptr && *format != "json" && *format != "application/fhir+json" && *format != "application/json") {
    return Outcome(406, "not-supported", "only JSON is served (_format=" + *format + ")");
  }
  if (const std::string* accept = request.Header("accept"); accept != nullptr && !AcceptsJson(*accept)) {
    return Outcome(406, "not-supported", "only JSON is served (Accept: " + *accept + ")");
  }
  return std::nullopt;
}

}  // namespace

void Facade::FhirRequest(const Request& request, const std::vector<std::string>& parts, Responder respond) {
  if (std::optional<Response> refused = RefuseFormat(request)) return respond(std::move(*refused));
  Fhir(request, parts, std::move(respond));
}

void Facade::Count(const std::string& method, int status) {
  std::lock_guard lock(metrics_mutex_);
  ++requests_[{method, status}];
}

void Facade::Handle(const Request& request, Responder respond) {
  // Every answer is counted by method and status on its way out.
  std::vector<std::string> parts = SplitPath(request.path);
  // CSV imports and Bundles run on lanes of their own, counted without holding the Facade: a lane
  // thread must never hold its last reference (it would end the Facade, and so join itself, on its
  // own thread); ~Facade waits for the tasks in hand.
  const bool csv_import = parts.size() == 2 && parts[0] == "csv" && request.method == "POST";
  const bool bundle = parts.size() == 1 && parts[0] == "fhir" && request.method == "POST";
  if (csv_import || bundle) {
    Responder counted_here = [this, respond = std::move(respond)](Response r) {
      Count("POST", r.status);
      respond(std::move(r));
    };
    if (csv_import) {
      // One at a time: an import takes up to seconds.
      return RunOnLane(imports_, {"kgw-import", 1, 4, "file", "CSV exports wait to be imported already", "5"},
                       [this, layout = parts[1], request](const Responder& r) { r(ImportCsv(layout, request)); },
                       std::move(counted_here));
    }
    // Eight: a thread mostly waits for its commit, and the commits of those waiting together are one.
    return RunOnLane(bundles_, {"kgw-bundle", 8, 64, "Bundle", "Bundles wait to be processed already", "1"},
                     [this, request](const Responder& r) { FhirRequest(request, {}, r); }, std::move(counted_here));
  }
  Responder counted = [self = shared_from_this(), method = request.method, respond = std::move(respond)](Response r) {
    self->Count(method, r.status);
    respond(std::move(r));
  };
  if (parts.size() == 1 && parts[0] == "healthz") {
    counted({200, "text/plain", {}, "ok\n"});
  } else if (parts.size() == 1 && parts[0] == "readyz") {
    counted(Ready());
  } else if (parts.size() == 1 && parts[0] == "metrics") {
    counted(Metrics());
  } else if (const bool operator_path = !parts.empty() && (parts[0] == "admin" || mounts_.count(parts[0]) > 0);
             operator_path && options_.operators != nullptr && !OperatorAllowed(request)) {
    Response denied = Outcome(401, "login", "this endpoint needs an operator token (Authorization: Bearer ...)");
    denied.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ketamine-gateway operators\"");
    counted(std::move(denied));
  } else if (!parts.empty() && parts[0] == "admin") {
    counted(Admin(request, parts));
  } else if (auto mount = parts.empty() ? mounts_.end() : mounts_.find(parts[0]); mount != mounts_.end()) {
    counted(mount->second(request, parts));
  } else if (parts.size() == 2 && parts[0] == "csv") {
    counted(Outcome(405, "not-supported", "a CSV export is sent with POST"));
  } else if (!parts.empty() && parts[0] == "fhir") {
    parts.erase(parts.begin());
    FhirRequest(request, parts, std::move(counted));
  } else {
    counted(Outcome(404, "not-found", "no such endpoint: " + request.path));
  }
}

bool Facade::OperatorAllowed(const Request& request) const {
  std::optional<std::string> who = options_.operators->Authorize(request);
  if (!who) {
    log::Warn("http.operator-refused", {{"method", request.method}, {"path", request.path}});
    return false;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    log::Info("http.operator-write", {{"operator", *who}, {"method", request.method}, {"path", request.path}});
  }
  return true;
}

Response Facade::HandleAndWait(const Request& request) {
  std::promise<Response> promise;
  auto future = promise.get_future();
  Handle(request, [&promise](Response r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Facade::Fhir(const Request& request, const std::vector<std::string>& parts, Responder respond) {
  const std::string& method = request.method;
  // A search by POST (FHIR R4 3.1.1.1): its parameters in a form body, out of URLs and the logs
  // that keep them (an MRN is patient data).
  if (parts.size() == 2 && parts[1] == "_search" && kTypes.count(parts[0]) > 0) {
    if (method != "POST") return respond(Outcome(405, "not-supported", "_search takes POST; GET searches at " + parts[0]));
    if (MediaType(request) != "application/x-www-form-urlencoded") {
      return respond(Outcome(415, "not-supported", "_search takes application/x-www-form-urlencoded (Content-Type)"));
    }
    Request search = request;
    if (Status decoded = DecodeForm(request.body, search); !decoded.ok()) {
      return respond(Outcome(400, "invalid", "the form body: " + decoded.message()));
    }
    search.query.insert(search.query.begin(), request.query.begin(), request.query.end());
    return respond(Search(parts[0], search));
  }
  const bool has_body = method == "POST" || method == "PUT";
  if (std::optional<Response> encoded = RefuseEncoded(request); has_body && encoded) return respond(std::move(*encoded));
  if (has_body && !JsonContentType(request)) {
    return respond(Outcome(415, "not-supported", "send application/fhir+json (Content-Type)"));
  }
  if (parts.empty()) {
    if (method == "POST") return Bundle(request, std::move(respond));
    return respond(Outcome(405, "not-supported", method + " is not supported on the base"));
  }
  if (parts.size() == 1 && parts[0] == "metadata") {
    return respond(method == "GET" ? Metadata() : Outcome(405, "not-supported", "metadata is read with GET"));
  }
  if (parts.size() == 1 && parts[0] == "_history") {
    return respond(method == "GET" ? TypeHistory("", request) : Outcome(405, "not-supported", "history is read with GET"));
  }
  if (parts.size() == 1 && parts[0] == "$convert-data") {
    return respond(method == "POST" ? ConvertData(request) : Outcome(405, "not-supported", "$convert-data takes POST"));
  }
  const std::string& type = parts[0];
  if (!kTypes.count(type)) return respond(Outcome(404, "not-supported", "resource type '" + type + "' is not served here"));
  if (parts.size() == 1) {
    if (method == "GET") return respond(Search(type, request));
    if (method == "POST") return Create(type, request, std::move(respond));
    if (method == "PUT") return ConditionalUpdate(type, request, std::move(respond));
    if (method == "PATCH") return ConditionalPatch(type, request, std::move(respond));
    return respond(Outcome(405, "not-supported", method + " is not supported on " + type));
  }
  if (parts.size() == 2 && parts[1] == "$validate") {
    return respond(method == "POST" ? Validate(type, request) : Outcome(405, "not-supported", "$validate takes POST"));
  }
  if (parts.size() == 2 && parts[1] == "_history") {  // an id never starts with "_"
    return respond(method == "GET" ? TypeHistory(type, request) : Outcome(405, "not-supported", "history is read with GET"));
  }
  if (parts.size() == 2) {
    if (method == "GET") return respond(NotModified(ReadSubset(type, parts[1], request), request));
    if (method == "PUT") return Update(type, parts[1], request, std::move(respond));
    if (method == "PATCH") return Patch(type, parts[1], request, std::move(respond));
    return respond(Outcome(405, "not-supported", method + " is not supported on a " + type + " (resources are never deleted)"));
  }
  if (parts.size() == 3 && parts[2] == "$everything") {
    if (type != "Patient") return respond(Outcome(404, "not-supported", "$everything is served on Patient only"));
    return respond(method == "GET" ? Everything(parts[1], request) : Outcome(405, "not-supported", "$everything is read with GET"));
  }
  if ((parts.size() == 3 || parts.size() == 4) && parts[2] == "_history") {
    if (method != "GET") return respond(Outcome(405, "not-supported", "history is read with GET"));
    return respond(parts.size() == 3 ? History(type, parts[1], request) : ReadVersion(type, parts[1], parts[3]));
  }
  respond(Outcome(404, "not-found", "no such endpoint: " + request.path));
}

Response Facade::Metadata() const {
  rapidjson::Document cs(rapidjson::kObjectType);
  auto& a = cs.GetAllocator();
  cs.AddMember("resourceType", "CapabilityStatement", a);
  cs.AddMember("status", "active", a);
  cs.AddMember("date", Value(FormatIsoTimestamp(Clock::System().Now()).substr(0, 10).c_str(), a), a);
  cs.AddMember("kind", "instance", a);
  Value software(rapidjson::kObjectType);
  software.AddMember("name", "Ketamine FHIR Gateway", a);
  software.AddMember("version", Value(options_.software_version.c_str(), a), a);
  cs.AddMember("software", software, a);
  Value implementation(rapidjson::kObjectType);
  implementation.AddMember("description", "HL7 v2 / FHIR R4 gateway for IV ketamine therapy", a);
  implementation.AddMember("url", Value(options_.base_url.c_str(), a), a);
  cs.AddMember("implementation", implementation, a);
  cs.AddMember("fhirVersion", "4.0.1", a);
  Value formats(rapidjson::kArrayType);
  formats.PushBack("application/fhir+json", a);
  formats.PushBack("json", a);
  cs.AddMember("format", formats, a);
  Value rest(rapidjson::kObjectType);
  rest.AddMember("mode", "server", a);
  auto operation = [&a](const char* name, const char* definition) {
    Value operations(rapidjson::kArrayType);
    Value op(rapidjson::kObjectType);
    op.AddMember("name", Value(name, a), a);
    op.AddMember("definition", Value(definition, a), a);
    operations.PushBack(op, a);
    return operations;
  };
  Value resources(rapidjson::kArrayType);
  for (const auto& type : kTypes) {
    Value r(rapidjson::kObjectType);
    r.AddMember("type", Value(type.c_str(), a), a);
    Value interactions(rapidjson::kArrayType);
    for (const char* code : {"read", "vread", "update", "patch", "history-instance", "history-type", "create", "search-type"}) {
      Value i(rapidjson::kObjectType);
      i.AddMember("code", Value(code, a), a);
      interactions.PushBack(i, a);
    }
    r.AddMember("interaction", interactions, a);
    r.AddMember("versioning", "versioned-update", a);
    r.AddMember("readHistory", true, a);
    r.AddMember("conditionalCreate", true, a);
    r.AddMember("conditionalRead", "full-support", a);
    r.AddMember("conditionalUpdate", true, a);
    r.AddMember("conditionalDelete", "not-supported", a);
    Value search(rapidjson::kArrayType);
    for (const SearchParamDef& param : SearchParamsOf(type)) {
      static const std::map<SearchParamKind, const char*> kKindNames = {{SearchParamKind::kToken, "token"},
                                                                        {SearchParamKind::kReference, "reference"},
                                                                        {SearchParamKind::kDate, "date"},
                                                                        {SearchParamKind::kString, "string"},
                                                                        {SearchParamKind::kQuantity, "quantity"}};
      Value p(rapidjson::kObjectType);
      p.AddMember("name", Value(param.name, a), a);
      p.AddMember("type", Value(kKindNames.at(param.kind), a), a);
      if (param.kind == SearchParamKind::kReference) {
        const std::string target = param.target;
        std::string text = "a " + target + "'s id or reference";
        if (target == "Patient") {
          text += std::string("; chained by the patient's identifier: ") + param.name + ".identifier=system|value";
        }
        p.AddMember("documentation", Value(text.c_str(), a), a);
      }
      search.PushBack(p, a);
    }
    for (const auto& [name, kind] : {std::pair{"_id", "token"}, {"_lastUpdated", "date"}, {"_count", "number"}}) {
      Value p(rapidjson::kObjectType);
      p.AddMember("name", Value(name, a), a);
      p.AddMember("type", Value(kind, a), a);
      search.PushBack(p, a);
    }
    r.AddMember("searchParam", search, a);
    Value include(rapidjson::kArrayType);
    for (const auto& [key, paths] : IncludePaths()) {
      if (key.rfind(type + ":", 0) == 0) include.PushBack(Value(key.c_str(), a), a);
    }
    if (!include.Empty()) r.AddMember("searchInclude", include, a);
    Value revinclude(rapidjson::kArrayType);
    for (const auto& [source, param] : ReferencesTo(type)) {
      revinclude.PushBack(Value((source + ":" + param->name).c_str(), a), a);
    }
    if (!revinclude.Empty()) r.AddMember("searchRevInclude", revinclude, a);
    Value operations = operation("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate");
    if (type == "Patient") {
      Value everything = operation("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything");
      operations.PushBack(everything[0], a);
    }
    r.AddMember("operation", operations, a);
    resources.PushBack(r, a);
  }
  rest.AddMember("resource", resources, a);
  Value interactions(rapidjson::kArrayType);
  for (const char* code : {"transaction", "batch", "history-system"}) {
    Value i(rapidjson::kObjectType);
    i.AddMember("code", Value(code, a), a);
    interactions.PushBack(i, a);
  }
  rest.AddMember("interaction", interactions, a);
  rest.AddMember("operation", operation("convert-data", "http://fhir.ketamine-gateway.org/OperationDefinition/convert-data"), a);
  Value rests(rapidjson::kArrayType);
  rests.PushBack(rest, a);
  cs.AddMember("rest", rests, a);
  return {200, "application/fhir+json", {}, fhir::ToJson(cs)};
}

Response Facade::Read(const std::string& type, const std::string& id) {
  auto stored = store_->ReadResource(type, id);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return Outcome(404, "not-found", type + "/" + id + " does not exist");
    return StoreFailure(stored.status());
  }
  return {200,
          "application/fhir+json",
          {{"ETag", "W/\"" + std::to_string(stored->version) + "\""}, {"Last-Modified", HttpDateOf(stored->last_updated)}},
          WithMeta(*stored)};
}

// A read with _summary or _elements (FHIR allows both on a read): the resource trimmed as a search's
// matches are.
Response Facade::ReadSubset(const std::string& type, const std::string& id, const Request& request) {
  Subset subset;
  for (const auto& [name, value] : request.query) {
    if (name != "_summary" && name != "_elements") continue;
    if (Status read = ReadSubsetParam(name, value, validator_->model(), subset, nullptr); !read.ok()) {
      return Outcome(400, "invalid", read.message());
    }
  }
  Response read = Read(type, id);
  if (!subset.any() || read.status != 200) return read;
  KeepMandatory(validator_->model(), type, subset);
  auto doc = fhir::ParseJson(read.body);
  if (!doc.ok()) return read;
  ApplySubset(**doc, subset, (*doc)->GetAllocator());
  read.body = fhir::ToJson(**doc);
  return read;
}

Response Facade::ReadVersion(const std::string& type, const std::string& id, const std::string& version) {
  int64_t v = 0;
  const auto [end, error] = std::from_chars(version.data(), version.data() + version.size(), v);
  if (error != std::errc() || end != version.data() + version.size() || v < 1) {
    return Outcome(404, "not-found", type + "/" + id + " has no version '" + version + "'");
  }
  auto found = store_->ResourceVersions(type, id, v);
  if (!found.ok()) return StoreFailure(found.status());
  if (found->empty()) {
    auto current = store_->ResourceVersions(type, id, 0);
    if (current.ok() && current->empty()) return Outcome(404, "not-found", type + "/" + id + " does not exist");
    return Outcome(404, "not-found", type + "/" + id + " has no version " + version);
  }
  const store::StoredResource& r = found->front();
  return {200,
          "application/fhir+json",
          {{"ETag", "W/\"" + std::to_string(r.version) + "\""}, {"Last-Modified", HttpDateOf(r.last_updated)}},
          WithMeta(r)};
}

// Every kept version, newest first (the store keeps what each update replaced), paged like a search.
namespace {

// A history entry's request: the REST interaction that wrote the version (its inbound record says
// "POST Observation", "PUT …", "PATCH …"); a version written by a message, a CSV import or a Bundle
// entry is given as PUT Type/id, the conditional update those amount to.
std::pair<const char*, std::string> HistoryRequest(const store::StoredResource& r) {
  if (r.written_by == "POST " + r.type) return {"POST", r.type};
  if (r.written_by == "PATCH " + r.type) return {"PATCH", r.type + "/" + r.id};
  return {"PUT", r.type + "/" + r.id};
}

// A history Bundle of a page of versions (each entry's request and response as FHIR's history
// gives them), with the total when it is known and a next link when more follow; `here` is the
// history's URL with the parameters every page keeps ("…/_history?" or "…/_history?_since=…&"),
// `next_only` what the next link adds ("_lastUpdated=le…&").
Response HistoryBundle(const std::vector<store::StoredResource>& versions, std::optional<int64_t> total, bool more,
                       const std::string& here, const store::SearchRange& page, const std::string& base_url,
                       const std::string& next_only = "") {
  rapidjson::Document bundle(rapidjson::kObjectType);
  auto& a = bundle.GetAllocator();
  bundle.AddMember("resourceType", "Bundle", a);
  bundle.AddMember("type", "history", a);
  if (total) bundle.AddMember("total", *total, a);
  auto link = [&](const char* relation, size_t at, const std::string& extra) {
    Value l(rapidjson::kObjectType);
    l.AddMember("relation", Value(relation, a), a);
    l.AddMember("url", Value((here + extra + "_count=" + std::to_string(page.count) + "&_offset=" + std::to_string(at)).c_str(), a), a);
    return l;
  };
  Value links(rapidjson::kArrayType);
  links.PushBack(link("self", page.offset, ""), a);
  if (more) links.PushBack(link("next", page.offset + page.count, next_only), a);
  bundle.AddMember("link", links, a);
  Value entries(rapidjson::kArrayType);
  for (const store::StoredResource& r : versions) {
    auto doc = fhir::ParseJson(r.json);
    if (!doc.ok()) continue;
    const std::string reference = r.type + "/" + r.id;
    Value entry = StoredEntry(**doc, r, base_url + "/" + reference, {}, a);
    const auto [method, url] = HistoryRequest(r);
    Value req(rapidjson::kObjectType);
    req.AddMember("method", Value(method, a), a);
    req.AddMember("url", Value(url.c_str(), a), a);
    entry.AddMember("request", req, a);
    Value res(rapidjson::kObjectType);
    res.AddMember("status", r.version == 1 ? "201" : "200", a);
    res.AddMember("etag", Value(("W/\"" + std::to_string(r.version) + "\"").c_str(), a), a);
    res.AddMember("lastModified", Value(r.last_updated.c_str(), a), a);
    entry.AddMember("response", res, a);
    entries.PushBack(entry, a);
  }
  if (!entries.Empty()) bundle.AddMember("entry", entries, a);
  return {200, "application/fhir+json", {}, fhir::ToJson(bundle)};
}

}  // namespace

Response Facade::History(const std::string& type, const std::string& id, const Request& request) {
  store::SearchRange page{.count = options_.default_count};
  for (const auto& [name, value] : request.query) {
    if (name != "_count" && name != "_offset") continue;
    if (Status set = SetPage(name, value, options_.max_count, page); !set.ok()) {
      return Outcome(400, "invalid", set.message(), "Bundle.link");
    }
  }
  auto versions = store_->ResourceVersions(type, id, 0);
  if (!versions.ok()) return StoreFailure(versions.status());
  if (versions->empty()) return Outcome(404, "not-found", type + "/" + id + " does not exist");
  // A resource has few versions: all are read and paged here.
  const size_t from = std::min(page.offset, versions->size());
  const size_t to = std::min(versions->size(), from + page.count);
  std::vector<store::StoredResource> shown(versions->begin() + static_cast<std::ptrdiff_t>(from),
                                           versions->begin() + static_cast<std::ptrdiff_t>(to));
  return HistoryBundle(shown, static_cast<int64_t>(versions->size()), to < versions->size(),
                       options_.base_url + "/" + type + "/" + id + "/_history?", page, options_.base_url);
}

namespace {

// `_since` of a history or $everything: the resources last updated at or after the first instant
// the value covers (a date: from the start of that day, UTC).
Result<store::SearchCondition> SinceCondition(const std::string& value) {
  if (value.empty() || std::isdigit(static_cast<unsigned char>(value[0])) == 0) {
    return InvalidInput("_since is an instant such as 2026-11-23T14:05:00Z (got '" + value + "')");
  }
  KETAMINE_ASSIGN_OR_RETURN(std::vector<store::SearchCondition> bounds, LastUpdatedConditions("_since", value));
  store::SearchCondition from = bounds.front();
  from.op = store::SearchCondition::Op::kGe;
  return from;
}

// `_lastUpdated=le…` of a history or $everything: the upper bound their first page's next link
// holds them to (what was there when it was read), or a client's; no other prefix is taken.
Result<store::SearchCondition> UntilCondition(const std::string& value) {
  if (value.rfind("le", 0) != 0) {
    return InvalidInput("_lastUpdated here takes le… only, an upper bound (got '" + value + "'); _since is the lower one");
  }
  KETAMINE_ASSIGN_OR_RETURN(std::vector<store::SearchCondition> bounds, LastUpdatedConditions("_lastUpdated", value));
  return bounds.front();
}

// What the first page of a newest-first or multi-part listing adds to its next link: the bound
// `_lastUpdated=le` the given time.
std::string UntilParam(const std::string& last_updated) {
  return "_lastUpdated=" + PercentEncode("le" + last_updated) + "&";
}

}  // namespace

// The history of every resource of a type, or of every type (`type` empty): each kept version, newest
// first, from `_since` on; what a client that follows changes asks for. `_at` and `_list` are refused
// rather than ignored (ignoring them would answer another question). Newest first, the versions
// written while a client pages would push the rest down (a page repeating the end of the one
// before): the first page's next link takes `_lastUpdated=le` its newest version's time, as a
// search's does, and the history takes that upper bound.
Response Facade::TypeHistory(const std::string& type, const Request& request) {
  store::SearchRange page{.count = options_.default_count};
  std::string since, since_text, until, until_text;
  for (const auto& [name, value] : request.query) {
    if (name == "_format" || name == "_pretty") continue;
    if (name == "_count" || name == "_offset") {
      if (Status set = SetPage(name, value, options_.max_count, page); !set.ok()) {
        return Outcome(400, "invalid", set.message(), "Bundle.link");
      }
    } else if (name == "_since") {
      auto from = SinceCondition(value);
      if (!from.ok()) return Outcome(400, "invalid", from.status().message(), "Bundle.link");
      since = from->value;
      since_text = value;
    } else if (name == "_lastUpdated") {
      auto bound = UntilCondition(value);
      if (!bound.ok()) return Outcome(400, "invalid", bound.status().message(), "Bundle.link");
      until = bound->value;
      until_text = value;
    } else {
      return Outcome(400, "not-supported",
                     "history takes _since, _lastUpdated=le…, _count and _offset ('" + name + "' is not supported)",
                     "Bundle.link");
    }
  }
  auto versions = store_->History(type, since, until, page);
  if (!versions.ok()) return StoreFailure(versions.status());
  const std::string here = options_.base_url + (type.empty() ? "" : "/" + type) + "/_history?" +
                           (since_text.empty() ? "" : "_since=" + PercentEncode(since_text) + "&") +
                           (until_text.empty() ? "" : "_lastUpdated=" + PercentEncode(until_text) + "&");
  const std::string anchor = !until_text.empty() || page.offset != 0 || versions->resources.empty()
                                 ? std::string()
                                 : UntilParam(versions->resources.front().last_updated);
  return HistoryBundle(versions->resources, versions->total, versions->more, here, page, options_.base_url, anchor);
}

Response Facade::Search(const std::string& type, const Request& request) {
  std::vector<store::SearchCondition> conditions;
  store::SearchRange range{.count = options_.default_count};
  bool count_only = false;
  Subset subset;
  int or_groups = 0;
  bool matches_nothing = false;  // a chained parameter found no patient
  std::vector<Include> includes;
  std::vector<Include> iterated;  // _include:iterate
  std::vector<std::pair<std::string, std::string>> revincludes;  // a type, its index param that refers to the matches
  Issues ignored;
  auto ignore = [&](const std::string& raw_name, const std::string& text) {
    ignored.Warning("search-param-unknown", Location(raw_name), text);
  };
  for (const auto& [raw_name, value] : request.query) {
    std::string name = raw_name.substr(0, raw_name.find(':'));
    if (name == "_count" || name == "_offset") {
      if (Status set = SetPage(name, value, options_.max_count, range); !set.ok()) {
        return Outcome(400, "invalid", set.message(), "Bundle.link");
      }
      continue;
    }
    if (name == "_format" || name == "_pretty") continue;
    if (name == "_elements" || name == "_summary") {
      if (Status read = ReadSubsetParam(name, value, validator_->model(), subset, &count_only); !read.ok()) {
        return Outcome(400, "invalid", read.message(), "Bundle.link");
      }
      continue;
    }
    if (name == "_total") {  // none: the matches are not counted (a cheaper page); estimate and accurate count them
      if (value != "none" && value != "estimate" && value != "accurate") {
        return Outcome(400, "invalid", "_total must be none, estimate or accurate (got '" + value + "')", "Bundle.link");
      }
      range.counted = value != "none";
      continue;
    }
    if (name == "_include") {  // Type:param[:Target]; with :iterate, of any type the results hold
      const bool iterate = raw_name == "_include:iterate";
      const std::vector<std::string> pieces = SplitList(value, ':');
      const std::string key = pieces.size() >= 2 ? pieces[0] + ":" + pieces[1] : value;
      auto& into = iterate ? iterated : includes;
      if (raw_name != "_include" && !iterate) {
        ignore(raw_name, "'" + raw_name + "' is not supported (_include and _include:iterate are)");
      } else if (value == "*") {
        for (const auto& [path_key, paths] : IncludePaths()) {
          if (iterate || path_key.rfind(type + ":", 0) == 0) into.push_back({path_key, ""});
        }
      } else if (pieces.size() > 3 || (!iterate && pieces[0] != type) || !IncludePaths().count(key)) {
        ignore(raw_name, raw_name + "=" + value + " is not supported (see the CapabilityStatement's searchInclude)");
      } else {
        into.push_back({key, pieces.size() == 3 ? pieces[2] : ""});
      }
      continue;
    }
    if (name == "_revinclude") {  // Type:param[:Target] referring to this type; ":iterate" is not followed
      if (raw_name != "_revinclude") {
        ignore(raw_name, "'" + raw_name + "' is not supported: only what refers to the matches themselves is included");
      } else if (auto taken = RevIncludesOf(type, value); !taken.ok()) {
        ignore(raw_name, taken.status().message());
      } else {
        for (auto& r : *taken) {
          if (std::find(revincludes.begin(), revincludes.end(), r) == revincludes.end()) revincludes.push_back(std::move(r));
        }
      }
      continue;
    }
    if (name == "_sort") {  // one key: _lastUpdated or the type's date, '-' for descending; newest update first unless asked
      const std::vector<std::string> keys = SplitList(value, ',');
      const std::string key = keys.empty() ? std::string() : keys[0];
      const bool descending = !key.empty() && key[0] == '-';
      const std::string bare = descending ? key.substr(1) : key;
      const SearchParamDef* def = FindSearchParam(type, bare);
      if (bare == "_lastUpdated" || (def != nullptr && def->kind == SearchParamKind::kDate)) {
        range.oldest_first = !descending;
        range.sort_param = bare == "_lastUpdated" ? "" : def->index;
        if (keys.size() > 1) ignore(raw_name, "_sort follows its first key (" + key + "); ties go by last update");
      } else {
        std::string dates;
        for (const SearchParamDef& p : SearchParamsOf(type)) {
          if (p.kind == SearchParamKind::kDate) dates += std::string(", ") + p.name + ", -" + p.name;
        }
        ignore(raw_name, "_sort=" + value + " is not supported (_lastUpdated, -_lastUpdated" + dates + "): sorted by -_lastUpdated");
      }
      continue;
    }
    if (std::optional<Status> chain = PatientChain(type, raw_name)) {
      if (!chain->ok()) return Outcome(400, "not-supported", chain->message(), "Bundle.link");
      // The patients with any of the identifiers, then their resources: one OR group of references.
      // A chain that finds no patient finds nothing.
      const int group = ++or_groups;
      size_t found = 0;
      for (const std::string& v : SplitSearchValues(value)) {
        auto patients = store_->SearchResources("Patient", {TokenCondition("identifier", v)},
                                                {.count = kMaxChainMatches + 1, .counted = false});
        if (!patients.ok()) return StoreFailure(patients.status());
        for (const store::StoredResource& patient : patients->resources) {
          if (++found > kMaxChainMatches) {
            return Outcome(400, "too-costly", raw_name + " matches more than " + std::to_string(kMaxChainMatches) +
                                                  " patients: name the identifier's system", "Bundle.link");
          }
          store::SearchCondition c;
          c.param = "subject";
          c.value = "Patient/" + patient.id;
          c.or_group = group;
          conditions.push_back(std::move(c));
        }
      }
      if (found == 0) matches_nothing = true;
      continue;
    }
    static const SearchParamDef kId{"_id", SearchParamKind::kToken, "_id", ""};
    static const SearchParamDef kLastUpdated{"_lastUpdated", SearchParamKind::kDate, "_lastUpdated", ""};
    const SearchParamDef* param = name == "_id" ? &kId : name == "_lastUpdated" ? &kLastUpdated : FindSearchParam(type, name);
    if (param == nullptr) {
      ignore(raw_name, "search parameter '" + raw_name + "' is not supported on " + type + " and was ignored");
      continue;
    }
    const SearchParamKind kind = param->kind;
    if (value.empty()) {  // "?patient=": a parameter a client left blank filters nothing (as other servers do)
      ignore(raw_name, "search parameter '" + raw_name + "' has no value and was ignored");
      continue;
    }
    // Modifiers: ":not" on tokens, a resource type on references, ":missing" on all; any other is
    // refused, not dropped (dropping ":not" would answer the opposite of the question).
    const std::string modifier = raw_name.size() > name.size() ? raw_name.substr(name.size() + 1) : "";
    if (modifier == "missing") {
      // true: the resources without the element (an order with no prescriber, an administration
      // nobody is named as having given); false: those with it. The store reads "the param with an
      // empty value" as "has the param".
      if (value != "true" && value != "false") {
        return Outcome(400, "invalid", "'" + raw_name + "' takes true or false (got '" + value + "')", "Bundle.link");
      }
      if (name == "_id" || name == "_lastUpdated") {
        return Outcome(400, "not-supported", "every resource has " + name + ": '" + raw_name + "' asks nothing", "Bundle.link");
      }
      store::SearchCondition c;
      c.param = param->index;
      c.negated = value == "true";
      conditions.push_back(std::move(c));
      continue;
    }
    const bool negated = modifier == "not" && kind == SearchParamKind::kToken;
    const bool typed = kind == SearchParamKind::kReference && !modifier.empty() &&
                       std::isupper(static_cast<unsigned char>(modifier[0])) != 0 &&
                       std::all_of(modifier.begin(), modifier.end(), [](unsigned char ch) { return std::isalpha(ch) != 0; });
    if (!modifier.empty() && !negated && !typed) {
      return Outcome(400, "not-supported", "search parameter '" + name + "' does not take the modifier ':" + modifier +
                                              "' here", "Bundle.link");
    }
    // A comma list: any of the values (for ":not", none of them).
    const std::vector<std::string> values = SplitSearchValues(value);
    if (values.size() > 1 && kind == SearchParamKind::kDate) {
      return Outcome(400, "invalid", "search parameter '" + raw_name + "' takes one date; repeat it for a range",
                     "Bundle.link");
    }
    if (kind == SearchParamKind::kQuantity) {  // one value; ne is an OR of its two sides
      if (values.size() > 1) {
        return Outcome(400, "invalid", "search parameter '" + raw_name + "' takes one value; repeat it for a range",
                       "Bundle.link");
      }
      auto made = QuantityConditions(raw_name, param->index, value, ++or_groups);
      if (!made.ok()) return Outcome(400, "invalid", made.status().message(), "Bundle.link");
      for (store::SearchCondition& c : *made) conditions.push_back(std::move(c));
      continue;
    }
    const int group = values.size() > 1 && !negated ? ++or_groups : 0;
    for (const std::string& v : values) {
      std::vector<store::SearchCondition> made;
      if (name == "_lastUpdated") {
        auto bounds = LastUpdatedConditions(raw_name, v);
        if (!bounds.ok()) return Outcome(400, "invalid", bounds.status().message(), "Bundle.link");
        made = std::move(*bounds);
      } else if (name == "_id") {
        made.push_back({"_id", store::SearchCondition::Op::kEq, false, "", v});
      } else if (kind == SearchParamKind::kToken) {
        made.push_back(TokenCondition(param->index, v));
      } else if (kind == SearchParamKind::kReference) {
        store::SearchCondition c;
        c.param = param->index;
        c.value = v.find('/') == std::string::npos ? (typed ? modifier : std::string(param->target)) + "/" + v
                                                   : std::string(LocalReference(v, options_.base_url));
        made.push_back(std::move(c));
      } else if (kind == SearchParamKind::kDate) {
        store::SearchCondition c;
        c.param = param->index;
        auto parsed = ParseDateSearch(raw_name, v);
        if (!parsed.ok()) return Outcome(400, "invalid", parsed.status().message(), "Bundle.link");
        c.op = parsed->op;
        c.value = parsed->has_time ? NormalizeDate(parsed->value) : parsed->value;
        // A date without a time covers its whole day (month, year): "le 2026-11-23" includes 23:59.
        if (!parsed->has_time && (c.op == store::SearchCondition::Op::kLe || c.op == store::SearchCondition::Op::kGt)) {
          c.value += "~";
        }
        made.push_back(std::move(c));
      } else {  // a name: starts with the value, whatever the case
        store::SearchCondition c;
        c.param = param->index;
        c.op = store::SearchCondition::Op::kPrefix;
        c.value = v;
        std::transform(c.value.begin(), c.value.end(), c.value.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        made.push_back(std::move(c));
      }
      for (store::SearchCondition& c : made) {
        c.negated = negated;
        c.or_group = group;
        conditions.push_back(std::move(c));
      }
    }
  }
  // Prefer: handling=strict asks for an error instead of a parameter ignored.
  if (const std::string* prefer = request.Header("prefer");
      prefer != nullptr && prefer->find("handling=strict") != std::string::npos && !ignored.empty()) {
    Issues refused;
    for (const Issue& i : ignored.items()) refused.Add({Severity::kError, i.code, i.location, i.text});
    return FromIssues(400, refused);
  }
  KeepMandatory(validator_->model(), type, subset);
  if (count_only) {
    range.count = 0;
    range.counted = true;
  }
  // Before the search: the bound of a date-sorted search's next links (below).
  const bool by_date = !range.sort_param.empty();
  const std::string searched_at = by_date ? FormatIsoTimestamp(Clock::System().Now()) : std::string();
  auto page = matches_nothing ? Result<store::SearchPage>(store::SearchPage{
                                    range.counted ? std::optional<int64_t>(0) : std::nullopt, false, {}})
                              : store_->SearchResources(type, conditions, range);
  if (!page.ok()) return StoreFailure(page.status());
  rapidjson::Document bundle(rapidjson::kObjectType);
  auto& a = bundle.GetAllocator();
  bundle.AddMember("resourceType", "Bundle", a);
  bundle.AddMember("type", "searchset", a);
  if (page->total) bundle.AddMember("total", *page->total, a);
  std::string query;
  bool bounded = false;  // the search has an upper bound on _lastUpdated
  for (const auto& [name, value] : request.query) {
    if (name == "_offset") continue;
    query += (query.empty() ? "" : "&") + PercentEncode(name) + "=" + PercentEncode(value);
    if (name == "_lastUpdated" && (value.rfind("le", 0) == 0 || value.rfind("lt", 0) == 0)) bounded = true;
  }
  auto link = [&](const char* relation, size_t at, const std::string& extra) {
    Value l(rapidjson::kObjectType);
    l.AddMember("relation", Value(relation, a), a);
    std::string url = options_.base_url + "/" + type + "?" + query + (query.empty() ? "" : "&") + extra + "_offset=" +
                      std::to_string(at);
    l.AddMember("url", Value(url.c_str(), a), a);
    return l;
  };
  Value links(rapidjson::kArrayType);
  links.PushBack(link("self", range.offset, ""), a);
  // Newest first, what is written between two pages would push the matches down by as many places
  // (a page repeating the end of the one before): the next link holds the search to what was there
  // when the first page was read, _lastUpdated=le the newest match's time, unless it has an upper
  // bound (the next links of the first page have one). Sorted by a date, a new write can land
  // anywhere in the order, either way: held to what was written before the search began.
  const std::string anchor =
      bounded || range.offset != 0 || page->resources.empty() || (range.oldest_first && !by_date)
          ? std::string()
          : UntilParam(by_date ? searched_at : page->resources.front().last_updated);
  if (page->more) links.PushBack(link("next", range.offset + range.count, anchor), a);
  bundle.AddMember("link", links, a);
  Value entries(rapidjson::kArrayType);
  // The matches, and what they reference (once each, unless a match itself) for _include, read from
  // the match before _elements trims it.
  std::set<std::string> listed;
  for (const auto& r : page->resources) listed.insert(type + "/" + r.id);
  std::vector<std::string> wanted;
  for (const auto& r : page->resources) {
    auto doc = fhir::ParseJson(r.json);
    if (!doc.ok()) continue;
    FollowIncludes(type, **doc, includes, listed, wanted);
    Value entry = StoredEntry(**doc, r, options_.base_url + "/" + type + "/" + r.id, subset, a);
    SetSearchMode(entry, "match", a);
    entries.PushBack(entry, a);
  }
  const Subset included_subset{.without_text = subset.without_text, .summary = subset.summary, .model = subset.model,
                               .elements = {}};  // _elements: the matches'
  std::vector<store::StoredResource> reached = AddIncluded(*store_, options_.base_url, wanted, included_subset, entries, a);
  // _revinclude: what refers to a match (an order's administrations, a patient's observations), one
  // search per parameter over the page's matches, oldest first, once each.
  for (const auto& [source, param] : revincludes) {
    if (page->resources.empty()) break;
    std::vector<store::SearchCondition> referring;
    for (const auto& r : page->resources) {
      store::SearchCondition c;
      c.param = param;
      c.value = type + "/" + r.id;
      c.or_group = 1;
      referring.push_back(std::move(c));
    }
    auto found = store_->SearchResources(source, referring,
                                         {.count = kMaxRevIncluded, .oldest_first = true, .counted = false});
    if (!found.ok()) return StoreFailure(found.status());
    if (found->more) {
      ignored.Warning("too-costly", Location("_revinclude"),
                      "_revinclude=" + source + ":" + param + " included the first " + std::to_string(kMaxRevIncluded) +
                          " only: search " + source + " by " + param + " for the rest");
    }
    for (store::StoredResource& r : found->resources) {
      if (!listed.insert(source + "/" + r.id).second) continue;
      AddIncludedEntry(source, r, options_.base_url, included_subset, entries, a);
      r.type = source;
      reached.push_back(std::move(r));
    }
  }
  // _include:iterate: what the matches and everything included so far reference, then what that
  // references, for a few rounds (an order's administrations, then the nurses who gave them).
  if (!iterated.empty()) {
    for (const auto& r : page->resources) {
      reached.push_back(r);
      reached.back().type = type;
    }
    for (int round = 0; round < kIncludeRounds && !reached.empty(); ++round) {
      std::vector<std::string> next;
      for (const store::StoredResource& r : reached) {
        auto doc = fhir::ParseJson(r.json);
        if (doc.ok()) FollowIncludes(r.type, **doc, iterated, listed, next);
      }
      reached = AddIncluded(*store_, options_.base_url, next, included_subset, entries, a);
    }
  }
  if (!ignored.empty()) {
    auto outcome = fhir::ParseJson(fhir::OperationOutcomeJson(ignored));
    if (outcome.ok()) {
      Value entry(rapidjson::kObjectType);
      entry.AddMember("resource", fhir::DeepCopy(**outcome, a), a);
      SetSearchMode(entry, "outcome", a);
      entries.PushBack(entry, a);
    }
  }
  if (!entries.Empty()) bundle.AddMember("entry", entries, a);  // FHIR JSON has no empty arrays
  return {200, "application/fhir+json", {}, fhir::ToJson(bundle)};
}

// Patient/{id}/$everything: the patient, then its orders, administrations and observations (each type
// oldest first), paged with _count/_offset as one list; what a page's resources reference (medications,
// prescribers, performers) comes along once each as include entries, not counted in the total.
Response Facade::Everything(const std::string& id, const Request& request) {
  static const std::vector<std::string> kEverything = {"Patient", "MedicationRequest", "MedicationAdministration",
                                                       "Observation"};
  store::SearchRange range{.count = options_.default_count};
  std::vector<store::SearchCondition> bounds;  // _since and _lastUpdated=le
  bool bounded = false;                       // by _lastUpdated=le
  std::set<std::string> only;  // _type
  for (const auto& [name, value] : request.query) {
    if (name == "_format" || name == "_pretty") continue;
    if (name == "_count" || name == "_offset") {
      if (Status set = SetPage(name, value, options_.max_count, range); !set.ok()) {
        return Outcome(400, "invalid", set.message(), "Bundle.link");
      }
    } else if (name == "_since") {
      auto from = SinceCondition(value);
      if (!from.ok()) return Outcome(400, "invalid", from.status().message(), "Bundle.link");
      bounds.push_back(std::move(*from));
    } else if (name == "_lastUpdated") {
      auto until = UntilCondition(value);
      if (!until.ok()) return Outcome(400, "invalid", until.status().message(), "Bundle.link");
      bounds.push_back(std::move(*until));
      bounded = true;
    } else if (name == "_type") {
      for (const std::string& t : SplitList(value, ',')) {
        if (std::find(kEverything.begin(), kEverything.end(), t) == kEverything.end()) {
          return Outcome(400, "not-supported", "$everything: _type takes Patient, MedicationRequest, "
                                               "MedicationAdministration and Observation (got '" + t + "')", "Bundle.link");
        }
        only.insert(t);
      }
    } else {
      return Outcome(400, "not-supported", "$everything takes _count, _offset, _since, _lastUpdated=le… and _type ('" +
                                              name + "' is not supported)", "Bundle.link");
    }
  }
  if (auto patient = store_->ReadResource("Patient", id); !patient.ok()) {
    if (patient.status().code() == StatusCode::kNotFound) return Outcome(404, "not-found", "Patient/" + id + " does not exist");
    return StoreFailure(patient.status());
  }
  // A write while a client pages lands at the end of its type's part and pushes the later parts
  // down: the first page's next link holds the listing to what was written before it was counted.
  const std::string counted_at = FormatIsoTimestamp(Clock::System().Now());
  // Each type's matches and how many there are, then the slice of each that falls on this page.
  struct Part {
    std::string type;
    std::vector<store::SearchCondition> conditions;
    int64_t count = 0;
  };
  std::vector<Part> parts;
  int64_t total = 0;
  for (const std::string& type : kEverything) {
    if (!only.empty() && !only.count(type)) continue;
    Part part{type, bounds};
    part.conditions.push_back(type == "Patient" ? store::SearchCondition{"_id", store::SearchCondition::Op::kEq, false, "", id}
                                                : store::SearchCondition{"subject", store::SearchCondition::Op::kEq, false, "",
                                                                         "Patient/" + id});
    auto counted = store_->SearchResources(type, part.conditions, {.count = 0, .counted = true});
    if (!counted.ok()) return StoreFailure(counted.status());
    part.count = counted->total.value_or(0);
    total += part.count;
    parts.push_back(std::move(part));
  }
  rapidjson::Document bundle(rapidjson::kObjectType);
  auto& a = bundle.GetAllocator();
  bundle.AddMember("resourceType", "Bundle", a);
  bundle.AddMember("type", "searchset", a);
  bundle.AddMember("total", total, a);
  std::string query;
  for (const auto& [name, value] : request.query) {
    if (name != "_offset") query += PercentEncode(name) + "=" + PercentEncode(value) + "&";
  }
  auto link = [&](const char* relation, size_t at, const std::string& extra) {
    Value l(rapidjson::kObjectType);
    l.AddMember("relation", Value(relation, a), a);
    const std::string url =
        options_.base_url + "/Patient/" + id + "/$everything?" + query + extra + "_offset=" + std::to_string(at);
    l.AddMember("url", Value(url.c_str(), a), a);
    return l;
  };
  Value links(rapidjson::kArrayType);
  links.PushBack(link("self", range.offset, ""), a);
  const uint64_t end = static_cast<uint64_t>(range.offset) + range.count;
  if (range.count > 0 && end < static_cast<uint64_t>(total)) {
    links.PushBack(link("next", static_cast<size_t>(end), bounded || range.offset != 0 ? "" : UntilParam(counted_at)), a);
  }
  bundle.AddMember("link", links, a);
  Value entries(rapidjson::kArrayType);
  // The medications and practitioners the page's resources reference, in the order first met.
  static const std::vector<Include> kReferenced = [] {
    std::vector<Include> which;
    for (const auto& [key, paths] : IncludePaths()) {
      for (const char* target : {"Medication", "Practitioner"}) which.emplace_back(key, target);
    }
    return which;
  }();
  std::set<std::string> listed;
  std::vector<std::string> wanted;
  uint64_t start = 0;  // where the part begins in the whole list
  for (const Part& part : parts) {
    const uint64_t part_end = start + static_cast<uint64_t>(part.count);
    const uint64_t from = std::max<uint64_t>(start, range.offset), to = std::min(part_end, end);
    if (from < to) {
      auto page = store_->SearchResources(part.type, part.conditions,
                                          {.count = static_cast<size_t>(to - from), .offset = static_cast<size_t>(from - start),
                                           .oldest_first = true, .counted = false});
      if (!page.ok()) return StoreFailure(page.status());
      for (const auto& r : page->resources) {
        auto doc = fhir::ParseJson(r.json);
        if (!doc.ok()) continue;
        FollowIncludes(part.type, **doc, kReferenced, listed, wanted);
        Value entry = StoredEntry(**doc, r, options_.base_url + "/" + part.type + "/" + r.id, {}, a);
        SetSearchMode(entry, "match", a);
        entries.PushBack(entry, a);
      }
    }
    start = part_end;
  }
  AddIncluded(*store_, options_.base_url, wanted, {}, entries, a);
  if (!entries.Empty()) bundle.AddMember("entry", entries, a);
  return {200, "application/fhir+json", {}, fhir::ToJson(bundle)};
}

namespace {

// What the validation follows outside a request (a dosing weight the order references): read from
// the store, each reference once, kept as long as this lives (the validation holds pointers into it).
class StoreLookup {
 public:
  explicit StoreLookup(store::MessageStore& store)
      : store_(store), lookup_([this](std::string_view reference) { return Find(reference); }) {}
  StoreLookup(const StoreLookup&) = delete;
  StoreLookup& operator=(const StoreLookup&) = delete;
  const profiles::ReferenceLookup* get() const { return &lookup_; }

 private:
  const Value* Find(std::string_view reference) {
    const std::vector<std::string> parts = SplitPath(reference);
    if (parts.size() != 2 || !kTypes.count(parts[0])) return nullptr;
    auto& doc = found_[std::string(reference)];
    if (doc == nullptr) {
      auto stored = store_.ReadResource(parts[0], parts[1]);
      if (!stored.ok()) return nullptr;
      auto parsed = fhir::ParseJson(stored->json);
      if (!parsed.ok()) return nullptr;
      doc = std::move(*parsed);
    }
    return doc.get();
  }

  store::MessageStore& store_;
  profiles::ReferenceLookup lookup_;
  std::map<std::string, std::unique_ptr<fhir::JsonDocument>> found_;
};

struct Parsed {
  std::unique_ptr<fhir::JsonDocument> doc;
  Issues issues;  // warnings and information: the resource is taken
  Response error;
  bool ok = false;
};

// Checks a parsed document as a resource of `type` to be written; 400 or 422 as the case is.
// References to the gateway's own base are made relative (LocalizeReferences).
Parsed CheckResource(std::unique_ptr<fhir::JsonDocument> doc, const std::string& type, const std::string& base_url,
                     const profiles::Validator& validator, std::atomic<uint64_t>& failures, store::MessageStore& store) {
  Parsed out;
  if (!doc->IsObject() || Str(*doc, "resourceType") != type) {
    out.error = Outcome(400, "invalid", "the body is not a " + type + " (resourceType)", "resourceType");
    return out;
  }
  LocalizeReferences(*doc, base_url, doc->GetAllocator());
  StoreLookup lookup(store);
  Issues issues = validator.Validate(*doc, nullptr, lookup.get());
  if (issues.HasErrors()) {
    ++failures;
    out.error = FromIssues(422, issues);
    return out;
  }
  out.doc = std::move(doc);
  out.issues = std::move(issues);
  out.ok = true;
  return out;
}

// Parses a request body and checks it (CheckResource); 400 when it is not JSON.
Parsed ParseResource(const std::string& body, const std::string& type, const std::string& base_url,
                     const profiles::Validator& validator, std::atomic<uint64_t>& failures, store::MessageStore& store) {
  auto doc = fhir::ParseJson(body);
  if (!doc.ok()) {
    Parsed out;
    out.error = Outcome(400, "invalid", "the body is not JSON: " + doc.status().message());
    return out;
  }
  return CheckResource(std::move(*doc), type, base_url, validator, failures, store);
}

std::string StripMetaVersion(rapidjson::Document& d, const std::string& id) {
  auto& a = d.GetAllocator();
  // id first, as FHIR servers usually write it; the rest in the order given (members are erased,
  // never swapped, so a client that sends back what it read sends the stored bytes: an unchanged
  // update is recognised as one).
  Value copy(rapidjson::kObjectType);
  copy.AddMember("resourceType", Value(Str(d, "resourceType").c_str(), a), a);
  copy.AddMember("id", Value(id.c_str(), a), a);
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    std::string_view name = it->name.GetString();
    if (name == "resourceType" || name == "id") continue;
    if (name == "meta" && it->value.IsObject()) {
      for (const char* server_owned : {"versionId", "lastUpdated"}) {
        if (auto m = it->value.FindMember(server_owned); m != it->value.MemberEnd()) it->value.EraseMember(m);
      }
      if (it->value.MemberCount() == 0) continue;
    }
    copy.AddMember(Value(it->name, a), Value(it->value, a), a);
  }
  return fhir::ToJson(copy);
}

}  // namespace

// The request as the store keeps it, with its resource writes and (when routes match) the outbox
// items of each; `destinations` gets the names of those, to wake their workers after the commit.
store::InboundRecord Facade::Record(const std::string& what, const Request& request, const std::string& body,
                                    std::vector<store::ResourceWrite> writes, std::vector<std::string>& destinations) const {
  store::InboundRecord record;
  record.received_at = FormatIsoTimestamp(Clock::System().Now());
  record.listener = "http";
  record.message_type = what;
  record.version = "R4";
  record.raw = body;
  record.resources = std::move(writes);
  if (route_ && request.routed) {
    for (const store::ResourceWrite& w : record.resources) {
      for (store::OutboxWrite& o : route_(w.type, w.json)) record.outbox.push_back(std::move(o));
    }
  }
  for (const auto& o : record.outbox) destinations.push_back(o.destination);
  return record;
}

void Facade::Create(const std::string& type, const Request& request, Responder respond) {
  Parsed parsed = ParseResource(request.body, type, options_.base_url, *validator_, validation_failures_, *store_);
  if (!parsed.ok) return respond(parsed.error);
  store::ResourceWrite write;
  write.type = type;
  write.id = NewId();
  if (const std::string* condition = request.Header("if-none-exist")) {
    std::string c = *condition;
    if (size_t q = c.find('?'); q != std::string::npos) c = c.substr(q + 1);
    if (c.rfind("identifier=", 0) != 0 || c.find('&') != std::string::npos) {
      return respond(Outcome(400, "not-supported", "If-None-Exist supports identifier=system|value only", "If-None-Exist"));
    }
    write.unless_identifier = c.substr(11);
    if (write.unless_identifier.find('|') == std::string::npos) write.unless_identifier = "|" + write.unless_identifier;
  }
  write.index = IndexOf(type, *parsed.doc);
  write.json = StripMetaVersion(*parsed.doc, write.id);
  std::string json = write.json;
  std::vector<std::string> destinations;
  std::vector<store::ResourceWrite> writes;
  writes.push_back(std::move(write));
  store::InboundRecord record = Record("POST " + type, request, request.body, std::move(writes), destinations);
  // The 201 leaves only after the commit: answered from the store's thread.
  auto answer = [self = shared_from_this(), type, json = std::move(json), returned = PreferredReturn(request),
                 warnings = std::move(parsed.issues), destinations = std::move(destinations),
                 respond = std::move(respond)](Result<store::AppendOutcome> outcome) {
    if (!outcome.ok()) return respond(StoreFailure(outcome.status()));
    const store::ResourceResult& result = outcome->resources.at(0);
    if (!outcome->rolled_back && result.outcome != store::ResourceOutcome::kExisting && !destinations.empty() &&
        self->queued_) {
      self->queued_(destinations);
    }
    if (outcome->rolled_back) return respond(Outcome(409, "conflict", type + "/" + result.id + " already exists"));
    std::vector<std::pair<std::string, std::string>> headers = {
        {"ETag", "W/\"" + std::to_string(result.version) + "\""},
        {"Location", self->options_.base_url + "/" + type + "/" + result.id + "/_history/" + std::to_string(result.version)}};
    const std::string what = type + "/" + result.id + " version " + std::to_string(result.version);
    if (result.outcome == store::ResourceOutcome::kExisting) {
      Response existing = self->Read(type, result.id);
      if (existing.status != 200) return respond(existing);
      existing.headers.push_back(headers[1]);
      return respond(WriteAnswer(200, existing.headers, returned, {}, what + " was there already (If-None-Exist)",
                                 [&] { return existing.body; }));
    }
    {
      std::lock_guard lock(self->metrics_mutex_);
      ++self->written_[type];
    }
    headers.emplace_back("Last-Modified", HttpDateOf(result.last_updated));
    respond(WriteAnswer(201, std::move(headers), returned, warnings, "created " + what, [&] {
      return WithMeta({type, result.id, result.version, result.last_updated, json});
    }));
  };
  // Answered after the commit, on the HTTP pool: the store's writer goes straight on to the next commit.
  store_->Append(std::move(record), [answer = std::move(answer)](Result<store::AppendOutcome> outcome) mutable {
    RunLater([answer = std::move(answer), outcome = std::move(outcome)]() mutable { answer(std::move(outcome)); });
  });
}

void Facade::Update(const std::string& type, const std::string& id, const Request& request, Responder respond) {
  Parsed parsed = ParseResource(request.body, type, options_.base_url, *validator_, validation_failures_, *store_);
  if (!parsed.ok) return respond(parsed.error);
  if (Str(*parsed.doc, "id") != id) {
    return respond(Outcome(400, "invalid", "the body's id must be '" + id + "' (the id in the URL)", type + ".id"));
  }
  Write(type, id, std::move(parsed.doc), std::move(parsed.issues), "", request, std::move(respond));
}

// PATCH {type}/{id} with a JSON Patch (application/json-patch+json): applied to the current version
// (as a read returns it, meta included), then written as an update of exactly that version, validated
// like any write. The inbound record keeps the patch. Without If-Match, a write that came in between
// is a 409 (send it again) rather than lost under the patched copy.
void Facade::Patch(const std::string& type, const std::string& id, const Request& request, Responder respond) {
  if (std::optional<Response> encoded = RefuseEncoded(request)) return respond(std::move(*encoded));
  if (MediaType(request) != "application/json-patch+json") {
    return respond(Outcome(415, "not-supported", "PATCH takes a JSON Patch (Content-Type application/json-patch+json); "
                                                 "FHIRPath Patch is not supported"));
  }
  auto patch = fhir::ParseJson(request.body);
  if (!patch.ok()) return respond(Outcome(400, "invalid", "the body is not JSON: " + patch.status().message()));
  auto stored = store_->ReadResource(type, id);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return respond(Outcome(404, "not-found", type + "/" + id + " does not exist"));
    return respond(StoreFailure(stored.status()));
  }
  auto doc = fhir::ParseJson(WithMeta(*stored));
  if (!doc.ok()) return respond(StoreFailure(Internal("the stored " + type + "/" + id + " does not parse")));
  if (Status applied = fhir::ApplyJsonPatch(**patch, **doc); !applied.ok()) {
    return respond(applied.code() == StatusCode::kInvalidInput ? Outcome(400, "invalid", applied.message())
                                                               : Outcome(422, "processing", applied.message()));
  }
  if (!(*doc)->IsObject() || Str(**doc, "resourceType") != type || Str(**doc, "id") != id) {
    return respond(Outcome(422, "processing", "a patch cannot change the resource's type or id (" + type + "/" + id + ")"));
  }
  // The patched document itself is checked: no second parse of what the patch made.
  Parsed parsed = CheckResource(std::move(*doc), type, options_.base_url, *validator_, validation_failures_, *store_);
  if (!parsed.ok) return respond(parsed.error);
  Request write = request;
  const bool client_matched = request.Header("if-match") != nullptr;
  if (!client_matched) write.headers["if-match"] = "W/\"" + std::to_string(stored->version) + "\"";
  Write(type, id, std::move(parsed.doc), std::move(parsed.issues), "", write,
        [client_matched, type, id, respond = std::move(respond)](Response r) {
          if (r.status == 412 && !client_matched) {
            return respond(Outcome(409, "conflict", type + "/" + id + " changed while the patch was applied; send it again"));
          }
          respond(std::move(r));
        });
}

namespace {

// The value of a conditional write's one condition, `identifier=system|value` (_format and _pretty
// are no conditions), or null when the query is anything else.
const std::string* IdentifierCriterion(const Request& request) {
  const std::string* found = nullptr;
  for (const auto& [name, value] : request.query) {
    if (name == "_format" || name == "_pretty") continue;
    if (name != "identifier" || value.empty() || found != nullptr) return nullptr;
    found = &value;
  }
  return found;
}

}  // namespace

// PATCH {type}?identifier=system|value: the patch applied to the one resource with that business
// identifier (clinic software knows its order numbers, not the ids the gateway gave them); none is a
// 404, two or more a 412.
void Facade::ConditionalPatch(const std::string& type, const Request& request, Responder respond) {
  const std::string* criterion = IdentifierCriterion(request);
  if (criterion == nullptr) {
    return respond(Outcome(400, "not-supported", "a conditional patch takes one condition, identifier=system|value",
                           "Bundle.link"));
  }
  const std::string& token = *criterion;
  auto found = store_->SearchResources(type, {TokenCondition("identifier", token)}, {.count = 2, .counted = false});
  if (!found.ok()) return respond(StoreFailure(found.status()));
  if (found->resources.empty()) return respond(Outcome(404, "not-found", "no " + type + " has the identifier " + token));
  if (found->resources.size() > 1) {
    return respond(Outcome(412, "multiple-matches", "more than one " + type + " has the identifier " + token));
  }
  Patch(type, found->resources[0].id, request, std::move(respond));
}

// PUT {type}?identifier=system|value: the resource with that business identifier is updated, or
// created when there is none (with the body's id, else a new one); two or more are a 412. The store
// checks again as it writes, so a concurrent write of that identifier is a 409, never a second one.
void Facade::ConditionalUpdate(const std::string& type, const Request& request, Responder respond) {
  const std::string* criterion = IdentifierCriterion(request);
  if (criterion == nullptr) {
    return respond(Outcome(400, "not-supported", "a conditional update takes one condition, identifier=system|value",
                           "Bundle.link"));
  }
  Parsed parsed = ParseResource(request.body, type, options_.base_url, *validator_, validation_failures_, *store_);
  if (!parsed.ok) return respond(parsed.error);
  const std::string& token = *criterion;
  const store::SearchCondition c = TokenCondition("identifier", token);
  auto found = store_->SearchResources(type, {c}, {.count = 2, .counted = false});
  if (!found.ok()) return respond(StoreFailure(found.status()));
  if (found->resources.size() > 1) {
    return respond(Outcome(412, "multiple-matches", "more than one " + type + " has the identifier " + token));
  }
  const std::string body_id = Str(*parsed.doc, "id");
  std::string id = found->resources.empty() ? (body_id.empty() ? NewId() : body_id) : found->resources[0].id;
  if (!body_id.empty() && body_id != id) {
    return respond(Outcome(400, "invalid", "the body's id '" + body_id + "' is not that of the " + type +
                                               " with this identifier (" + id + ")", type + ".id"));
  }
  Write(type, id, std::move(parsed.doc), std::move(parsed.issues), c.has_system ? token : "|" + token, request,
        std::move(respond));
}

void Facade::Write(const std::string& type, const std::string& id, std::unique_ptr<fhir::JsonDocument> doc,
                   Issues warnings, const std::string& match_identifier, const Request& request, Responder respond) {
  store::ResourceWrite write;
  write.type = type;
  write.id = id;
  write.update = true;
  write.match_identifier = match_identifier;
  if (const std::string* match = request.Header("if-match")) {
    write.if_match = VersionFromEtag(*match);
    if (write.if_match == 0) return respond(Outcome(400, "invalid", "If-Match is W/\"<version>\"", "If-Match"));
  }
  write.index = IndexOf(type, *doc);
  write.json = StripMetaVersion(*doc, id);
  std::string json = write.json;
  std::vector<std::string> destinations;
  std::vector<store::ResourceWrite> writes;
  writes.push_back(std::move(write));
  store::InboundRecord record = Record(request.method + " " + type, request, request.body, std::move(writes), destinations);
  auto answer = [self = shared_from_this(), type, id, json = std::move(json), returned = PreferredReturn(request),
                 warnings = std::move(warnings), destinations = std::move(destinations),
                 respond = std::move(respond)](Result<store::AppendOutcome> outcome) {
    if (!outcome.ok()) return respond(StoreFailure(outcome.status()));
    const store::ResourceResult& result = outcome->resources.at(0);
    if (!outcome->rolled_back && !destinations.empty() && self->queued_) self->queued_(destinations);
    if (outcome->rolled_back && result.outcome == store::ResourceOutcome::kIdentityConflict) {
      return respond(Outcome(409, "conflict", "another " + type + " took that identifier meanwhile; send it again"));
    }
    if (outcome->rolled_back) {
      return respond(Outcome(412, "conflict", type + "/" + id + " is at version " + std::to_string(result.version) +
                                                  ", not the one If-Match names"));
    }
    {
      std::lock_guard lock(self->metrics_mutex_);
      ++self->written_[type];
    }
    std::vector<std::pair<std::string, std::string>> headers = {
        {"ETag", "W/\"" + std::to_string(result.version) + "\""},
        {"Location", self->options_.base_url + "/" + type + "/" + id + "/_history/" + std::to_string(result.version)},
        {"Last-Modified", HttpDateOf(result.last_updated)}};
    const bool created = result.outcome == store::ResourceOutcome::kCreated;
    const std::string done = (created                                              ? "created "
                              : result.outcome == store::ResourceOutcome::kUnchanged ? "unchanged (the stored content): "
                                                                                     : "updated ") +
                             type + "/" + id + " version " + std::to_string(result.version);
    respond(WriteAnswer(created ? 201 : 200, std::move(headers), returned, warnings, done, [&] {
      return WithMeta({type, id, result.version, result.last_updated, json});
    }));
  };
  store_->Append(std::move(record), [answer = std::move(answer)](Result<store::AppendOutcome> outcome) mutable {
    RunLater([answer = std::move(answer), outcome = std::move(outcome)]() mutable { answer(std::move(outcome)); });
  });
}

Response Facade::Validate(const std::string& type, const Request& request) {
  auto doc = fhir::ParseJson(request.body);
  if (!doc.ok()) return Outcome(400, "invalid", "the body is not JSON: " + doc.status().message());
  const Value* resource = &**doc;
  if (Str(**doc, "resourceType") == "Parameters") {  // {"parameter": [{"name": "resource", "resource": {...}}]}
    resource = nullptr;
    auto params = (*doc)->FindMember("parameter");
    if (params != (*doc)->MemberEnd() && params->value.IsArray()) {
      for (const Value& p : params->value.GetArray()) {
        if (Str(p, "name") == "resource" && p.HasMember("resource")) resource = &p["resource"];
      }
    }
    if (resource == nullptr) return Outcome(400, "required", "Parameters.parameter 'resource' is missing", "Parameters.parameter");
  }
  if (Str(*resource, "resourceType") != type) {
    return Outcome(400, "invalid", "the resource is not a " + type, "resourceType");
  }
  StoreLookup lookup(*store_);
  Issues issues = validator_->Validate(*resource, nullptr, lookup.get());
  if (issues.HasErrors()) ++validation_failures_;
  return FromIssues(200, issues);
}

Response Facade::ConvertData(const Request& request) {
  auto input = mapping::ParseConvertDataParameters(request.body);
  if (!input.ok()) return Outcome(400, "invalid", input.status().message(), input.status().location().ToString());
  auto msg = hl7v2::Parse(input->message);
  if (!msg.ok()) {
    return Outcome(400, "invalid", "inputData: " + msg.status().message(), msg.status().location().ToString());
  }
  mapping::ConvertOptions options;
  options.message_type = input->message_type;
  auto result = converter_->ToFhir(*msg, options);
  if (!result.ok()) return Outcome(400, "not-supported", result.status().message(), result.status().location().ToString());
  if (result->issues.HasErrors()) return FromIssues(422, result->issues);
  return {200, "application/fhir+json", {}, fhir::ToJson(*result->bundle)};
}

// Plans every entry of a transaction or batch: its type, its id (a conditional update resolved
// against the store, or against `identities`), the fullUrl other entries may reference it by, and its
// write with those references pointed at the planned ids. A store failure is the answer returned.
std::optional<Response> Facade::PlanEntries(rapidjson::Document& bundle, Value& entries, std::vector<PlannedEntry>& plan,
                                            std::map<std::string, std::string>* identities) {
  std::map<std::string, std::string> references;  // fullUrl -> Type/id
  rapidjson::SizeType index = 0;
  for (Value& entry : entries.GetArray()) {
    PlannedEntry p;
    const std::string where = "Bundle.entry[" + std::to_string(index++) + "]";
    auto resource = entry.IsObject() ? entry.FindMember("resource") : Value::MemberIterator();
    auto req = entry.IsObject() ? entry.FindMember("request") : Value::MemberIterator();
    const std::string method = entry.IsObject() && req != entry.MemberEnd() ? Str(req->value, "method") : "";
    if (method == "GET") {
      p.method = "GET";
      p.url = Str(req->value, "url");
    } else if (!method.empty() && method != "POST" && method != "PUT") {
      p.failed = true;
      p.error = Outcome(405, "not-supported", "entry method '" + method + "' is not supported (POST, PUT, GET" +
                                                  (method == "DELETE" ? "; resources are never deleted)" : ")"),
                        where + ".request.method");
    } else if (!entry.IsObject() || resource == entry.MemberEnd() || req == entry.MemberEnd()) {
      p.failed = true;
      p.error = Outcome(400, "required", "each entry needs resource and request", where);
    } else {
      p.type = Str(resource->value, "resourceType");
      p.method = Str(req->value, "method");
      std::string url = Str(req->value, "url");
      p.full_url = Str(entry, "fullUrl");
      if (!kTypes.count(p.type)) {
        p.failed = true;
        p.error = Outcome(404, "not-supported", "resource type '" + p.type + "' is not served here", where + ".resource");
      } else if (p.method == "POST") {
        // A urn:uuid fullUrl (the converter's, derived from the message) is the resource's id: the
        // same message posted again finds what it created the first time.
        const bool named = p.full_url.rfind("urn:uuid:", 0) == 0;
        p.id = named ? p.full_url.substr(9) : NewId();
        p.write.replay_existing = named;
        if (std::string ine = Str(req->value, "ifNoneExist"); !ine.empty()) {
          if (ine.rfind("identifier=", 0) != 0) {
            p.failed = true;
            p.error = Outcome(400, "not-supported", "ifNoneExist supports identifier=system|value only", where + ".request.ifNoneExist");
          }
          p.write.unless_identifier = ine.substr(std::min<size_t>(ine.size(), 11));
        }
      } else if (p.method == "PUT") {
        size_t q = url.find("?identifier=");
        if (q != std::string::npos) {
          // Conditional update on the business identifier: the stored one with it, else a new one
          // whose id is the entry's UUID (the same message gives the same id every time).
          std::string token = url.substr(q + 12);
          store::SearchCondition c = TokenCondition("identifier", token);
          const std::string identity = p.type + "?" + token;
          if (auto known = identities != nullptr ? identities->find(identity) : std::map<std::string, std::string>::iterator();
              identities != nullptr && known != identities->end()) {
            // Found in the store beforehand or planned by an earlier Bundle of the same write; "": looked
            // up beforehand and not in the store.
            if (known->second.empty()) known->second = p.full_url.rfind("urn:uuid:", 0) == 0 ? p.full_url.substr(9) : NewId();
            p.id = known->second;
          } else {
            auto found = store_->SearchResources(p.type, {c}, {.count = 2, .counted = false});
            if (!found.ok()) return StoreFailure(found.status());
            if (found->resources.size() > 1) {
              p.failed = true;
              p.error = Outcome(412, "multiple-matches", "more than one " + p.type + " has " + token, where + ".request.url");
            }
            p.id = found->resources.size() == 1 ? found->resources[0].id
                                     : (p.full_url.rfind("urn:uuid:", 0) == 0 ? p.full_url.substr(9) : NewId());
            if (identities != nullptr && !p.failed) (*identities)[identity] = p.id;
          }
          p.write.match_identifier = c.has_system ? token : "|" + token;
        } else {
          std::vector<std::string> parts = SplitPath(url);
          if (parts.size() != 2 || parts[0] != p.type) {
            p.failed = true;
            p.error = Outcome(400, "invalid", "PUT url is Type/id or Type?identifier=system|value", where + ".request.url");
          } else {
            p.id = parts[1];
          }
        }
        p.write.update = true;
      } else {
        p.failed = true;
        p.error = Outcome(405, "not-supported", "entry method '" + p.method + "' is not supported (POST, PUT, GET)",
                          where + ".request.method");
      }
      if (!p.failed) {
        for (const PlannedEntry& earlier : plan) {
          if (!earlier.failed && earlier.type == p.type && earlier.id == p.id) {
            p.failed = true;
            p.error = Outcome(409, "conflict", "two entries of the Bundle write " + p.type + "/" + p.id, where);
          }
        }
      }
      if (!p.failed && !p.full_url.empty()) references[p.full_url] = p.type + "/" + p.id;
    }
    plan.push_back(std::move(p));
  }
  // Point references between entries at the ids just planned, and those to this gateway relative.
  auto rewrite = [&](Value& resource) {
    fhir::ForEachReference(resource, [&](Value& reference) {
      auto target = references.find(reference.GetString());
      if (target != references.end()) {
        reference.SetString(target->second.c_str(), bundle.GetAllocator());
      } else {
        LocalizeReference(reference, options_.base_url, bundle.GetAllocator());
      }
    });
  };
  index = 0;
  for (Value& entry : entries.GetArray()) {
    PlannedEntry& p = plan[index++];
    if (p.failed || p.method == "GET") continue;
    Value& resource = entry["resource"];
    rewrite(resource);
    rapidjson::Document copy;
    copy.CopyFrom(resource, copy.GetAllocator());
    p.write.type = p.type;
    p.write.id = p.id;
    p.write.index = IndexOf(p.type, copy);
    p.write.json = StripMetaVersion(copy, p.id);
  }
  return std::nullopt;
}

void Facade::Bundle(const Request& request, Responder respond) {
  // Transactions plan against the store (conditional updates) and wait for their commits: this runs
  // on a bundle thread (RunOnLane from Handle), never on the HTTP pool.
  respond(BundleNow(request));
}

Response Facade::BundleNow(const Request& request) {
  auto doc = fhir::ParseJson(request.body);
  if (!doc.ok()) return Outcome(400, "invalid", "the body is not JSON: " + doc.status().message());
  rapidjson::Document& bundle = **doc;
  const std::string kind = Str(bundle, "type");
  if (Str(bundle, "resourceType") != "Bundle" || (kind != "transaction" && kind != "batch")) {
    return Outcome(400, "invalid", "POST to the base takes a transaction or batch Bundle", "Bundle.type");
  }
  StoreLookup lookup(*store_);
  Issues issues = validator_->Validate(bundle, nullptr, lookup.get());
  if (issues.HasErrors() && kind == "transaction") {
    ++validation_failures_;
    return FromIssues(422, issues);
  }
  auto entries = bundle.FindMember("entry");
  if (entries == bundle.MemberEnd() || !entries->value.IsArray()) {
    return Outcome(400, "required", "the Bundle has no entries", "Bundle.entry");
  }
  std::vector<PlannedEntry> plan;
  if (std::optional<Response> failure = PlanEntries(bundle, entries->value, plan, nullptr)) return *failure;
  size_t writes_planned = 0;
  for (const PlannedEntry& p : plan) writes_planned += !p.failed && p.method != "GET";
  // Routed like single writes; the workers are woken once the record is committed.
  auto submit = [&](std::vector<PlannedEntry*> group) -> Result<store::AppendOutcome> {
    std::vector<store::ResourceWrite> writes;
    for (PlannedEntry* p : group) writes.push_back(p->write);
    std::vector<std::string> destinations;
    store::InboundRecord record = Record("POST Bundle " + kind, request, group.size() == writes_planned ? request.body : std::string(),
                                         std::move(writes), destinations);
    auto outcome = store_->AppendAndWait(std::move(record));
    if (outcome.ok() && !outcome->rolled_back && !destinations.empty() && queued_) queued_(destinations);
    return outcome;
  };
  rapidjson::Document response(rapidjson::kObjectType);
  auto& a = response.GetAllocator();
  response.AddMember("resourceType", "Bundle", a);
  response.AddMember("type", Value((kind + "-response").c_str(), a), a);
  Value out_entries(rapidjson::kArrayType);
  auto entry_response = [&](const std::string& status, const store::ResourceResult* r, const Response* error) {
    Value e(rapidjson::kObjectType);
    Value resp(rapidjson::kObjectType);
    resp.AddMember("status", Value(status.c_str(), a), a);
    if (r != nullptr) {
      std::string location = r->type + "/" + r->id + "/_history/" + std::to_string(r->version);
      resp.AddMember("location", Value(location.c_str(), a), a);
      resp.AddMember("etag", Value(("W/\"" + std::to_string(r->version) + "\"").c_str(), a), a);
      if (!r->last_updated.empty()) resp.AddMember("lastModified", Value(r->last_updated.c_str(), a), a);
    }
    if (error != nullptr) {
      auto outcome = fhir::ParseJson(error->body);
      if (outcome.ok()) resp.AddMember("outcome", fhir::DeepCopy(**outcome, a), a);
    }
    e.AddMember("response", resp, a);
    out_entries.PushBack(e, a);
  };
  // A GET entry: what the same GET on the base answers, its body as the entry's resource.
  auto entry_read = [&](const std::string& url) {
    Response read = ReadEntry(url);
    Value e(rapidjson::kObjectType);
    auto body = fhir::ParseJson(read.body);
    if (read.status < 300 && body.ok()) e.AddMember("resource", fhir::DeepCopy(**body, a), a);
    Value resp(rapidjson::kObjectType);
    resp.AddMember("status", Value(read.status == 200 ? "200 OK" : std::to_string(read.status).c_str(), a), a);
    for (const auto& [name, value] : read.headers) {
      if (name == "ETag") resp.AddMember("etag", Value(value.c_str(), a), a);
    }
    if (read.status >= 300 && body.ok()) resp.AddMember("outcome", fhir::DeepCopy(**body, a), a);
    e.AddMember("response", resp, a);
    out_entries.PushBack(e, a);
  };
  auto status_text = [](const store::ResourceResult& r) {
    switch (r.outcome) {
      case store::ResourceOutcome::kCreated: return std::string("201 Created");
      case store::ResourceOutcome::kUpdated:
      case store::ResourceOutcome::kUnchanged:
      case store::ResourceOutcome::kExisting: return std::string("200 OK");
      case store::ResourceOutcome::kVersionConflict: return std::string("412 Precondition Failed");
      case store::ResourceOutcome::kIdentityConflict: return std::string("409 Conflict");
    }
    return std::string("500 Internal Server Error");
  };
  if (kind == "transaction") {
    for (const PlannedEntry& p : plan) {
      if (p.failed) return p.error;  // all or nothing
    }
    std::vector<PlannedEntry*> all;
    for (PlannedEntry& p : plan) {
      if (p.method != "GET") all.push_back(&p);
    }
    auto outcome = all.empty() ? Result<store::AppendOutcome>(store::AppendOutcome{}) : submit(all);
    if (!outcome.ok()) return StoreFailure(outcome.status());
    if (outcome->rolled_back) {
      for (const auto& r : outcome->resources) {
        if (r.outcome == store::ResourceOutcome::kIdentityConflict) {
          return Outcome(409, "conflict", r.type + " with that identifier changed while the transaction ran; send it again");
        }
        if (r.outcome == store::ResourceOutcome::kVersionConflict) {
          return Outcome(409, "conflict", r.type + "/" + r.id + " already exists");
        }
      }
      return Outcome(409, "conflict", "the transaction conflicted with another write");
    }
    {
      std::lock_guard lock(metrics_mutex_);
      for (const auto& r : outcome->resources) ++written_[r.type];
    }
    // In the order of the request; the GETs read what the transaction wrote (FHIR processes them last).
    size_t written = 0;
    for (const PlannedEntry& p : plan) {
      if (p.method == "GET") {
        entry_read(p.url);
      } else if (written < outcome->resources.size()) {
        const auto& r = outcome->resources[written++];
        entry_response(status_text(r), &r, nullptr);
      }
    }
  } else {
    for (PlannedEntry& p : plan) {
      if (p.method == "GET") {
        entry_read(p.url);
        continue;
      }
      if (p.failed) {
        entry_response(std::to_string(p.error.status), nullptr, &p.error);
        continue;
      }
      Issues entry_issues = validator_->ValidateText(p.write.json, nullptr, lookup.get());
      if (entry_issues.HasErrors()) {
        Response error = FromIssues(422, entry_issues);
        entry_response("422 Unprocessable Entity", nullptr, &error);
        continue;
      }
      auto outcome = submit({&p});
      if (!outcome.ok()) {
        Response error = StoreFailure(outcome.status());
        entry_response(std::to_string(error.status), nullptr, &error);
        continue;
      }
      const auto& r = outcome->resources.at(0);
      entry_response(status_text(r), &r, nullptr);
    }
  }
  response.AddMember("entry", out_entries, a);
  return {200, "application/fhir+json", {}, fhir::ToJson(response)};
}

// What the conditional updates of `bundles` ("PUT Type?identifier=system|value") find in the store, as
// PlanEntries takes them: "Type?system|value" -> the id found, or "" when there is none. A hundred
// identifiers per query instead of a search each; an identifier two resources share is left out, so
// that its entry finds both on its own and is refused (412).
Status Facade::LookUpIdentities(const std::vector<std::unique_ptr<rapidjson::Document>>& bundles,
                                std::map<std::string, std::string>& identities) {
  constexpr size_t kPerQuery = 100;
  std::map<std::string, std::vector<std::string>> tokens;  // type -> "system|value", each once
  for (const auto& bundle : bundles) {
    auto entries = bundle->FindMember("entry");
    if (entries == bundle->MemberEnd() || !entries->value.IsArray()) continue;
    for (const Value& entry : entries->value.GetArray()) {
      auto req = entry.IsObject() ? entry.FindMember("request") : Value::ConstMemberIterator();
      if (!entry.IsObject() || req == entry.MemberEnd() || Str(req->value, "method") != "PUT") continue;
      const std::string url = Str(req->value, "url");
      const size_t q = url.find("?identifier=");
      const std::string token = q == std::string::npos ? "" : url.substr(q + 12);
      if (token.find('|') == std::string::npos || token[0] == '|' || !kTypes.count(url.substr(0, q))) continue;
      if (identities.emplace(url.substr(0, q) + "?" + token, "").second) tokens[url.substr(0, q)].push_back(token);
    }
  }
  for (const auto& [type, list] : tokens) {
    for (size_t from = 0; from < list.size(); from += kPerQuery) {
      const std::vector<std::string> chunk(list.begin() + static_cast<std::ptrdiff_t>(from),
                                           list.begin() + static_cast<std::ptrdiff_t>(std::min(list.size(), from + kPerQuery)));
      auto found = store_->IdsByIdentifier(type, chunk);
      if (!found.ok()) return found.status();
      for (const auto& [identifier, id] : *found) {
        auto wanted = identities.find(type + "?" + identifier);
        if (wanted == identities.end()) continue;  // erased: two resources carry it
        if (wanted->second.empty()) {
          wanted->second = id;
        } else if (wanted->second != id) {
          identities.erase(wanted);  // the entry's own search finds both and refuses it
        }
      }
    }
  }
  return Status::Ok();
}

// ImportCsvNow, counted for /metrics by layout (a known one: the label stays a configured name) and outcome.
Response Facade::ImportCsv(const std::string& layout, const Request& request) {
  Response r = ImportCsvNow(layout, request);
  if (converter_ != nullptr && converter_->CsvPlanById(layout) != nullptr) {
    std::lock_guard lock(metrics_mutex_);
    ++csv_files_[{layout, r.status == 200 ? "stored" : "refused"}];
  }
  return r;
}

// A clinic's CSV export, laid out as mappings/csv/{layout}.json says: every row converted to its
// transaction Bundle and validated (the per-kg limits against weights in the store too). One error
// anywhere and nothing is stored: a 422 lists every row's issues, so the clinic mends the file and
// sends it whole again. Otherwise every row's writes go to the store in one transaction with the file
// itself, routed like REST writes. Rows plan their conditional updates against each other (a
// patient on many rows is one resource) and the identifiers come from the row's content, so the same
// file sent again changes nothing.
Response Facade::ImportCsvNow(const std::string& layout, const Request& request) {
  const mapping::CsvPlan* plan = converter_ ? converter_->CsvPlanById(layout) : nullptr;
  if (plan == nullptr) {
    std::string known;
    if (converter_) {
      for (const auto& p : converter_->csv_plans()) known += (known.empty() ? "" : ", ") + p->id;
    }
    return Outcome(404, "not-found", "no CSV layout '" + ValidUtf8(layout) + "' in mappings/csv/ (there are: " + known + ")");
  }
  mapping::ConvertOptions options;
  const std::string* content_type = request.Header("content-type");
  std::vector<std::string> params = SplitList(content_type != nullptr ? *content_type : "", ';');
  const std::string media = MediaType(request);
  if (media != "text/csv" && media != "application/csv" && media != "text/plain") {
    return Outcome(415, "not-supported", "send the export as text/csv (Content-Type), with its charset when not UTF-8");
  }
  for (size_t i = 1; i < params.size(); ++i) {
    if (params[i].size() > 8 && strncasecmp(params[i].c_str(), "charset=", 8) == 0) {
      options.charset = params[i].substr(8);
      if (options.charset.size() >= 2 && options.charset.front() == '"' && options.charset.back() == '"') {
        options.charset = options.charset.substr(1, options.charset.size() - 2);
      }
    }
  }
  if (std::optional<Response> encoded = RefuseEncoded(request)) return *encoded;
  // Convert and validate every row before anything is written; the issues name row, line and column
  // (the converter's) or row and line with a FHIRPath into the row's Bundle (the validator's), the
  // Bundle `convert --from csv` prints for that row.
  constexpr size_t kMaxListed = 200;
  StoreLookup lookup(*store_);
  std::vector<std::unique_ptr<rapidjson::Document>> bundles;
  std::vector<std::string> bundle_rows;  // "row 3 (line 4)" of each
  Issues issues;
  size_t listed = 0, unlisted = 0, rows = 0, rows_with_errors = 0;
  Status read = converter_->CsvToFhir(request.body, *plan, options, [&](mapping::CsvRowResult& row) {
    ++rows;
    Issues found = std::move(row.issues);
    // A row the converter found errors in is not validated too: what its bad cells left out would
    // be reported again as missing elements.
    if (row.bundle && !found.HasErrors()) {
      Issues validation = validator_->Validate(*row.bundle, nullptr, lookup.get());
      for (const Issue& issue : validation.items()) found.Add(issue);
    }
    const std::string where = "row " + std::to_string(row.row) + " (line " + std::to_string(row.line) + ")";
    for (const Issue& issue : found.items()) {
      if (listed == kMaxListed) {
        ++unlisted;
        continue;
      }
      ++listed;
      const bool csv_location = issue.location.ToString().rfind("row ", 0) == 0;
      issues.Add({issue.severity, issue.code, csv_location ? Location() : issue.location,
                  (csv_location ? issue.location.ToString() : where) + ": " + issue.text});
    }
    if (found.HasErrors() || !row.bundle) {
      ++rows_with_errors;
    } else {
      bundles.push_back(std::move(row.bundle));
      bundle_rows.push_back(where);
    }
  });
  if (!read.ok()) {
    const bool unsupported = read.code() == StatusCode::kUnsupported;
    return Outcome(unsupported ? 415 : 400, unsupported ? "not-supported" : "invalid", read.message());
  }
  if (unlisted > 0) {
    issues.Add({Severity::kInformation, "informational", Location(), std::to_string(unlisted) + " more issues not listed"});
  }
  if (rows_with_errors > 0) {
    ++validation_failures_;
    issues.Add({Severity::kInformation, "informational", Location(),
                std::to_string(rows_with_errors) + " of " + std::to_string(rows) + " rows have errors: nothing was stored"});
    return FromIssues(422, issues);
  }
  // Plan every row's Bundle as a transaction would, the rows sharing their conditional updates (looked
  // up in the store beforehand, a hundred at a time).
  std::map<std::string, std::string> identities;
  if (Status looked = LookUpIdentities(bundles, identities); !looked.ok()) return StoreFailure(looked);
  std::vector<store::ResourceWrite> writes;
  for (size_t i = 0; i < bundles.size(); ++i) {
    rapidjson::Document& bundle = *bundles[i];
    std::vector<PlannedEntry> planned;
    if (std::optional<Response> failure = PlanEntries(bundle, bundle["entry"], planned, &identities)) return *failure;
    for (PlannedEntry& p : planned) {
      if (p.failed) {
        auto body = fhir::ParseJson(p.error.body);
        // The entry's own answer, said of the row: "row 2 (line 3): more than one Patient has ...".
        const Value* issue = body.ok() ? &(**body)["issue"][0] : nullptr;
        const std::string code = issue != nullptr ? Str(*issue, "code") : std::string("processing");
        const std::string text = issue != nullptr ? Str((*issue)["details"], "text") : std::string();
        return Outcome(p.error.status, code.c_str(), bundle_rows[i] + ": " + text);
      }
      writes.push_back(std::move(p.write));
    }
  }
  if (writes.empty()) {
    issues.Add({Severity::kInformation, "informational", Location(), "the file has no data rows: nothing was stored"});
    return {200, "application/fhir+json", {}, fhir::OperationOutcomeJson(issues)};
  }
  std::vector<std::string> destinations;
  auto outcome = store_->AppendAndWait(Record("POST CSV " + layout, request, request.body, std::move(writes), destinations));
  if (!outcome.ok()) return StoreFailure(outcome.status());
  if (outcome->rolled_back) {
    return Outcome(409, "conflict", "a resource of the file changed while it was stored; send the file again");
  }
  if (!destinations.empty() && queued_) queued_(destinations);
  size_t created = 0, updated = 0, unchanged = 0;
  {
    std::lock_guard lock(metrics_mutex_);
    csv_rows_[layout] += rows;
    for (const auto& r : outcome->resources) {
      ++written_[r.type];
      created += r.outcome == store::ResourceOutcome::kCreated;
      updated += r.outcome == store::ResourceOutcome::kUpdated;
      unchanged += r.outcome == store::ResourceOutcome::kUnchanged || r.outcome == store::ResourceOutcome::kExisting;
    }
  }
  if (PreferredReturn(request) == Returned::kMinimal) return {200, "application/fhir+json", {}, ""};
  issues.Add({Severity::kInformation, "informational", Location(),
              "stored " + std::to_string(rows) + (rows == 1 ? " row" : " rows") + " of layout " + layout + ": " + std::to_string(created) +
                  " resources created, " + std::to_string(updated) + " updated, " + std::to_string(unchanged) + " unchanged"});
  return {200, "application/fhir+json", {}, fhir::OperationOutcomeJson(issues)};
}

Response Facade::ReadEntry(const std::string& url) {
  std::string relative = url;
  if (relative.rfind(options_.base_url + "/", 0) == 0) relative.erase(0, options_.base_url.size() + 1);
  Request r;
  r.method = "GET";
  if (Status decoded = DecodeUrl(relative, r); !decoded.ok()) return Outcome(400, "invalid", decoded.message(), "Bundle.entry.request.url");
  // The same routing as a GET on the base; every GET is answered before Fhir returns.
  std::optional<Response> answer;
  Fhir(r, SplitPath(r.path), [&answer](Response response) { answer = std::move(response); });
  return answer ? std::move(*answer) : InternalErrorResponse();
}

namespace {

// An outbox item as /admin shows it (the dead letters, a message's deliveries in its trace).
Value OutboxItemJson(const store::OutboxItem& item, rapidjson::Document::AllocatorType& a) {
  Value o(rapidjson::kObjectType);
  o.AddMember("id", item.id, a);
  o.AddMember("message_id", item.message_id, a);
  o.AddMember("destination", Value(item.write.destination.c_str(), a), a);
  o.AddMember("state", Value(std::string(store::OutboxStateName(item.state)).c_str(), a), a);
  o.AddMember("attempts", item.attempts, a);
  if (item.outcome_unknown) o.AddMember("outcome_unknown", true, a);
  if (!item.last_error.empty()) {
    o.AddMember("last_error", Value(item.last_error.c_str(), static_cast<rapidjson::SizeType>(item.last_error.size()), a), a);
  }
  o.AddMember("created_ms", item.created_ms, a);
  return o;
}

// The 400 of an /admin request with a parameter other than those `what` (the endpoint) takes.
std::optional<Response> RefuseOtherParams(const Request& request, std::initializer_list<std::string_view> taken,
                                          const std::string& what) {
  for (const auto& [name, value] : request.query) {
    if (std::find(taken.begin(), taken.end(), name) != taken.end()) continue;
    std::string names;
    for (std::string_view t : taken) names += (names.empty() ? "" : ", ") + std::string(t);
    return Outcome(400, "not-supported", what + " takes " + (names.empty() ? "no parameters" : names) + " ('" +
                                             ValidUtf8(name) + "' is not taken)");
  }
  return std::nullopt;
}

// A whole number from 1 to `max` in an /admin request: an id (max: any) or a limit. kInvalidInput
// names `what`.
Result<int64_t> AdminNumber(std::string_view text, const std::string& what,
                            int64_t max = std::numeric_limits<int64_t>::max()) {
  int64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || n <= 0 || n > max) {
    const std::string range = max == std::numeric_limits<int64_t>::max() ? "above 0" : "from 1 to " + std::to_string(max);
    return InvalidInput(what + " is a whole number " + range + " (got '" + ValidUtf8(text) + "')");
  }
  return n;
}

// An /admin list's `limit` (absent: `fallback`), 1 to 1000.
Result<int64_t> AdminLimit(const std::string* text, int64_t fallback) {
  return text == nullptr ? Result<int64_t>(fallback) : AdminNumber(*text, "limit", 1000);
}

}  // namespace

// /admin/dead-letters[?destination=NAME]                      GET: the dead letters, oldest first
// /admin/dead-letters/{id}/replay[?force=true]                POST: back to pending, due now
// /admin/dead-letters/replay[?destination=NAME][&force=true]  POST: all of them (of that destination)
// /admin/outbox/{destination}                                 GET: queue figures of a destination
Response Facade::Admin(const Request& request, const std::vector<std::string>& parts) {
  auto json_response = [](int status, const rapidjson::Document& d) {
    return Response{status, "application/json", {}, fhir::ToJson(d)};
  };
  if (parts.size() == 2 && parts[1] == "dead-letters" && request.method == "GET") {
    if (auto refused = RefuseOtherParams(request, {"destination", "limit"}, "/admin/dead-letters")) return *refused;
    auto limit = AdminLimit(request.Query("limit"), 1000);
    if (!limit.ok()) return Outcome(400, "invalid", limit.status().message());
    const std::string* destination = request.Query("destination");
    auto items = store_->ListOutbox(destination == nullptr ? "" : *destination, store::OutboxState::kDead,
                                    static_cast<size_t>(*limit));
    if (!items.ok()) return StoreFailure(items.status());
    rapidjson::Document d(rapidjson::kArrayType);
    for (const auto& item : *items) d.PushBack(OutboxItemJson(item, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
  }
  const bool replay_one = parts.size() == 4 && parts[1] == "dead-letters" && parts[3] == "replay";
  const bool replay_all = parts.size() == 3 && parts[1] == "dead-letters" && parts[2] == "replay";
  if ((replay_one || replay_all) && request.method == "POST") {
    if (auto refused = replay_all ? RefuseOtherParams(request, {"destination", "force"}, "a replay of every dead letter")
                                  : RefuseOtherParams(request, {"force"}, "a replay")) {
      return *refused;
    }
    store::ReplaySelection which;
    if (replay_one) {
      auto id = AdminNumber(parts[2], "a dead letter's id");
      if (!id.ok()) return Outcome(400, "invalid", id.status().message());
      which.id = *id;
    } else if (const std::string* destination = request.Query("destination")) {
      which.destination = *destination;
    }
    if (const std::string* force = request.Query("force")) {
      if (*force != "true" && *force != "false") {
        return Outcome(400, "invalid", "force is true or false (got '" + ValidUtf8(*force) + "')");
      }
      which.force = *force == "true";
    }
    auto outcome = store_->Replay(which);
    if (!outcome.ok()) {
      const Status& s = outcome.status();
      return s.code() == StatusCode::kNotFound ? Outcome(404, "not-found", s.message()) : StoreFailure(s);
    }
    std::set<std::string> woken;
    for (const auto& [id, destination] : outcome->replayed) {
      if (replayed_ && woken.insert(destination).second) replayed_(destination);
    }
    if (replay_one && !outcome->held.empty()) {
      const store::ReplayOutcome::Held& held = outcome->held.front();
      return Outcome(409, "conflict",
                     "dead letter " + std::to_string(held.id) + " was not replayed: item " +
                         std::to_string(held.sent_after) + " of the same patient went to " + ValidUtf8(held.destination) +
                         " after it, so it would arrive out of order (an older version over a newer one); "
                         "replay with force=true to send it anyway");
    }
    if (replay_one) return {202, "application/json", {}, "{\"replayed\":" + std::to_string(which.id) + "}"};
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value replayed(rapidjson::kArrayType);
    for (const auto& [id, destination] : outcome->replayed) {
      Value r(rapidjson::kObjectType);
      r.AddMember("id", id, a);
      r.AddMember("destination", Value(destination.c_str(), a), a);
      replayed.PushBack(r, a);
    }
    Value held(rapidjson::kArrayType);
    for (const store::ReplayOutcome::Held& h : outcome->held) {
      Value r(rapidjson::kObjectType);
      r.AddMember("id", h.id, a);
      r.AddMember("destination", Value(h.destination.c_str(), a), a);
      r.AddMember("sent_after", h.sent_after, a);
      held.PushBack(r, a);
    }
    d.AddMember("replayed", replayed, a);
    d.AddMember("held", held, a);
    return json_response(202, d);
  }
  if (parts.size() >= 2 && parts.size() <= 3 && parts[1] == "messages" && request.method == "GET") {
    return MessageTrace(request, parts.size() == 3 ? &parts[2] : nullptr);
  }
  if (parts.size() == 3 && parts[1] == "outbox" && request.method == "GET") {
    auto stats = store_->Stats(parts[2]);
    if (!stats.ok()) return StoreFailure(stats.status());
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("pending", stats->pending, a);
    d.AddMember("delivered", stats->delivered, a);
    d.AddMember("dead", stats->dead, a);
    d.AddMember("oldest_pending_ms", stats->oldest_pending_ms, a);
    return json_response(200, d);
  }
  return Outcome(404, "not-found", "no such admin endpoint: " + request.method + " " + request.path);
}

namespace {

// Bytes as received (an HL7 v2 message in its own character set) in a JSON object: as text when
// they are UTF-8, else as text with U+FFFD for each byte that is not and, exactly, as base64 under
// KEY_base64.
void AddReceivedBytes(Value& object, const std::string& key, const std::string& bytes,
                      rapidjson::Document::AllocatorType& a) {
  if (IsValidUtf8(bytes)) {
    object.AddMember(Value(key.c_str(), a), Value(bytes.c_str(), static_cast<rapidjson::SizeType>(bytes.size()), a), a);
    return;
  }
  const std::string shown = ValidUtf8(bytes);
  object.AddMember(Value(key.c_str(), a), Value(shown.c_str(), static_cast<rapidjson::SizeType>(shown.size()), a), a);
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(n));
  object.AddMember(Value((key + "_base64").c_str(), a), Value(encoded.c_str(), a), a);
}

}  // namespace

// GET /admin/messages?control_id=X[&sending_facility=F][&limit=N]: what arrived under a sender's
// control id (MSH-10), newest first, each with the ACKs it was answered and the deliveries it
// queued (state, attempts, last error); ?resource=Type/id: the messages and requests that wrote that
// resource's versions. GET /admin/messages/{id}: one message, with its text as received. An interface
// analyst's answer to "did the gateway get order X, and where did it go?".
Response Facade::MessageTrace(const Request& request, const std::string* id) {
  std::vector<store::StoredMessage> messages;
  if (id != nullptr) {
    auto number = AdminNumber(*id, "a message id");
    if (!number.ok()) return Outcome(400, "invalid", number.status().message());
    const int64_t n = *number;
    auto found = store_->List(n - 1, 1);
    if (!found.ok()) return StoreFailure(found.status());
    if (found->empty() || found->front().id != n) return Outcome(404, "not-found", "message " + std::to_string(n) + " does not exist");
    messages = std::move(*found);
  } else {
    const std::string* control_id = request.Query("control_id");
    const std::string* facility = request.Query("sending_facility");
    const std::string* resource = request.Query("resource");
    const std::string* limit_text = request.Query("limit");
    if (auto refused = RefuseOtherParams(request, {"control_id", "sending_facility", "resource", "limit"},
                                         "/admin/messages")) {
      return *refused;
    }
    if ((control_id == nullptr || control_id->empty()) == (resource == nullptr || resource->empty())) {
      return Outcome(400, "invalid", "/admin/messages needs control_id (MSH-10 of the message looked for) or "
                                     "resource (Type/id of what it wrote), one of them");
    }
    const std::vector<std::string> reference = resource == nullptr ? std::vector<std::string>() : SplitPath(*resource);
    if (resource != nullptr && (reference.size() != 2 || !kTypes.count(reference[0]))) {
      return Outcome(400, "invalid", "resource is Type/id of a type served here (got '" + ValidUtf8(*resource) + "')");
    }
    auto limit = AdminLimit(limit_text, 20);
    if (!limit.ok()) return Outcome(400, "invalid", limit.status().message());
    const size_t most = static_cast<size_t>(*limit);
    auto found = resource != nullptr ? store_->MessagesOfResource(reference[0], reference[1], most)
                                     : store_->FindMessages(*control_id, facility == nullptr ? "" : *facility, most);
    if (!found.ok()) return StoreFailure(found.status());
    messages = std::move(*found);
  }
  rapidjson::Document d(rapidjson::kArrayType);
  auto& a = d.GetAllocator();
  for (const store::StoredMessage& m : messages) {
    const store::InboundRecord& r = m.record;
    Value v(rapidjson::kObjectType);
    v.AddMember("id", m.id, a);
    v.AddMember("received_at", Value(r.received_at.c_str(), a), a);
    v.AddMember("listener", Value(r.listener.c_str(), a), a);
    AddReceivedBytes(v, "sending_application", r.sending_application, a);
    AddReceivedBytes(v, "sending_facility", r.sending_facility, a);
    AddReceivedBytes(v, "control_id", r.control_id, a);
    AddReceivedBytes(v, "message_type", r.message_type, a);
    AddReceivedBytes(v, "version", r.version, a);
    v.AddMember("status", Value(std::string(store::MessageStatusName(r.status)).c_str(), a), a);
    Value acks(rapidjson::kArrayType);
    for (const std::string& reply : r.replies) {
      Value ack(rapidjson::kObjectType);
      AddReceivedBytes(ack, "text", reply, a);
      acks.PushBack(ack, a);
    }
    v.AddMember("acks", acks, a);
    auto items = store_->OutboxOfMessage(m.id);
    if (!items.ok()) return StoreFailure(items.status());
    Value deliveries(rapidjson::kArrayType);
    for (const store::OutboxItem& item : *items) deliveries.PushBack(OutboxItemJson(item, a), a);
    v.AddMember("deliveries", deliveries, a);
    if (id != nullptr) AddReceivedBytes(v, "raw", r.raw, a);
    d.PushBack(v, a);
  }
  return {200, "application/json", {}, fhir::ToJson(id != nullptr ? d[0] : d)};
}

Response Facade::Ready() {
  auto count = store_->Count();
  if (!count.ok()) return {503, "text/plain", {}, "store unavailable: " + count.status().message() + "\n"};
  return {200, "text/plain", {}, "ready\n"};
}

Response Facade::Metrics() const {
  std::ostringstream out;
  std::lock_guard lock(metrics_mutex_);
  out << "# HELP ketamine_http_requests_total HTTP requests by method and status.\n"
         "# TYPE ketamine_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "ketamine_http_requests_total{method=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  }
  out << "# HELP ketamine_resources_written_total FHIR resources written by the REST facade, by type.\n"
         "# TYPE ketamine_resources_written_total counter\n";
  for (const auto& [type, n] : written_) out << "ketamine_resources_written_total{type=\"" << type << "\"} " << n << "\n";
  out << "# HELP ketamine_csv_files_total CSV exports received at /csv/{layout}, stored whole or refused whole.\n"
         "# TYPE ketamine_csv_files_total counter\n";
  for (const auto& [key, n] : csv_files_) {
    out << "ketamine_csv_files_total{layout=\"" << key.first << "\",outcome=\"" << key.second << "\"} " << n << "\n";
  }
  out << "# HELP ketamine_csv_rows_total Rows of CSV exports stored, by layout.\n"
         "# TYPE ketamine_csv_rows_total counter\n";
  for (const auto& [layout, n] : csv_rows_) out << "ketamine_csv_rows_total{layout=\"" << layout << "\"} " << n << "\n";
  out << "# HELP ketamine_validation_failures_total Requests refused because the FHIR was not valid.\n"
         "# TYPE ketamine_validation_failures_total counter\n"
      << "ketamine_validation_failures_total " << validation_failures_.load() << "\n"
      << "# HELP ketamine_store_commits_total Store transactions committed (each one fsync).\n"
         "# TYPE ketamine_store_commits_total counter\n"
      << "ketamine_store_commits_total " << store_->commits() << "\n"
      << "# HELP ketamine_store_appends_total Messages and requests stored.\n"
         "# TYPE ketamine_store_appends_total counter\n"
      << "ketamine_store_appends_total " << store_->appends() << "\n"
      << store_->MetricsText();
  if (extra_metrics_) out << extra_metrics_();
  return {200, "text/plain; version=0.0.4", {}, out.str()};
}

}  // namespace ketamine::http
