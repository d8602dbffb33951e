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
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "common/log.h"
#include "hl7v2/ack.h"
#include "hl7v2/parser.h"
#include "mapping/converter.h"
#include "pipeline/inbound.h"
#include "profiles/validator.h"
#include "store/sqlite_store.h"

namespace {

// The store's folder is removed when the process ends (after the pipeline and store are gone).
struct Gateway {
  std::filesystem::path dir;
  std::shared_ptr<ketamine::pipeline::InboundPipeline> pipeline;
  Gateway() {
    ketamine::log::SetMinLevel(ketamine::log::Level::kError);  // a log line per input slows the fuzzer down
    std::string base = (std::filesystem::temp_directory_path() / "kgw-pipeline-fuzz-XXXXXX").string();
    KETAMINE_CHECK(mkdtemp(base.data()) != nullptr);
    dir = base;
    ketamine::pipeline::InboundOptions options;
    auto validator = ketamine::profiles::Validator::Load(KETAMINE_PROFILES_DIR);
    KETAMINE_CHECK(validator.ok());
    auto converter = ketamine::mapping::Converter::Load({KETAMINE_SOURCE_DIR "/mappings"});
    KETAMINE_CHECK(converter.ok());
    options.validator = *validator;
    options.converter = *converter;
    ketamine::store::SqliteOptions store_options;
    store_options.synchronous_full = false;  // nothing here needs to survive a power loss
    auto store = ketamine::store::SqliteStore::Open(dir, store_options);
    KETAMINE_CHECK(store.ok());
    std::shared_ptr<ketamine::store::MessageStore> shared = std::move(*store);
    pipeline = std::make_shared<ketamine::pipeline::InboundPipeline>(shared, options, ketamine::Clock::System());
  }
  ~Gateway() {
    pipeline.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
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
    auto received = ketamine::hl7v2::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
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
