// Fuzzes the HL7 v2 parser, batch splitter, path access, escapes and the ACK builder.
// Properties: no crash or hang; an ASCII/UTF-8 message that parses serializes back byte for
// byte; the ACK we would build for it parses again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/check.h"
#include "hl7v2/ack.h"
#include "hl7v2/batch.h"
#include "hl7v2/escape.h"
#include "hl7v2/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ketamine::hl7v2;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ParseOptions options;
  options.max_segments = 500;
  if (auto msg = Parse(in, options); msg.ok()) {
    if (msg->decoded_from().empty()) KETAMINE_CHECK(Serialize(*msg) == in);  // byte for byte
    for (const char* path : {"MSH-9.1", "PID-3(2).1", "OBX[2]-5", "RXE-23.1.2", "ZZZ-1", "MSH-2"}) {
      std::string text = msg->GetText(path);
      (void)Escape(text, msg->delimiters());
    }
    for (size_t s = 0; s < msg->segment_count(); ++s) {
      for (size_t f = 1; f <= msg->FieldCount(s) && f < 50; ++f) {
        (void)Unescape(msg->Field(s, f), msg->delimiters());
      }
    }
    AckContext ctx;
    ctx.control_id = "FUZZ";
    std::string ack = BuildAck(*msg, AckCode::kAE,
                               {{{"PID", 1, 3, 1, 1, 0}, ErrorCode::kDataTypeError,
                                 ErrorSeverity::kError, std::string(in.substr(0, 40))}},
                               ctx);
    KETAMINE_CHECK(Parse(std::string_view(ack)).ok());
  } else {
    AckContext ctx;
    ctx.control_id = "FUZZ";
    std::string ack = BuildRejectForUnparsed(
        in, {{}, ErrorCode::kOtherHl7Error, ErrorSeverity::kError, msg.status().message()}, ctx);
    KETAMINE_CHECK(Parse(std::string_view(ack)).ok());
  }
  (void)ParseBatch(in, options);
  return 0;
}
