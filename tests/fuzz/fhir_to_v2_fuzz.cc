// Fuzzes FHIR -> HL7 v2 with the shipped mappings. Properties: no crash or hang, and whatever
// message comes out parses as HL7 v2 and converts back without crashing.
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
  auto doc = ketamine::fhir::ParseJson(in);
  if (!doc.ok()) return 0;
  ketamine::mapping::V2Options options;
  options.timestamp = "20261123000000+0000";
  auto result = (*converter)->ToV2(**doc, options);
  if (!result.ok()) return 0;
  auto msg = ketamine::hl7v2::Parse(result->message);
  KETAMINE_CHECK(msg.ok());
  (void)(*converter)->ToFhir(*msg);
  return 0;
}
