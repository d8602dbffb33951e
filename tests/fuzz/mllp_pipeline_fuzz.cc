// Fuzzes the inbound HL7 v2 pipeline end to end, as the MLLP listener drives it: one message (a
// frame's payload) through parse, checks, conversion to FHIR and validation, the commit to a real
// SQLite store in a scratch folder, and the acknowledgement.
// Properties: no crash, no hang; exactly one answer per message (with no ACK in it only when the
// sender asked for none in enhanced mode), each of its ACKs parses as HL7 v2
// with an MSA-1 of table 0008, and every ACK that is not an accept (AE, AR, CE, CR) carries ERR
// segments saying what was wrong. The store keeps what earlier inputs wrote, so duplicates of a
// control id meet the stored message.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "hl7v2/ack.h"
#include "hl7v2/parser.h"
#include "pipeline/inbound.h"
#include "scratch_gateway.h"

namespace {

ketamine::pipeline::InboundOptions Options(const ScratchGateway& parts) {
  ketamine::pipeline::InboundOptions options;
  options.validator = parts.validator;
  options.converter = parts.converter;
  return options;
}

struct Gateway {
  ScratchGateway parts{"kgw-pipeline-fuzz"};
  std::shared_ptr<ketamine::pipeline::InboundPipeline> pipeline =
      std::make_shared<ketamine::pipeline::InboundPipeline>(parts.store, Options(parts),
                                                            ketamine::Clock::System());
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Gateway gateway;
  auto answered = std::make_shared<std::promise<std::vector<std::string>>>();
  auto answers = std::make_shared<std::atomic<int>>(0);
  gateway.pipeline->OnMessage(std::string(reinterpret_cast<const char*>(data), size), {},
                              [answered, answers](std::vector<std::string> replies) {
                                // A second answer to one message is a defect of its own.
                                KETAMINE_CHECK(answers->fetch_add(1) == 0);
                                answered->set_value(std::move(replies));
                              });
  const std::vector<std::string> replies = answered->get_future().get();
  if (replies.empty()) {
    // Only a sender that asked for no acknowledgement of this outcome gets none: enhanced mode,
    // MSH-15 and MSH-16 (table 0155) saying NE, ER or SU.
    auto received =
        ketamine::hl7v2::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
    KETAMINE_CHECK(received.ok() && ketamine::hl7v2::IsEnhancedMode(*received));
  }
  static const std::set<std::string_view> kCodes = {"AA", "AE", "AR", "CA", "CE", "CR"};
  for (const std::string& reply : replies) {
    auto ack = ketamine::hl7v2::Parse(std::string_view(reply));
    KETAMINE_CHECK(ack.ok());
    const std::string code(ack->Get("MSA-1"));
    KETAMINE_CHECK(kCodes.count(code) == 1);
    if (code != "AA" && code != "CA") KETAMINE_CHECK(reply.find("\rERR|") != std::string::npos);
  }
  return 0;
}
