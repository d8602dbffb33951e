#include "mapping/v2_datatypes.h"

#include "fhir/json.h"

#include <charconv>
#include <cmath>

namespace ketamine::mapping {
namespace {

using rapidjson::Value;

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

const Value* Member(const Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// The n-th string of an array member ("" when absent).
std::string Nth(const Value& v, const char* key, rapidjson::SizeType n) {
  const Value* list = Member(v, key);
  if (list == nullptr || !list->IsArray() || list->Size() <= n || !(*list)[n].IsString()) return {};
  return (*list)[n].GetString();
}

void Put(V2Value& out, int component, int subcomponent, std::string text) {
  if (!text.empty()) out.push_back({component, subcomponent, std::move(text)});
}

constexpr std::string_view kAssignerPrefix = "urn:ketamine-gateway:assigner:";

// An identifier system as an HD (namespace ^ universal id ^ type), the inverse of the readers.
void PutAuthority(V2Value& out, int component, const std::string& system, const Vocabulary& vocabulary,
                  bool as_subcomponents) {
  if (system.empty()) return;
  auto put = [&](int n, std::string text) {
    if (as_subcomponents) {
      Put(out, component, n, std::move(text));
    } else {
      Put(out, component + n - 1, 0, std::move(text));
    }
  };
  if (system.compare(0, kAssignerPrefix.size(), kAssignerPrefix) == 0) {
    put(1, system.substr(kAssignerPrefix.size()));
  } else if (system.compare(0, 8, "urn:oid:") == 0) {
    put(2, system.substr(8));
    put(3, "ISO");
  } else if (std::string name = vocabulary.SystemName(system); !name.empty()) {
    put(1, name);
  } else {
    put(2, system);
    put(3, "URI");
  }
}

std::string TypeCode(const Value& id) {
  const Value* type = Member(id, "type");
  const Value* codings = type != nullptr ? Member(*type, "coding") : nullptr;
  if (codings == nullptr || !codings->IsArray() || codings->Empty()) return {};
  return Str((*codings)[0], "code");
}

}  // namespace

V2Value FromCoding(const Value& coding, const Vocabulary& vocabulary) {
  V2Value out;
  if (Str(coding, "code").empty()) return out;
  Put(out, 1, 0, Str(coding, "code"));
  Put(out, 2, 0, Str(coding, "display"));
  std::string system = Str(coding, "system");
  std::string name = vocabulary.SystemName(system);
  Put(out, 3, 0, name.empty() ? system : name);
  return out;
}

V2Value FromCodeableConcept(const Value& cc, const Vocabulary& vocabulary) {
  V2Value out;
  if (!cc.IsObject()) return out;
  const Value* codings = Member(cc, "coding");
  std::string display;
  if (codings != nullptr && codings->IsArray()) {
    int base = 1;
    for (const Value& coding : codings->GetArray()) {
      if (base > 4) break;
      V2Value one = FromCoding(coding, vocabulary);
      if (one.empty()) continue;
      if (base == 1) display = Str(coding, "display");
      for (auto& part : one) Put(out, part.component + base - 1, 0, std::move(part.text));
      base += 3;
    }
  }
  std::string text = Str(cc, "text");
  if (out.empty()) {
    Put(out, 2, 0, text);  // text only: CWE-2, as the reader takes it back
  } else if (!text.empty() && text != display) {
    Put(out, 9, 0, text);
  }
  return out;
}

V2Value FromIdentifier(const Value& id, const Vocabulary& vocabulary) {
  V2Value out;
  if (Str(id, "value").empty()) return out;
  Put(out, 1, 0, Str(id, "value"));
  PutAuthority(out, 4, Str(id, "system"), vocabulary, true);
  Put(out, 5, 0, TypeCode(id));
  return out;
}

V2Value FromEiIdentifier(const Value& id) {
  V2Value out;
  if (Str(id, "value").empty()) return out;
  Put(out, 1, 0, Str(id, "value"));
  std::string system = Str(id, "system");
  if (system.compare(0, kAssignerPrefix.size(), kAssignerPrefix) == 0) {
    Put(out, 2, 0, system.substr(kAssignerPrefix.size()));
  } else if (system.compare(0, 8, "urn:oid:") == 0) {
    Put(out, 3, 0, system.substr(8));
    Put(out, 4, 0, "ISO");
  } else if (!system.empty()) {
    Put(out, 3, 0, system);
    Put(out, 4, 0, "URI");
  }
  return out;
}

V2Value FromXcnIdentifier(const Value& id, const Vocabulary& vocabulary) {
  V2Value out;
  if (Str(id, "value").empty()) return out;
  Put(out, 1, 0, Str(id, "value"));
  std::string type = TypeCode(id);
  std::string system = Str(id, "system");
  // The reader gives an XCN with only XCN-13 the type's default system; write no authority then.
  if (type.empty() || system != vocabulary.SystemUri("identifier-type:" + type)) {
    PutAuthority(out, 9, system, vocabulary, true);
  }
  Put(out, 13, 0, type);
  return out;
}

V2Value FromHumanName(const Value& name, int first) {
  V2Value out;
  if (!name.IsObject()) return out;
  Put(out, first, 0, Str(name, "family"));
  Put(out, first + 1, 0, Nth(name, "given", 0));
  Put(out, first + 2, 0, Nth(name, "given", 1));
  Put(out, first + 3, 0, Nth(name, "suffix", 0));
  Put(out, first + 4, 0, Nth(name, "prefix", 0));
  if (out.empty()) Put(out, first, 0, Str(name, "text"));
  return out;
}

V2Value FromAddress(const Value& address) {
  V2Value out;
  if (!address.IsObject()) return out;
  Put(out, 1, 0, Nth(address, "line", 0));
  Put(out, 2, 0, Nth(address, "line", 1));
  Put(out, 3, 0, Str(address, "city"));
  Put(out, 4, 0, Str(address, "state"));
  Put(out, 5, 0, Str(address, "postalCode"));
  Put(out, 6, 0, Str(address, "country"));
  return out;
}

V2Value FromContactPoint(const Value& contact) {
  V2Value out;
  std::string value = Str(contact, "value");
  if (value.empty()) return out;
  std::string system = Str(contact, "system");
  std::string use = Str(contact, "use");
  if (system == "email") {
    Put(out, 2, 0, "NET");
    Put(out, 3, 0, "Internet");
    Put(out, 4, 0, value);
    return out;
  }
  Put(out, 1, 0, value);
  Put(out, 2, 0, use == "work" ? "WPN" : use == "home" ? "PRN" : use.empty() ? "" : "ORN");
  Put(out, 3, 0, system == "fax" ? "FX" : system == "phone" ? "PH" : "");
  return out;
}

std::string DtmText(std::string_view t) {
  // YYYY[-MM[-DD[Thh:mm[:ss[.fff]](Z|+hh:mm)]]]
  auto digits = [&](size_t at, size_t n) {
    if (t.size() < at + n) return false;
    for (size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4)) return {};
  std::string out(t.substr(0, 4));
  if (t.size() == 4) return out;
  if (t[4] != '-' || !digits(5, 2)) return {};
  out += t.substr(5, 2);
  if (t.size() == 7) return out;
  if (t[7] != '-' || !digits(8, 2)) return {};
  out += t.substr(8, 2);
  if (t.size() == 10) return out;
  if (t[10] != 'T' || !digits(11, 2) || t.size() < 16 || t[13] != ':' || !digits(14, 2)) return {};
  out += t.substr(11, 2);
  out += t.substr(14, 2);
  size_t at = 16;
  if (at < t.size() && t[at] == ':') {
    if (!digits(at + 1, 2)) return {};
    out += t.substr(at + 1, 2);
    at += 3;
    if (at < t.size() && t[at] == '.') {
      size_t end = at + 1;
      while (end < t.size() && t[end] >= '0' && t[end] <= '9') ++end;
      if (end == at + 1) return {};
      out += t.substr(at, std::min<size_t>(end - at, 5));  // v2 DTM keeps at most 4 fraction digits
      at = end;
    }
  }
  if (at == t.size()) return out;
  if (t[at] == 'Z' && at + 1 == t.size()) return out + "+0000";
  if ((t[at] == '+' || t[at] == '-') && t.size() == at + 6 && digits(at + 1, 2) && t[at + 3] == ':' &&
      digits(at + 4, 2)) {
    return out + std::string(1, t[at]) + std::string(t.substr(at + 1, 2)) + std::string(t.substr(at + 4, 2));
  }
  return {};
}

std::string NumberText(const Value& number) {
  if (number.IsInt64()) return std::to_string(number.GetInt64());
  if (number.IsUint64()) return std::to_string(number.GetUint64());
  if (!number.IsNumber()) return {};
  double value = number.GetDouble();
  if (!std::isfinite(value)) return {};
  char buffer[400];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  if (ec != std::errc()) return {};
  return std::string(buffer, end);
}

}  // namespace ketamine::mapping
