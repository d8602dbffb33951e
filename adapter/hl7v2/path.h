// Paths that integration engineers write to name a place in an HL7 v2 message:
//   PID-3          field 3 of the first PID (all repetitions)
//   PID-3(2).1     component 1 of the second repetition
//   OBX[2]-5       field 5 of the second OBX segment
//   RXE-23.1.2     sub-component 2 of component 1
// Indexes are 1-based as in the standard; 0 means "not given".
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::hl7v2 {

struct Path {
  std::string segment;  // "PID"
  int occurrence = 1;   // OBX[2] -> 2
  int field = 0;        // 0: the whole segment
  int repetition = 0;   // 0: not given (the whole field, or the first repetition if a component is)
  int component = 0;
  int subcomponent = 0;

  std::string ToString() const;  // canonical form, e.g. "OBX[2]-5(1).2"
};

// Bad syntax gives kInvalidInput naming the offending text.
[[nodiscard]] Result<Path> ParsePath(std::string_view text);

}  // namespace ketamine::hl7v2
