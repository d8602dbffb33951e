// Builds acknowledgements (original and enhanced mode) for a received message. The ACK's MSH
// mirrors the sender and receiver (MSH-3/4 <-> MSH-5/6), the processing id and the version, and
// uses the received message's delimiters. Each error becomes one ERR segment: ERR-2 location,
// ERR-3 table 0357 code, ERR-4 severity (table 0516), ERR-8 text; v2.3/v2.4 peers get ERR-1.
//   AckContext ctx{.control_id = "ACK0001", .timestamp = FormatHl7Timestamp(now)};
//   std::string ack = BuildAck(msg, AckCode::kAE, {AckError::RequiredMissing("RXE", 1, 3, "...")}, ctx);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/parser.h"

namespace ketamine::hl7v2 {

enum class AckCode { kAA, kAE, kAR, kCA, kCE, kCR };
std::string_view AckCodeName(AckCode code);

// HL7 table 0357 message error condition codes.
enum class ErrorCode {
  kAccepted = 0,
  kSegmentSequence = 100,
  kRequiredFieldMissing = 101,
  kDataTypeError = 102,
  kTableValueNotFound = 103,
  kValueTooLong = 104,
  kCardinality = 198,
  kOtherHl7Error = 199,
  kUnsupportedMessageType = 200,
  kUnsupportedEventCode = 201,
  kUnsupportedProcessingId = 202,
  kUnsupportedVersionId = 203,
  kDuplicateKey = 205,
  kInternalError = 207,
};
std::string_view ErrorCodeText(ErrorCode code);

// HL7 table 0516.
enum class ErrorSeverity { kError, kWarning, kInformation, kFatal };

struct ErrorLocation {
  std::string segment;  // "RXE"; empty when the error is about the whole message
  int sequence = 1;     // which occurrence of the segment
  int field = 0;
  int repetition = 0;
  int component = 0;
  int subcomponent = 0;
  std::string ToString() const;  // "RXE-3", "OBX[2]-5.1"
};

struct AckError {
  ErrorLocation location;
  ErrorCode code = ErrorCode::kOtherHl7Error;
  ErrorSeverity severity = ErrorSeverity::kError;
  std::string text;  // readable, no patient data
};

struct AckContext {
  std::string control_id;  // MSH-10 of the ACK itself
  std::string timestamp;   // MSH-7 of the ACK (DTM)
  // Used for MSH-3/MSH-4 when the received message left MSH-5/MSH-6 empty.
  std::string application = "KETAMINE-GW";
  std::string facility;
};

// True when MSH-15 or MSH-16 is valued: the sender wants an accept ACK (CA/CE/CR) first.
bool IsEnhancedMode(const Message& msg);
// Whether to send an accept ACK / an application ACK for this outcome (table 0155 AL/NE/ER/SU).
bool WantsAcceptAck(const Message& msg, AckCode code);
bool WantsApplicationAck(const Message& msg, AckCode code);

std::string BuildAck(const Message& received, AckCode code, const std::vector<AckError>& errors,
                     const AckContext& ctx);

// What an ACK copies from the message it answers, read once and owned: several ACKs to one message,
// or one built later (when storing the message failed and the message itself is gone), need not
// go back to it.
//   AckHeader header = AckHeaderOf(msg);
//   std::string ack = BuildAck(header, AckCode::kAR, {error}, ctx);
struct AckHeader {
  Delimiters delimiters;
  std::string version;                 // MSH-12.1: which ERR layout the peer reads
  std::string sending_application;     // MSH-3, as sent (escaped): the ACK's MSH-5
  std::string sending_facility;        // MSH-4: the ACK's MSH-6
  std::string receiving_application;   // MSH-5: the ACK's MSH-3 (ours from the context when empty)
  std::string receiving_facility;      // MSH-6: the ACK's MSH-4
  std::string trigger_event;           // MSH-9.2
  std::string processing_id;           // MSH-11
  std::string version_field;           // MSH-12 as sent
  std::string control_id;              // MSH-10: the ACK's MSA-2
  bool named_charset = false;          // MSH-18 valued: the ACK says it is UTF-8
};
AckHeader AckHeaderOf(const Message& received);
std::string BuildAck(const AckHeader& received, AckCode code, const std::vector<AckError>& errors,
                     const AckContext& ctx);

// For bytes that could not be parsed at all: an AR with default delimiters, version 2.5.1, and
// whatever MSH-10 and version could be recovered from the raw header (may be empty).
std::string BuildRejectForUnparsed(std::string_view raw, const AckError& error,
                                   const AckContext& ctx);

}  // namespace ketamine::hl7v2
