// Fuzzes HL7 v2 -> FHIR conversion with the shipped mappings. Properties: no crash or hang, and
// the Bundle is always well-formed JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "fhir/json.h"
#include "mapping/converter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto converter = ketamine::mapping::Converter::Load({KETAMINE_SOURCE_DIR "/mappings"});
  KETAMINE_CHECK(converter.ok());
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ketamine::hl7v2::ParseOptions options;
  options.max_segments = 300;
  auto msg = ketamine::hl7v2::Parse(in, options);
  if (!msg.ok()) return 0;
  auto result = (*converter)->ToFhir(*msg);
  if (!result.ok()) return 0;
  KETAMINE_CHECK(ketamine::fhir::ParseJson(ketamine::fhir::ToJson(*result->bundle)).ok());
  return 0;
}
