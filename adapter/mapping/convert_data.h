// Input in the shape of Azure's $convert-data: a FHIR Parameters resource whose "inputData"
// parameter holds the raw HL7 v2 message as a JSON string ("inputDataType" Hl7v2, optional
// "rootTemplate" such as RDE_O11). JSON unescaping gives back the message byte for byte, so MSH-2
// "^~\&" and v2 escapes like "\E\" arrive intact.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::mapping {

struct ConvertDataInput {
  std::string message;        // the raw HL7 v2 message
  std::string message_type;   // from rootTemplate ("RDE_O11" -> "RDE^O11"); empty when not given
};

// kInvalidInput naming the parameter when the Parameters resource is not usable.
[[nodiscard]] Result<ConvertDataInput> ParseConvertDataParameters(std::string_view json);

}  // namespace ketamine::mapping
