#include "mapping/datatypes.h"

#include <charconv>
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

void Add(Json& obj, const char* key, const std::string& text, const ConvertContext& ctx) {
  if (text.empty()) return;
  obj.AddMember(rapidjson::StringRef(key), Json(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), *ctx.allocator),
                *ctx.allocator);
}

Json Coding(std::string_view code, std::string_view display, std::string_view system_name, const ConvertContext& ctx) {
  Json coding(rapidjson::kObjectType);
  std::string system = ctx.vocabulary->SystemUri(Text(system_name, ctx));
  Add(coding, "system", system, ctx);
  Add(coding, "code", Text(code, ctx), ctx);
  Add(coding, "display", Text(display, ctx), ctx);
  return coding;
}

// Identifier.type from HL7 table 0203 (MR, PLAC, FILL, DEA, NPI ...).
Json IdentifierType(const std::string& code, const ConvertContext& ctx) {
  Json coding(rapidjson::kObjectType);
  Add(coding, "system", "http://terminology.hl7.org/CodeSystem/v2-0203", ctx);
  Add(coding, "code", code, ctx);
  Json codings(rapidjson::kArrayType);
  codings.PushBack(coding, *ctx.allocator);
  Json cc(rapidjson::kObjectType);
  cc.AddMember("coding", codings, *ctx.allocator);
  return cc;
}

bool AllDigits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

}  // namespace

std::string DateTimeText(std::string_view dtm, const std::string& default_timezone, bool* ok) {
  *ok = false;
  // YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
  size_t zone_at = dtm.find_first_of("+-");
  std::string_view body = dtm.substr(0, zone_at);
  std::string_view zone = zone_at == std::string_view::npos ? std::string_view() : dtm.substr(zone_at);
  std::string_view fraction;
  if (size_t dot = body.find('.'); dot != std::string_view::npos) {
    fraction = body.substr(dot + 1);
    body = body.substr(0, dot);
    if (!AllDigits(fraction)) return {};
  }
  if (!AllDigits(body) || (body.size() != 4 && body.size() != 6 && body.size() != 8 && body.size() != 10 &&
                           body.size() != 12 && body.size() != 14)) {
    return {};
  }
  if (!zone.empty() && (zone.size() != 5 || !AllDigits(zone.substr(1)))) return {};
  std::string out(body.substr(0, 4));
  if (body.size() >= 6) out += "-" + std::string(body.substr(4, 2));
  if (body.size() >= 8) out += "-" + std::string(body.substr(6, 2));
  if (body.size() >= 10) {
    out += "T" + std::string(body.substr(8, 2)) + ":" + std::string(body.size() >= 12 ? body.substr(10, 2) : "00") +
           ":" + std::string(body.size() >= 14 ? body.substr(12, 2) : "00");
    if (!fraction.empty()) out += "." + std::string(fraction);
    out += zone.empty() ? default_timezone
                        : std::string(zone.substr(0, 3)) + ":" + std::string(zone.substr(3, 2));
  }
  *ok = true;
  return out;
}

Json ToCodeableConcept(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  Json cc(rapidjson::kObjectType);
  if (raw.empty()) return Json();
  Json codings(rapidjson::kArrayType);
  for (int base : {1, 4}) {  // primary and alternate triplets
    std::string_view code = Comp(raw, base, ctx);
    if (code.empty()) continue;
    std::string_view system_name = Comp(raw, base + 2, ctx);
    if (!system_name.empty() && ctx.vocabulary->SystemUri(Text(system_name, ctx)).empty()) {
      ctx.issues->Warning("map-coding-system-unknown", Location(location.str()),
                          "coding system '" + Text(system_name, ctx) + "' has no FHIR system in coding-systems.json");
    }
    codings.PushBack(Coding(code, Comp(raw, base + 1, ctx), system_name, ctx), *ctx.allocator);
  }
  const bool has_codings = !codings.Empty();  // before AddMember moves the array away
  if (has_codings) cc.AddMember("coding", codings, *ctx.allocator);
  std::string text = Text(Comp(raw, 9, ctx), ctx);
  if (text.empty()) text = Text(Comp(raw, 2, ctx), ctx);
  if (text.empty() && !has_codings) text = Text(Comp(raw, 1, ctx), ctx);
  Add(cc, "text", text, ctx);
  return cc.MemberCount() == 0 ? Json() : std::move(cc);
}

Json ToCoding(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  (void)location;
  if (Comp(raw, 1, ctx).empty()) return Json();
  return Coding(Comp(raw, 1, ctx), Comp(raw, 2, ctx), Comp(raw, 3, ctx), ctx);
}

Json ToIdentifier(std::string_view raw, const ConvertContext& ctx) {
  std::string value = Text(Comp(raw, 1, ctx), ctx);
  if (value.empty()) return Json();
  Json id(rapidjson::kObjectType);
  // CX-4 assigning authority: HD namespace (sub 1), universal id (sub 2) of type (sub 3).
  std::string_view authority = Comp(raw, 4, ctx);
  std::string system;
  std::string_view universal = Sub(authority, 2, ctx);
  std::string_view universal_type = Sub(authority, 3, ctx);
  if (!universal.empty()) {
    system = universal_type == "ISO" ? "urn:oid:" + Text(universal, ctx) : Text(universal, ctx);
  } else {
    system = ctx.vocabulary->SystemUri(Text(Sub(authority, 1, ctx), ctx));
    if (system.empty() && !Sub(authority, 1, ctx).empty()) {
      system = "urn:ketamine-gateway:assigner:" + Text(Sub(authority, 1, ctx), ctx);
    }
  }
  std::string_view type = Comp(raw, 5, ctx);
  if (!type.empty()) {
    id.AddMember("type", IdentifierType(Text(type, ctx), ctx), *ctx.allocator);
  }
  Add(id, "system", system, ctx);
  Add(id, "value", value, ctx);
  return id;
}

Json ToEiIdentifier(std::string_view raw, const ConvertContext& ctx, std::string_view type_code) {
  std::string value = Text(Comp(raw, 1, ctx), ctx);
  if (value.empty()) return Json();
  Json id(rapidjson::kObjectType);
  if (!type_code.empty()) {
    id.AddMember("type", IdentifierType(std::string(type_code), ctx), *ctx.allocator);
  }
  std::string_view universal = Comp(raw, 3, ctx);
  std::string system;
  if (!universal.empty()) {
    system = Comp(raw, 4, ctx) == "ISO" ? "urn:oid:" + Text(universal, ctx) : Text(universal, ctx);
  } else if (!Comp(raw, 2, ctx).empty()) {
    system = "urn:ketamine-gateway:assigner:" + Text(Comp(raw, 2, ctx), ctx);
  }
  Add(id, "system", system, ctx);
  Add(id, "value", value, ctx);
  return id;
}

Json ToXcnIdentifier(std::string_view raw, const ConvertContext& ctx) {
  std::string value = Text(Comp(raw, 1, ctx), ctx);
  if (value.empty()) return Json();
  std::string_view authority = Comp(raw, 9, ctx);
  std::string type = Text(Comp(raw, 13, ctx), ctx);
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
  // XPN: family ^ given ^ middle ^ suffix ^ prefix; XCN carries the same from component 2.
  Json name(rapidjson::kObjectType);
  std::string family = Text(Sub(Comp(raw, first, ctx), 1, ctx), ctx);
  Add(name, "family", family, ctx);
  Json given(rapidjson::kArrayType);
  for (int c : {first + 1, first + 2}) {
    std::string g = Text(Comp(raw, c, ctx), ctx);
    if (!g.empty()) given.PushBack(Json(g.c_str(), *ctx.allocator), *ctx.allocator);
  }
  if (!given.Empty()) name.AddMember("given", given, *ctx.allocator);
  for (auto [c, key] : {std::pair<int, const char*>{first + 3, "suffix"}, {first + 4, "prefix"}}) {
    std::string part = Text(Comp(raw, c, ctx), ctx);
    if (part.empty()) continue;
    Json list(rapidjson::kArrayType);
    list.PushBack(Json(part.c_str(), *ctx.allocator), *ctx.allocator);
    name.AddMember(rapidjson::StringRef(key), list, *ctx.allocator);
  }
  return name.MemberCount() == 0 ? Json() : std::move(name);
}

Json ToAddress(std::string_view raw, const ConvertContext& ctx) {
  Json address(rapidjson::kObjectType);
  Json lines(rapidjson::kArrayType);
  for (int c : {1, 2}) {
    std::string line = Text(Sub(Comp(raw, c, ctx), 1, ctx), ctx);
    if (!line.empty()) lines.PushBack(Json(line.c_str(), *ctx.allocator), *ctx.allocator);
  }
  if (!lines.Empty()) address.AddMember("line", lines, *ctx.allocator);
  Add(address, "city", Text(Comp(raw, 3, ctx), ctx), ctx);
  Add(address, "state", Text(Comp(raw, 4, ctx), ctx), ctx);
  Add(address, "postalCode", Text(Comp(raw, 5, ctx), ctx), ctx);
  Add(address, "country", Text(Comp(raw, 6, ctx), ctx), ctx);
  return address.MemberCount() == 0 ? Json() : std::move(address);
}

Json ToContactPoint(std::string_view raw, const ConvertContext& ctx) {
  std::string number = Text(Comp(raw, 1, ctx), ctx);
  std::string_view equipment = Comp(raw, 3, ctx);
  std::string email = Text(Comp(raw, 4, ctx), ctx);
  if (number.empty()) {
    // v2.5+: area code (6) + local number (7)
    number = Text(Comp(raw, 6, ctx), ctx) + Text(Comp(raw, 7, ctx), ctx);
  }
  Json cp(rapidjson::kObjectType);
  if (equipment == "Internet" || (!email.empty() && number.empty())) {
    Add(cp, "system", "email", ctx);
    Add(cp, "value", email.empty() ? number : email, ctx);
  } else if (!number.empty()) {
    Add(cp, "system", equipment == "FX" ? "fax" : "phone", ctx);
    Add(cp, "value", number, ctx);
  }
  std::string_view use = Comp(raw, 2, ctx);
  if (cp.MemberCount() > 0 && !use.empty()) {
    Add(cp, "use", use == "WPN" ? "work" : use == "ORN" || use == "PRN" ? "home" : use == "NET" ? "home" : "temp", ctx);
  }
  return cp.MemberCount() == 0 ? Json() : std::move(cp);
}

Json ToDateTime(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  std::string_view dtm = Comp(raw, 1, ctx);
  if (dtm.empty()) return Json();
  bool ok = false;
  std::string text = DateTimeText(dtm, ctx.default_timezone, &ok);
  if (!ok) {
    ctx.issues->Error("map-datatype", Location(location.str()), "'" + std::string(dtm.substr(0, 40)) + "' is not an HL7 date/time");
    return Json();
  }
  return Json(text.c_str(), *ctx.allocator);
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

Json ToDecimal(std::string_view raw, const ConvertContext& ctx, const LazyLocation& location) {
  std::string text = Text(Comp(raw, 1, ctx), ctx);
  if (text.empty()) return Json();
  // std::from_chars: no locale lock, no hex, no "nan"; a leading '+' is allowed in v2 NM.
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, std::chars_format::fixed);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
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
    if (const Target* ucum = ctx.vocabulary->Translate("units-ucum", unit)) {
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
