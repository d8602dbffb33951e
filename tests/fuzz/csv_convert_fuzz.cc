// Fuzzes CSV -> FHIR with the shipped pain-vitals layout, the input read as UTF-8 and again as
// WINDOWS-1252 (converted by iconv first). Properties: no crash or hang, rows come in order with the
// line they start on, and every Bundle is well-formed JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "fhir/json.h"
#include "mapping/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto converter = ketamine::mapping::Converter::Load({KETAMINE_SOURCE_DIR "/mappings"});
  KETAMINE_CHECK(converter.ok());
  static const ketamine::mapping::CsvPlan* plan = (*converter)->CsvPlanById("pain-vitals");
  KETAMINE_CHECK(plan != nullptr);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const char* charset : {"", "WINDOWS-1252"}) {
    ketamine::mapping::ConvertOptions options;
    options.charset = charset;
    size_t last_row = 0;
    size_t last_line = 0;
    (void)(*converter)->CsvToFhir(in, *plan, options, [&](ketamine::mapping::CsvRowResult& row) {
      KETAMINE_CHECK(row.row == last_row + 1);
      KETAMINE_CHECK(row.line > last_line);
      if (*charset == '\0') KETAMINE_CHECK(row.bytes_done <= size);  // converted input is longer
      last_row = row.row;
      last_line = row.line;
      if (row.bundle) KETAMINE_CHECK(ketamine::fhir::ParseJson(ketamine::fhir::ToJson(*row.bundle)).ok());
    });
  }
  return 0;
}
