#include "mapping/csv.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "common/file.h"
#include "common/utf8.h"
#include "fhir/json.h"
#include "mapping/datatypes.h"
#include "mapping/mapping_file.h"

namespace ketamine::mapping {
namespace {

// "UTF-8", "utf8", ...: no conversion needed.
bool IsUtf8Name(std::string_view name) {
  std::string n;
  for (char c : name) {
    if (c != '-' && c != '_') n += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return n == "UTF8";
}

using rapidjson::Value;

std::string Str(const rapidjson::Value& v, const char* key) { return fhir::StringMember(v, key); }

const std::map<std::string, CsvType, std::less<>>& CsvTypes() {
  static const std::map<std::string, CsvType, std::less<>> kTypes = {
      {"string", CsvType::kString},     {"code", CsvType::kCode},       {"integer", CsvType::kInteger},
      {"decimal", CsvType::kDecimal},   {"dateTime", CsvType::kDateTime}, {"date", CsvType::kDate},
      {"quantity", CsvType::kQuantity}, {"boolean", CsvType::kBoolean}};
  return kTypes;
}

class CsvPlanReader {
 public:
  explicit CsvPlanReader(MappingFile file) : file_(std::move(file)) {}

  Status Bad(const std::string& where, const std::string& what, const std::string& near = {}) const {
    return file_.Bad(where, what, near);
  }

  Status ReadField(const Value& f, const std::string& where, CsvField& field, const Vocabulary& vocabulary) const {
    static const std::set<std::string> kKeys = {"to", "column", "type", "map", "unit", "format", "value",
                                               "reference", "required", "note"};
    if (!f.IsObject()) return Bad(where, "must be an object");
    for (auto it = f.MemberBegin(); it != f.MemberEnd(); ++it) {
      if (!kKeys.count(it->name.GetString())) return Bad(where, std::string("unknown key '") + it->name.GetString() + "'", it->name.GetString());
    }
    field.to = Str(f, "to");
    auto steps = ParseFhirPath(field.to);
    if (field.to.empty() || !steps.ok()) return Bad(where + ".to", "is a FHIR path like valueQuantity.value", field.to);
    field.steps = *steps;
    field.column = Str(f, "column");
    field.map = Str(f, "map");
    field.unit = Str(f, "unit");
    field.reference = Str(f, "reference");
    field.required = f.HasMember("required") && f["required"].IsBool() && f["required"].GetBool();
    std::string format = Str(f, "format");
    if (!format.empty() && format != "MM/DD/YYYY" && format != "ISO") {
      return Bad(where + ".format", "is \"ISO\" (default) or \"MM/DD/YYYY\"", format);
    }
    field.us_dates = format == "MM/DD/YYYY";
    if (f.HasMember("value")) {
      field.type = CsvType::kValue;
      field.value = std::make_unique<rapidjson::Document>();
      Value copy = fhir::DeepCopy(f["value"], field.value->GetAllocator());
      static_cast<Value&>(*field.value) = copy;
      return Status::Ok();
    }
    if (!field.reference.empty()) {
      field.type = CsvType::kReference;
      return Status::Ok();
    }
    std::string type = Str(f, "type");
    auto t = CsvTypes().find(type.empty() ? "string" : type);
    if (t == CsvTypes().end()) return Bad(where + ".type", "unknown type '" + type + "'", type);
    field.type = t->second;
    if (field.column.empty()) return Bad(where + ".column", "is required (or give value or reference)");
    if (!field.map.empty() && !vocabulary.HasMap(field.map)) {
      return Bad(where + ".map", "no ConceptMap with id '" + field.map + "' in conceptmaps/", field.map);
    }
    if (field.type == CsvType::kQuantity && field.unit.empty()) return Bad(where + ".unit", "a quantity needs its UCUM unit");
    return Status::Ok();
  }

  Result<CsvPlan> Read(const Value& d, const Vocabulary& vocabulary) const {
    static const std::set<std::string> kKeys = {"id", "description", "delimiter", "charset", "resources"};
    if (!d.IsObject()) return Bad("(top)", "must be an object");
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
      if (!kKeys.count(it->name.GetString())) return Bad(it->name.GetString(), "unknown key", it->name.GetString());
    }
    CsvPlan plan;
    plan.source_file = file_.name;
    plan.id = Str(d, "id");
    if (plan.id.empty()) return Bad("id", "is required");
    std::string delimiter = Str(d, "delimiter");
    if (delimiter.size() > 1 || delimiter == "\"" || delimiter == "\n" || delimiter == "\r") {
      return Bad("delimiter", "is one character other than a quote or line break", delimiter);
    }
    if (!delimiter.empty()) plan.delimiter = delimiter[0];
    plan.charset = Str(d, "charset");
    if (!plan.charset.empty() && !IconvToUtf8("", plan.charset).ok()) {
      return Bad("charset", "is a character set glibc's iconv knows (UTF-8, WINDOWS-1252, ISO-8859-1, ...)", plan.charset);
    }
    auto resources = d.FindMember("resources");
    if (resources == d.MemberEnd() || !resources->value.IsArray() || resources->value.Empty()) {
      return Bad("resources", "is a non-empty array");
    }
    std::set<std::string> columns;
    int i = 0;
    for (const Value& r : resources->value.GetArray()) {
      std::string where = "resources[" + std::to_string(i++) + "]";
      if (!r.IsObject()) return Bad(where, "must be an object");
      CsvResource resource;
      resource.name = Str(r, "name");
      resource.resource_type = Str(r, "resourceType");
      if (resource.name.empty() || resource.resource_type.empty()) return Bad(where, "needs name and resourceType");
      if (auto when = r.FindMember("when"); when != r.MemberEnd()) {
        auto any = when->value.IsObject() ? when->value.FindMember("anyPresent") : Value::ConstMemberIterator();
        if (!when->value.IsObject() || any == when->value.MemberEnd() || !any->value.IsArray()) {
          return Bad(where + ".when", "is {\"anyPresent\": [\"column\", ...]}");
        }
        for (const Value& c : any->value.GetArray()) {
          if (c.IsString()) resource.when_any.emplace_back(c.GetString());
        }
      }
      if (auto identity = r.FindMember("identity"); identity != r.MemberEnd()) {
        resource.identity_system = Str(identity->value, "system");
        resource.identity_column = Str(identity->value, "column");
        if (resource.identity_system.empty()) return Bad(where + ".identity.system", "is required");
      }
      auto fields = r.FindMember("fields");
      if (fields == r.MemberEnd() || !fields->value.IsArray()) return Bad(where + ".fields", "is required (an array)");
      int j = 0;
      for (const Value& f : fields->value.GetArray()) {
        CsvField field;
        KETAMINE_RETURN_IF_ERROR(ReadField(f, where + ".fields[" + std::to_string(j++) + "]", field, vocabulary));
        if (!field.column.empty()) columns.insert(field.column);
        resource.fields.push_back(std::move(field));
      }
      for (const auto& c : resource.when_any) columns.insert(c);
      if (!resource.identity_column.empty()) columns.insert(resource.identity_column);
      plan.resources.push_back(std::move(resource));
    }
    std::set<std::string> names;
    for (const auto& r : plan.resources) names.insert(r.name);
    for (const auto& r : plan.resources) {
      for (const auto& f : r.fields) {
        if (f.type == CsvType::kReference && !names.count(f.reference)) {
          return Bad("resources." + r.name, "reference to unknown resource '" + f.reference + "'", f.reference);
        }
      }
    }
    plan.columns.assign(columns.begin(), columns.end());
    return plan;
  }

 private:
  MappingFile file_;
};

bool AllDigits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

// "2026-11-23 09:00", "2026-11-23T09:00:00-05:00", "11/23/2026 9:00" (us) -> FHIR dateTime.
std::string CsvDateTime(std::string_view text, bool us, const std::string& zone, bool date_only) {
  std::string date, time;
  size_t split = text.find_first_of(" T");
  std::string_view d = text.substr(0, split);
  std::string_view t = split == std::string_view::npos ? std::string_view() : text.substr(split + 1);
  if (us) {
    size_t a = d.find('/'), b = a == std::string_view::npos ? a : d.find('/', a + 1);
    if (b == std::string_view::npos) return {};
    std::string_view mm = d.substr(0, a), dd = d.substr(a + 1, b - a - 1), yyyy = d.substr(b + 1);
    if (!AllDigits(mm) || !AllDigits(dd) || !AllDigits(yyyy) || mm.size() > 2 || dd.size() > 2 || yyyy.size() != 4) return {};
    date = std::string(yyyy) + "-" + (mm.size() == 1 ? "0" : "") + std::string(mm) + "-" + (dd.size() == 1 ? "0" : "") + std::string(dd);
  } else {
    if (d.size() != 10 || d[4] != '-' || d[7] != '-' || !AllDigits(d.substr(0, 4)) || !AllDigits(d.substr(5, 2)) ||
        !AllDigits(d.substr(8, 2))) {
      return {};
    }
    date = std::string(d);
  }
  int month = std::stoi(date.substr(5, 2)), day = std::stoi(date.substr(8, 2));
  if (month < 1 || month > 12 || day < 1 || day > 31) return {};
  if (date_only) return t.empty() ? date : std::string();
  if (t.empty()) return {};
  // hh:mm[:ss[.fff]][Z|+hh:mm]
  size_t zone_at = t.find_first_of("Z+-");
  std::string_view clock = t.substr(0, zone_at);
  std::string_view offset = zone_at == std::string_view::npos ? std::string_view() : t.substr(zone_at);
  size_t colon = clock.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view hh = clock.substr(0, colon);
  std::string_view rest = clock.substr(colon + 1);
  std::string_view mi = rest.substr(0, 2), ss = "00";
  if (rest.size() > 2) {
    if (rest[2] != ':' || rest.size() < 5) return {};
    ss = rest.substr(3);
  }
  std::string_view fraction;
  if (size_t dot = ss.find('.'); dot != std::string_view::npos) {
    fraction = ss.substr(dot + 1);
    ss = ss.substr(0, dot);
    if (!AllDigits(fraction)) return {};
  }
  if (!AllDigits(hh) || hh.size() > 2 || !AllDigits(mi) || mi.size() != 2 || !AllDigits(ss) || ss.size() != 2) return {};
  int hour = std::stoi(std::string(hh)), minute = std::stoi(std::string(mi)), second = std::stoi(std::string(ss));
  if (hour > 23 || minute > 59 || second > 59) return {};
  std::string out = date + "T" + (hh.size() == 1 ? "0" : "") + std::string(hh) + ":" + std::string(mi) + ":" + std::string(ss);
  if (!fraction.empty()) out += "." + std::string(fraction);
  if (offset.empty()) return out + zone;
  if (offset == "Z") return out + "Z";
  if (offset.size() != 6 || offset[3] != ':' || !AllDigits(offset.substr(1, 2)) || !AllDigits(offset.substr(4, 2))) return {};
  return out + std::string(offset);
}

}  // namespace

CsvReader::CsvReader(std::string_view text, char delimiter, size_t max_field_bytes)
    : text_(text), delimiter_(delimiter), max_field_bytes_(max_field_bytes) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool CsvReader::Next(std::vector<std::string>& fields, std::string& error) {
  fields.clear();
  error.clear();
  // Skip blank lines between records.
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++next_line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  line_ = next_line_;
  std::string field;
  bool quoted = false, was_quoted = false;
  while (pos_ < text_.size()) {
    char c = text_[pos_++];
    if (quoted) {
      if (c == '"') {
        if (pos_ < text_.size() && text_[pos_] == '"') {
          field += '"';
          ++pos_;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++next_line_;
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == delimiter_) {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++next_line_;
      break;
    } else {
      field += c;
    }
    if (field.size() > max_field_bytes_) {
      error = "a field is longer than " + std::to_string(max_field_bytes_) + " bytes";
      pos_ = text_.size();
      return true;
    }
  }
  if (quoted) {
    error = "a quoted field is not closed";
    return true;
  }
  fields.push_back(std::move(field));
  return true;
}

Status CsvLoader::Load(Converter& converter, const std::vector<std::filesystem::path>& dirs) {
  for (const auto& dir : dirs) {
    for (const auto& file : FilesIn(dir / "csv", ".json")) {
      KETAMINE_ASSIGN_OR_RETURN(ParsedMappingFile parsed, ReadMappingFile(file));
      CsvPlanReader reader(std::move(parsed.file));
      KETAMINE_ASSIGN_OR_RETURN(CsvPlan plan, reader.Read(*parsed.json, *converter.vocabulary_));
      ReplaceOrAdd(converter.csv_plans_, std::move(plan));
    }
  }
  return Status::Ok();
}

const CsvPlan* Converter::CsvPlanById(std::string_view id) const {
  for (const auto& plan : csv_plans_) {
    if (plan->id == id) return plan.get();
  }
  return nullptr;
}

Status Converter::CsvToFhir(std::string_view input, const CsvPlan& plan, const ConvertOptions& options,
                            const std::function<void(CsvRowResult&)>& sink) const {
  // FHIR JSON is UTF-8: a file in another character set is converted when it is named (the request's,
  // else the layout's), otherwise refused, never passed through as broken JSON.
  const std::string& charset = !options.charset.empty() ? options.charset : plan.charset;
  std::string converted;
  if (!charset.empty() && !IsUtf8Name(charset)) {
    auto utf8 = IconvToUtf8(input, charset);
    if (!utf8.ok()) return Status(utf8.status().code(), "the CSV input: " + utf8.status().message());
    converted = std::move(*utf8);
    input = converted;
  } else if (size_t bad = FirstInvalidUtf8(input); bad != std::string_view::npos) {
    const size_t line = 1 + static_cast<size_t>(std::count(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
    return InvalidInput("line " + std::to_string(line) + " of the CSV input is not UTF-8 (byte " + std::to_string(bad) +
                        "): export it as UTF-8 or name its character set (such as WINDOWS-1252)");
  }
  CsvReader reader(input, plan.delimiter, plan.max_field_bytes);
  std::vector<std::string> header, row;
  std::string error;
  if (!reader.Next(header, error)) return InvalidInput("the CSV input is empty (a header row is required)");
  if (!error.empty()) return InvalidInput("header row: " + error);
  std::map<std::string, size_t, std::less<>> column_index;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name = header[i];
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.erase(0, 1);
    column_index.emplace(name, i);
  }
  std::vector<std::string> missing;
  for (const auto& c : plan.columns) {
    if (!column_index.count(c)) missing.push_back(c);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return InvalidInput("the header lacks column(s) the " + plan.source_file + " layout reads: " + list);
  }
  size_t row_number = 0;
  while (reader.Next(row, error)) {
    CsvRowResult result;
    result.row = ++row_number;
    result.line = reader.line();
    result.bytes_done = reader.offset();
    const std::string where_row = "row " + std::to_string(row_number) + " (line " + std::to_string(reader.line()) + ")";
    if (!error.empty()) {
      result.issues.Error("csv-syntax", Location(where_row), error);
      sink(result);
      break;
    }
    if (row.size() != header.size()) {
      result.issues.Error("csv-columns", Location(where_row),
                          std::to_string(row.size()) + " fields where the header has " + std::to_string(header.size()));
      sink(result);
      continue;
    }
    auto cell = [&](const std::string& column) -> std::string_view {
      auto it = column_index.find(column);
      return it == column_index.end() ? std::string_view() : std::string_view(row[it->second]);
    };
    std::string row_text;
    for (const auto& c : plan.columns) row_text.append(cell(c)).push_back('\x1f');
    result.bundle = std::make_unique<rapidjson::Document>(rapidjson::kObjectType);
    rapidjson::Document& bundle = *result.bundle;
    auto& alloc = bundle.GetAllocator();
    bundle.AddMember("resourceType", "Bundle", alloc);
    bundle.AddMember("id", Value(DeterministicUuid({"csv", plan.id, row_text}).substr(9).c_str(), alloc), alloc);
    bundle.AddMember("type", "transaction", alloc);
    Value entries(rapidjson::kArrayType);
    std::map<std::string, std::string> full_urls;
    std::vector<const CsvResource*> made;
    for (const auto& r : plan.resources) {
      bool any = r.when_any.empty();
      for (const auto& c : r.when_any) any = any || !cell(c).empty();
      if (!any) continue;
      made.push_back(&r);
      full_urls[r.name] = DeterministicUuid({"csv", plan.id, row_text, r.name});
    }
    for (const CsvResource* r : made) {
      Value resource(rapidjson::kObjectType);
      resource.AddMember("resourceType", Value(r->resource_type.c_str(), alloc), alloc);
      for (const CsvField& f : r->fields) {
        const std::string where = where_row + " column " + f.column;
        Value v;
        std::string_view raw = f.column.empty() ? std::string_view() : cell(f.column);
        while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
        switch (f.type) {
          case CsvType::kValue: v = fhir::DeepCopy(*f.value, alloc); break;
          case CsvType::kReference: {
            auto url = full_urls.find(f.reference);
            if (url != full_urls.end()) {
              v.SetObject();
              v.AddMember("reference", Value(url->second.c_str(), alloc), alloc);
            }
            break;
          }
          default: break;
        }
        if (f.type != CsvType::kValue && f.type != CsvType::kReference) {
          if (raw.empty()) {
            if (f.required) result.issues.Error("csv-required-missing", Location(where), f.column + " is required for " + r->resource_type + "." + f.to);
            continue;
          }
          std::string text(raw);
          switch (f.type) {
            case CsvType::kString: v = Value(text.c_str(), alloc); break;
            case CsvType::kCode:
              if (!f.map.empty()) {
                if (const Target* t = vocabulary_->Translate(f.map, text)) {
                  v = Value(t->code.c_str(), alloc);
                } else {
                  result.issues.Error("map-code-unknown", Location(where), "'" + text + "' is not in the concept map " + f.map);
                }
              } else {
                v = Value(text.c_str(), alloc);
              }
              break;
            case CsvType::kInteger: {
              int n = 0;
              auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
              if (ec != std::errc() || ptr != text.data() + text.size()) {
                result.issues.Error("csv-datatype", Location(where), "'" + text.substr(0, 40) + "' is not a whole number");
              } else {
                v = Value(n);
              }
              break;
            }
            case CsvType::kDecimal:
            case CsvType::kQuantity: {
              double n = 0;
              if (!ParseDecimal(text, &n)) {
                result.issues.Error("csv-datatype", Location(where), "'" + text.substr(0, 40) + "' is not a number");
              } else if (f.type == CsvType::kDecimal) {
                v = Value(n);
              } else {
                v.SetObject();
                v.AddMember("value", n, alloc);
                v.AddMember("unit", Value(f.unit.c_str(), alloc), alloc);
                v.AddMember("system", "http://unitsofmeasure.org", alloc);
                v.AddMember("code", Value(f.unit.c_str(), alloc), alloc);
              }
              break;
            }
            case CsvType::kDateTime:
            case CsvType::kDate: {
              std::string dt = CsvDateTime(text, f.us_dates, options.default_timezone, f.type == CsvType::kDate);
              if (dt.empty()) {
                result.issues.Error("csv-datatype", Location(where),
                                    "'" + text.substr(0, 40) + "' is not a " + (f.type == CsvType::kDate ? "date" : "date and time") +
                                        (f.us_dates ? " (MM/DD/YYYY)" : " (YYYY-MM-DD)"));
              } else {
                v = Value(dt.c_str(), alloc);
              }
              break;
            }
            case CsvType::kBoolean:
              if (text == "true" || text == "yes" || text == "1" || text == "Y") {
                v = Value(true);
              } else if (text == "false" || text == "no" || text == "0" || text == "N") {
                v = Value(false);
              } else {
                result.issues.Error("csv-datatype", Location(where), "'" + text.substr(0, 40) + "' is not yes/no");
              }
              break;
            default: break;
          }
        }
        if (!v.IsNull()) SetAt(resource, f.steps, std::move(v), alloc);
      }
      // Conditional update on the business identifier (a column, or the row's content).
      Value request(rapidjson::kObjectType);
      if (!r->identity_system.empty()) {
        std::string value = r->identity_column.empty()
                                ? DeterministicUuid({"csv-row", plan.id, row_text, r->name}).substr(9)
                                : std::string(cell(r->identity_column));
        if (r->identity_column.empty()) {
          Value identifier(rapidjson::kObjectType);
          identifier.AddMember("system", Value(r->identity_system.c_str(), alloc), alloc);
          identifier.AddMember("value", Value(value.c_str(), alloc), alloc);
          auto ids = resource.FindMember("identifier");
          if (ids == resource.MemberEnd()) {
            resource.AddMember("identifier", Value(rapidjson::kArrayType), alloc);
            ids = resource.FindMember("identifier");
          }
          if (ids->value.IsArray()) ids->value.PushBack(identifier, alloc);
        }
        if (!value.empty()) {
          std::string url = r->resource_type + "?identifier=" + r->identity_system + "|" + value;
          request.AddMember("method", "PUT", alloc);
          request.AddMember("url", Value(url.c_str(), alloc), alloc);
        }
      }
      if (request.MemberCount() == 0) {
        request.AddMember("method", "POST", alloc);
        request.AddMember("url", Value(r->resource_type.c_str(), alloc), alloc);
      }
      Value entry(rapidjson::kObjectType);
      entry.AddMember("fullUrl", Value(full_urls[r->name].c_str(), alloc), alloc);
      entry.AddMember("resource", resource, alloc);
      entry.AddMember("request", request, alloc);
      entries.PushBack(entry, alloc);
    }
    bundle.AddMember("entry", entries, alloc);
    // A column that several resources read (the time of each Observation) is reported once.
    Issues unique;
    for (const Issue& issue : result.issues.items()) {
      const bool seen = std::any_of(unique.items().begin(), unique.items().end(), [&](const Issue& u) {
        return u.location.ToString() == issue.location.ToString() && u.text == issue.text;
      });
      if (!seen) unique.Add(issue);
    }
    result.issues = std::move(unique);
    sink(result);
  }
  if (!error.empty() && row_number == 0) return InvalidInput(error);
  return Status::Ok();
}

}  // namespace ketamine::mapping
