#include "mapping/datatypes.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdlib>

#include "hl7v2/escape.h"

namespace ketamine::mapping {
namespace {

std::string Text(std::string_view raw, const ConvertContext& ctx) { return hl7v2::Unescape(raw, *ctx.delimiters); }
std::string_view Comp(std::string_view v, int n, const ConvertContext& ctx) {
  return hl7v2::Component(v, n, *ctx.delimiters);
}
std::string_view Sub(std::string_view v, int n, const ConvertContext& ctx) {
  return hl7v2::Subcomponent(v, n, *ctx.delimiters);
}

// A value split once into its components (v2 data types have at most a few dozen), instead of
// rescanning from the start for every component read.
class Parts {
 public:
  Parts(std::string_view raw, const ConvertContext& ctx) {
    const char delimiter = ctx.delimiters->component;
    const char* p = raw.data();
    const char* end = p + raw.size();
    const char* start = p;
    for (; p != end && count_ < kMax; ++p) {
      if (*p == delimiter) {
        parts_[count_++] = std::string_view(start, static_cast<size_t>(p - start));
        start = p + 1;
      }
    }
    if (count_ < kMax) parts_[count_++] = std::string_view(start, static_cast<size_t>(end - start));
  }
  std::string_view operator[](int n) const { return n >= 1 && n <= count_ ? parts_[static_cast<size_t>(n - 1)] : std::string_view(); }

 private:
  static constexpr int kMax = 32;
  std::array<std::string_view, kMax> parts_{};
  int count_ = 0;
};

void Add(Json& obj, const char* key, std::string_view text, const ConvertContext& ctx) {
  if (text.empty()) return;
  obj.AddMember(rapidjson::StringRef(key), Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), *ctx.allocator),
                *ctx.allocator);
}

// A raw (escaped) v2 value as a JSON string: copied straight into the document unless it holds
// an escape sequence.
void AddRaw(Json& obj, const char* key, std::string_view raw, const ConvertContext& ctx) {
  if (raw.empty()) return;
  if (raw.find(ctx.delimiters->escape) != std::string_view::npos) {
    Add(obj, key, Text(raw, ctx), ctx);
    return;
  }
  obj.AddMember(rapidjson::StringRef(key), Json(raw.data(), static_cast<rapidjson::SizeType>(raw.size()), *ctx.allocator),
                *ctx.allocator);
}

// obj[key] = prefix + the unescaped raw value, built in place for the usual short values.
void AddJoined(Json& obj, const char* key, std::string_view prefix, std::string_view raw, const ConvertContext& ctx) {
  char small[192];
  if (raw.find(ctx.delimiters->escape) == std::string_view::npos && prefix.size() + raw.size() <= sizeof(small)) {
    std::memcpy(small, prefix.data(), prefix.size());
    std::memcpy(small + prefix.size(), raw.data(), raw.size());
    obj.AddMember(rapidjson::StringRef(key),
                  Json(small, static_cast<rapidjson::SizeType>(prefix.size() + raw.size()), *ctx.allocator), *ctx.allocator);
    return;
  }
  Add(obj, key, std::string(prefix) + Text(raw, ctx), ctx);
}

// The FHIR system of a v2 coding system name: a view into the vocabulary for listed names (no
// copy), else computed into `computed` (HL7 tables, OIDs, URIs).
std::string_view SystemFor(std::string_view raw_name, const ConvertContext& ctx, std::string& computed) {
  if (raw_name.empty()) return {};
  if (raw_name.find(ctx.delimiters->escape) == std::string_view::npos) {
    std::string_view known = ctx.vocabulary->ListedSystemUri(raw_name);
    if (!known.empty()) return known;
  }
  computed = ctx.vocabulary->SystemUri(Text(raw_name, ctx));
  return computed;
}

Json Coding(std::string_view code, std::string_view display, std::string_view system, const ConvertContext& ctx) {
  Json coding(rapidjson::kObjectType);
  if (!system.empty()) {
    coding.AddMember("system", Json(system.data(), static_cast<rapidjson::SizeType>(system.size()), *ctx.allocator),
                     *ctx.allocator);
  }
  AddRaw(coding, "code", code, ctx);
  AddRaw(coding, "display", display, ctx);
  return coding;
}

// Identifier.type from HL7 table 0203 (MR, PLAC, FILL, DEA, NPI ...).
Json IdentifierType(std::string_view code, const ConvertContext& ctx) {
  Json coding(rapidjson::kObjectType);
  Add(coding, "system", "http://terminology.hl7.org/CodeSystem/v2-0203", ctx);
  Add(coding, "code", code, ctx);
  Json codings(rapidjson::kArrayType);
  codings.PushBack(coding, *ctx.allocator);
  Json cc(rapidjson::kObjectType);
  cc.AddMember("coding", codings, *ctx.allocator);
  return cc;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

namespace {

// DateTimeText into a caller's buffer: the length, 0 when `dtm` is not an HL7 date/time.
size_t DateTimeChars(std::string_view dtm, std::string_view default_timezone, char (&out)[48]) {
  // YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
  size_t zone_at = dtm.find_first_of("+-");
  std::string_view body = dtm.substr(0, zone_at);
  std::string_view zone = zone_at == std::string_view::npos ? std::string_view() : dtm.substr(zone_at);
  std::string_view fraction;
  if (size_t dot = body.find('.'); dot != std::string_view::npos) {
    fraction = body.substr(dot + 1);
    body = body.substr(0, dot);
    if (!AllDigits(fraction)) return 0;
  }
  if (!AllDigits(body) || (body.size() != 4 && body.size() != 6 && body.size() != 8 && body.size() != 10 &&
                           body.size() != 12 && body.size() != 14)) {
    return 0;
  }
  if (!zone.empty() && (zone.size() != 5 || !AllDigits(zone.substr(1)))) return 0;
  if (fraction.size() > 9) return 0;
  // At most "YYYY-MM-DDThh:mm:ss" + "." + 9 digits + "+hh:mm": built in place, no temporaries.
  size_t n = 0;
  auto put = [&](std::string_view part) {
    for (char c : part) out[n++] = c;
  };
  put(body.substr(0, 4));
  if (body.size() >= 6) {
    out[n++] = '-';
    put(body.substr(4, 2));
  }
  if (body.size() >= 8) {
    out[n++] = '-';
    put(body.substr(6, 2));
  }
  if (body.size() >= 10) {
    out[n++] = 'T';
    put(body.substr(8, 2));
    out[n++] = ':';
    put(body.size() >= 12 ? body.substr(10, 2) : std::string_view("00"));
    out[n++] = ':';
    put(body.size() >= 14 ? body.substr(12, 2) : std::string_view("00"));
    if (!fraction.empty()) {
      out[n++] = '.';
      put(fraction);
    }
    if (zone.empty()) {
      if (default_timezone.size() > 6) return 0;
      put(default_timezone);
    } else {
      put(zone.substr(0, 3));
      out[n++] = ':';
      put(zone.substr(3, 2));
    }
  }
  return n;
}

}  // namespace

std::string DateTimeText(std::string_view dtm, const std::string& default_timezone, bool* ok) {
  char out[48];
  size_t n = DateTimeChars(dtm, default_timezone, out);
  *ok = n > 0;
  return std::string(out, n);
}

Json ToCodeableConcept(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  const Parts parts(raw, ctx);
  Json cc(rapidjson::kObjectType);
  if (raw.empty()) return Json();
  Json codings(rapidjson::kArrayType);
  for (int base : {1, 4}) {  // primary and alternate triplets
    std::string_view code = parts[base];
    if (code.empty()) continue;
    std::string_view system_name = parts[base + 2];
    std::string computed;
    std::string_view system = SystemFor(system_name, ctx, computed);
    if (!system_name.empty() && system.empty()) {
      ctx.issues->Warning("map-coding-system-unknown", Location(location.str()),
                          "coding system '" + Text(system_name, ctx) + "' has no FHIR system in coding-systems.json");
    }
    codings.PushBack(Coding(code, parts[base + 1], system, ctx), *ctx.allocator);
  }
  const bool has_codings = !codings.Empty();  // before AddMember moves the array away
  if (has_codings) cc.AddMember("coding", codings, *ctx.allocator);
  std::string text = Text(parts[9], ctx);
  if (text.empty()) text = Text(parts[2], ctx);
  if (text.empty() && !has_codings) text = Text(parts[1], ctx);
  Add(cc, "text", text, ctx);
  return cc.MemberCount() == 0 ? Json() : std::move(cc);
}

Json ToCoding(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  const Parts parts(raw, ctx);
  (void)location;
  if (parts[1].empty()) return Json();
  std::string computed;
  return Coding(parts[1], parts[2], SystemFor(parts[3], ctx, computed), ctx);
}

Json ToIdentifier(std::string_view raw, const ConvertContext& ctx) {
  const Parts parts(raw, ctx);
  if (parts[1].empty()) return Json();
  Json id(rapidjson::kObjectType);
  std::string_view type = parts[5];
  if (!type.empty()) {
    id.AddMember("type", IdentifierType(Text(type, ctx), ctx), *ctx.allocator);
  }
  // CX-4 assigning authority: HD namespace (sub 1), universal id (sub 2) of type (sub 3).
  std::string_view authority = parts[4];
  std::string_view universal = Sub(authority, 2, ctx);
  std::string_view universal_type = Sub(authority, 3, ctx);
  std::string_view name = Sub(authority, 1, ctx);
  if (!universal.empty()) {
    AddJoined(id, "system", universal_type == "ISO" ? "urn:oid:" : "", universal, ctx);
  } else if (!name.empty()) {
    std::string computed;
    std::string_view system = SystemFor(name, ctx, computed);
    if (!system.empty()) {
      id.AddMember("system", Json(system.data(), static_cast<rapidjson::SizeType>(system.size()), *ctx.allocator), *ctx.allocator);
    } else {
      AddJoined(id, "system", "urn:ketamine-gateway:assigner:", name, ctx);
    }
  }
  AddRaw(id, "value", parts[1], ctx);
  return id;
}

Json ToEiIdentifier(std::string_view raw, const ConvertContext& ctx, std::string_view type_code) {
  const Parts parts(raw, ctx);
  if (parts[1].empty()) return Json();
  Json id(rapidjson::kObjectType);
  if (!type_code.empty()) {
    id.AddMember("type", IdentifierType(type_code, ctx), *ctx.allocator);
  }
  std::string_view universal = parts[3];
  if (!universal.empty()) {
    AddJoined(id, "system", parts[4] == "ISO" ? "urn:oid:" : "", universal, ctx);
  } else if (!parts[2].empty()) {
    AddJoined(id, "system", "urn:ketamine-gateway:assigner:", parts[2], ctx);
  }
  AddRaw(id, "value", parts[1], ctx);
  return id;
}

Json ToXcnIdentifier(std::string_view raw, const ConvertContext& ctx) {
  const Parts parts(raw, ctx);
  std::string value = Text(parts[1], ctx);
  if (value.empty()) return Json();
  std::string_view authority = parts[9];
  std::string type = Text(parts[13], ctx);
  std::string system;
  if (!Sub(authority, 2, ctx).empty()) {
    system = Sub(authority, 3, ctx) == "ISO" ? "urn:oid:" + Text(Sub(authority, 2, ctx), ctx) : Text(Sub(authority, 2, ctx), ctx);
  } else if (!Sub(authority, 1, ctx).empty()) {
    system = ctx.vocabulary->SystemUri(Text(Sub(authority, 1, ctx), ctx));
  }
  if (system.empty() && !type.empty()) system = ctx.vocabulary->SystemUri("identifier-type:" + type);
  Json id(rapidjson::kObjectType);
  if (!type.empty()) {
    id.AddMember("type", IdentifierType(type, ctx), *ctx.allocator);
  }
  Add(id, "system", system, ctx);
  Add(id, "value", value, ctx);
  return id;
}

Json ToHumanName(std::string_view raw, const ConvertContext& ctx, int first) {
  const Parts parts(raw, ctx);
  // XPN: family ^ given ^ middle ^ suffix ^ prefix; XCN carries the same from component 2.
  Json name(rapidjson::kObjectType);
  std::string family = Text(Sub(parts[first], 1, ctx), ctx);
  Add(name, "family", family, ctx);
  Json given(rapidjson::kArrayType);
  for (int c : {first + 1, first + 2}) {
    std::string g = Text(parts[c], ctx);
    if (!g.empty()) given.PushBack(Json(g.c_str(), *ctx.allocator), *ctx.allocator);
  }
  if (!given.Empty()) name.AddMember("given", given, *ctx.allocator);
  for (auto [c, key] : {std::pair<int, const char*>{first + 3, "suffix"}, {first + 4, "prefix"}}) {
    std::string part = Text(parts[c], ctx);
    if (part.empty()) continue;
    Json list(rapidjson::kArrayType);
    list.PushBack(Json(part.c_str(), *ctx.allocator), *ctx.allocator);
    name.AddMember(rapidjson::StringRef(key), list, *ctx.allocator);
  }
  return name.MemberCount() == 0 ? Json() : std::move(name);
}

Json ToAddress(std::string_view raw, const ConvertContext& ctx) {
  const Parts parts(raw, ctx);
  Json address(rapidjson::kObjectType);
  Json lines(rapidjson::kArrayType);
  for (int c : {1, 2}) {
    std::string line = Text(Sub(parts[c], 1, ctx), ctx);
    if (!line.empty()) lines.PushBack(Json(line.c_str(), *ctx.allocator), *ctx.allocator);
  }
  if (!lines.Empty()) address.AddMember("line", lines, *ctx.allocator);
  AddRaw(address, "city", parts[3], ctx);
  AddRaw(address, "state", parts[4], ctx);
  AddRaw(address, "postalCode", parts[5], ctx);
  AddRaw(address, "country", parts[6], ctx);
  return address.MemberCount() == 0 ? Json() : std::move(address);
}

Json ToContactPoint(std::string_view raw, const ConvertContext& ctx) {
  const Parts parts(raw, ctx);
  std::string number = Text(parts[1], ctx);
  std::string_view equipment = parts[3];
  std::string email = Text(parts[4], ctx);
  if (number.empty()) {
    // v2.5+: area code (6) + local number (7)
    number = Text(parts[6], ctx) + Text(parts[7], ctx);
  }
  Json cp(rapidjson::kObjectType);
  if (equipment == "Internet" || (!email.empty() && number.empty())) {
    Add(cp, "system", "email", ctx);
    Add(cp, "value", email.empty() ? number : email, ctx);
  } else if (!number.empty()) {
    Add(cp, "system", equipment == "FX" ? "fax" : "phone", ctx);
    Add(cp, "value", number, ctx);
  }
  std::string_view use = parts[2];
  if (cp.MemberCount() > 0 && !use.empty()) {
    Add(cp, "use", use == "WPN" ? "work" : use == "ORN" || use == "PRN" ? "home" : use == "NET" ? "home" : "temp", ctx);
  }
  return cp.MemberCount() == 0 ? Json() : std::move(cp);
}

Json ToDateTime(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  std::string_view dtm = Comp(raw, 1, ctx);
  if (dtm.empty()) return Json();
  char text[48];
  size_t n = DateTimeChars(dtm, ctx.default_timezone, text);
  if (n == 0) {
    ctx.issues->Error("map-datatype", Location(location.str()), "'" + std::string(dtm.substr(0, 40)) + "' is not an HL7 date/time");
    return Json();
  }
  return Json(text, static_cast<rapidjson::SizeType>(n), *ctx.allocator);
}

Json ToDate(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  std::string_view dtm = Comp(raw, 1, ctx);
  if (dtm.empty()) return Json();
  bool ok = false;
  std::string text = DateTimeText(dtm.substr(0, std::min<size_t>(dtm.size(), 8)), ctx.default_timezone, &ok);
  if (!ok) {
    ctx.issues->Error("map-datatype", Location(location.str()), "'" + std::string(dtm.substr(0, 40)) + "' is not an HL7 date");
    return Json();
  }
  return Json(text.c_str(), *ctx.allocator);
}

bool ParseDecimal(std::string_view text, double* value) {
  // std::from_chars: no locale lock, no hex, no exponent. It does take "inf", "infinity" and
  // "nan" (any case) in every format, which are no FHIR decimal and which JSON cannot carry.
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, std::chars_format::fixed);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(*value);
}

Json ToDecimal(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  std::string text = Text(Comp(raw, 1, ctx), ctx);
  if (text.empty()) return Json();
  double value = 0;
  if (!ParseDecimal(text, &value)) {
    ctx.issues->Error("map-datatype", Location(location.str()), "'" + text.substr(0, 40) + "' is not a number");
    return Json();
  }
  return Json(value);
}

Json ToQuantity(std::string_view amount, std::string_view unit_cwe, const ConvertContext& ctx,
                const LazyLocation& location) {
  Json value = ToDecimal(amount, ctx, location);
  if (value.IsNull()) return Json();
  Json q(rapidjson::kObjectType);
  q.AddMember("value", value, *ctx.allocator);
  std::string unit = Text(Comp(unit_cwe, 1, ctx), ctx);
  if (!unit.empty()) {
    if (const Target* ucum = Vocabulary::Lookup(ctx.vocabulary->units(), unit)) {
      Add(q, "unit", ucum->code, ctx);
      Add(q, "system", "http://unitsofmeasure.org", ctx);
      Add(q, "code", ucum->code, ctx);
    } else {
      Add(q, "unit", unit, ctx);
      ctx.issues->Warning("map-unit-unknown", Location(location.str()),
                          "unit '" + unit + "' has no UCUM code in the units-ucum map; kept as text");
    }
  }
  return q;
}

}  // namespace ketamine::mapping
