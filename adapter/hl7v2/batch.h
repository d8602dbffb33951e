// HL7 v2 batch files (FHS/BHS ... MSH ... BTS/FTS) and plain files that hold several messages one
// after another. Each message is parsed as a view over `bytes`, which must outlive the Batch.
//   auto batch = hl7v2::ParseBatch(file_text);
//   for (const auto& msg : batch->messages) { ... }
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "hl7v2/parser.h"

namespace ketamine::hl7v2 {

struct Batch {
  std::string_view file_header;     // FHS segment, if any
  std::string_view batch_header;    // BHS segment, if any
  std::string_view batch_trailer;   // BTS segment, if any
  std::string_view file_trailer;    // FTS segment, if any
  std::vector<std::string_view> raw_messages;  // each message's bytes, MSH to its last segment
  std::vector<Message> messages;
};

// An error in one message names it: "message 3: ..." with the location inside it. A BTS-1
// message count that disagrees with the messages found is an error at BTS-1.
[[nodiscard]] Result<Batch> ParseBatch(std::string_view bytes, const ParseOptions& options = {});

}  // namespace ketamine::hl7v2
