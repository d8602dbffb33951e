// CSV -> FHIR: a clinic's export of pain scores and vitals, one row per measurement time, with the
// column layout described by a mapping file (mappings/csv/*.json) compiled at load. Each row becomes
// a transaction Bundle: the patient as a conditional update on its identifier, one resource per
// rule whose columns are filled, with ids derived from the row's content so importing the same
// file twice changes nothing.
//   const CsvPlan* plan = converter->CsvPlanById("pain-vitals");
//   converter->CsvToFhir(text, *plan, {}, [](CsvRowResult& row) { ... row.bundle ... });
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapping/converter.h"
#include "mapping/fhir_writer.h"

namespace ketamine::mapping {

enum class CsvType { kString, kCode, kInteger, kDecimal, kDateTime, kDate, kQuantity, kBoolean, kValue, kReference };

struct CsvField {
  std::string to;
  std::vector<PathStep> steps;
  std::string column;
  CsvType type = CsvType::kString;
  std::string map;                             // ConceptMap id for codes
  std::string unit;                            // UCUM code for quantities
  bool us_dates = false;                       // "format": "MM/DD/YYYY"
  std::unique_ptr<rapidjson::Document> value;  // fixed value
  std::string reference;                       // resource name
  bool required = false;
};

struct CsvResource {
  std::string name;
  std::string resource_type;
  std::vector<std::string> when_any;  // made only when one of these columns has a value
  std::string identity_system;        // conditional update on identifier system|column value
  std::string identity_column;        // empty with identity_system: a hash of the row's content
  std::vector<CsvField> fields;
};

struct CsvPlan {
  std::string id;
  char delimiter = ',';
  std::string charset;               // iconv name of the export's character set; "" = UTF-8
  std::vector<CsvResource> resources;
  std::vector<std::string> columns;  // every column the layout reads
  size_t max_field_bytes = 64 * 1024;
  std::string source_file;
};

// RFC 4180 reader: quoted fields with "" escapes and embedded line breaks, CRLF or LF, a UTF-8 BOM
// skipped. Returns false at the end of the input; `error` is set for an unterminated quote or a
// field over the limit.
class CsvReader {
 public:
  CsvReader(std::string_view text, char delimiter, size_t max_field_bytes);
  bool Next(std::vector<std::string>& fields, std::string& error);
  size_t offset() const { return pos_; }
  size_t line() const { return line_; }  // line the last record started on (1-based)

 private:
  std::string_view text_;
  char delimiter_;
  size_t max_field_bytes_;
  size_t pos_ = 0;
  size_t line_ = 0;
  size_t next_line_ = 1;
};

}  // namespace ketamine::mapping
