#include "hl7v2/ack.h"

#include "hl7v2/builder.h"
#include "hl7v2/charset.h"

namespace ketamine::hl7v2 {
namespace {

std::string_view SeverityCode(ErrorSeverity severity) {
  switch (severity) {
    case ErrorSeverity::kError: return "E";
    case ErrorSeverity::kWarning: return "W";
    case ErrorSeverity::kInformation: return "I";
    case ErrorSeverity::kFatal: return "F";
  }
  return "E";
}

// v2.3 and v2.4 have no ERR-2..ERR-12, only the ELD in ERR-1.
bool UsesLegacyErr(std::string_view version) {
  return version.substr(0, 3) == "2.1" || version.substr(0, 3) == "2.2" ||
         version.substr(0, 3) == "2.3" || version.substr(0, 3) == "2.4";
}

// ACKs are UTF-8: error text that quotes broken input loses its non-ASCII bytes instead.
std::string SafeText(const std::string& text) {
  if (ValidateUtf8(text).ok()) return text;
  std::string out;
  for (unsigned char c : text) out += c < 0x80 ? static_cast<char>(c) : '?';
  return out;
}

void AddErrors(MessageBuilder& b, std::string_view version, const std::vector<AckError>& errors) {
  const bool legacy = UsesLegacyErr(version);
  int n = 0;
  for (const AckError& raw_error : errors) {
    AckError error = raw_error;
    error.text = SafeText(error.text);
    std::string prefix = "ERR[" + std::to_string(++n) + "]-";
    std::string code = std::to_string(static_cast<int>(error.code));
    const ErrorLocation& loc = error.location;
    if (legacy) {
      // ELD: segment ID ^ sequence ^ field position ^ code (CE: code & text & HL70357)
      (void)b.Set(prefix + "1.1", loc.segment);
      if (!loc.segment.empty()) (void)b.Set(prefix + "1.2", std::to_string(loc.sequence));
      if (loc.field > 0) (void)b.Set(prefix + "1.3", std::to_string(loc.field));
      (void)b.Set(prefix + "1.4.1", code);
      (void)b.Set(prefix + "1.4.2", error.text);
      (void)b.Set(prefix + "1.4.3", "HL70357");
      continue;
    }
    if (!loc.segment.empty()) {
      (void)b.Set(prefix + "2.1", loc.segment);
      (void)b.Set(prefix + "2.2", std::to_string(loc.sequence));
      if (loc.field > 0) (void)b.Set(prefix + "2.3", std::to_string(loc.field));
      if (loc.repetition > 0) (void)b.Set(prefix + "2.4", std::to_string(loc.repetition));
      if (loc.component > 0) (void)b.Set(prefix + "2.5", std::to_string(loc.component));
      if (loc.subcomponent > 0) (void)b.Set(prefix + "2.6", std::to_string(loc.subcomponent));
    }
    (void)b.Set(prefix + "3.1", code);
    (void)b.Set(prefix + "3.2", ErrorCodeText(error.code));
    (void)b.Set(prefix + "3.3", "HL70357");
    (void)b.Set(prefix + "4", SeverityCode(error.severity));
    (void)b.Set(prefix + "8", error.text);
  }
}

// Table 0155 value of MSH-15/16; empty means "not valued".
bool AckTypeAllows(std::string_view type, bool success) {
  if (type == "NE") return false;
  if (type == "ER") return !success;
  if (type == "SU") return success;
  return true;  // AL, or a value we do not know: answering is the safe side
}

bool IsSuccess(AckCode code) { return code == AckCode::kAA || code == AckCode::kCA; }

}  // namespace

std::string_view AckCodeName(AckCode code) {
  switch (code) {
    case AckCode::kAA: return "AA";
    case AckCode::kAE: return "AE";
    case AckCode::kAR: return "AR";
    case AckCode::kCA: return "CA";
    case AckCode::kCE: return "CE";
    case AckCode::kCR: return "CR";
  }
  return "AR";
}

std::string_view ErrorCodeText(ErrorCode code) {
  switch (code) {
    case ErrorCode::kAccepted: return "Message accepted";
    case ErrorCode::kSegmentSequence: return "Segment sequence error";
    case ErrorCode::kRequiredFieldMissing: return "Required field missing";
    case ErrorCode::kDataTypeError: return "Data type error";
    case ErrorCode::kTableValueNotFound: return "Table value not found";
    case ErrorCode::kValueTooLong: return "Value too long";
    case ErrorCode::kCardinality: return "Non-conformant cardinality";
    case ErrorCode::kOtherHl7Error: return "Other HL7 error";
    case ErrorCode::kUnsupportedMessageType: return "Unsupported message type";
    case ErrorCode::kUnsupportedEventCode: return "Unsupported event code";
    case ErrorCode::kUnsupportedProcessingId: return "Unsupported processing id";
    case ErrorCode::kUnsupportedVersionId: return "Unsupported version id";
    case ErrorCode::kDuplicateKey: return "Duplicate key identifier";
    case ErrorCode::kInternalError: return "Application internal error";
  }
  return "Other HL7 error";
}

std::string ErrorLocation::ToString() const {
  Path path{segment, sequence, field, repetition, component, subcomponent};
  return path.ToString();
}

bool IsEnhancedMode(const Message& msg) {
  return !msg.Get("MSH-15").empty() || !msg.Get("MSH-16").empty();
}

bool WantsAcceptAck(const Message& msg, AckCode code) {
  if (!IsEnhancedMode(msg)) return false;
  return AckTypeAllows(msg.Get("MSH-15"), IsSuccess(code));
}

bool WantsApplicationAck(const Message& msg, AckCode code) {
  if (!IsEnhancedMode(msg)) return true;  // original mode: the one ACK is the application ACK
  std::string_view type = msg.Get("MSH-16");
  if (type.empty()) return false;  // enhanced mode with MSH-16 empty means "never"
  return AckTypeAllows(type, IsSuccess(code));
}

AckHeader AckHeaderOf(const Message& received) {
  AckHeader h;
  h.delimiters = received.delimiters();
  h.version = std::string(received.VersionId());
  h.sending_application = std::string(received.Get("MSH-3"));
  h.sending_facility = std::string(received.Get("MSH-4"));
  h.receiving_application = std::string(received.Get("MSH-5"));
  h.receiving_facility = std::string(received.Get("MSH-6"));
  h.trigger_event = std::string(received.TriggerEvent());
  h.processing_id = std::string(received.Get("MSH-11"));
  h.version_field = std::string(received.Get("MSH-12"));
  h.control_id = std::string(received.ControlId());
  h.named_charset = !received.Get("MSH-18").empty();
  return h;
}

std::string BuildAck(const Message& received, AckCode code, const std::vector<AckError>& errors,
                     const AckContext& ctx) {
  return BuildAck(AckHeaderOf(received), code, errors, ctx);
}

std::string BuildAck(const AckHeader& received, AckCode code, const std::vector<AckError>& errors,
                     const AckContext& ctx) {
  MessageBuilder b(received.delimiters);
  const std::string_view version = received.version;
  if (received.receiving_application.empty()) {
    (void)b.Set("MSH-3", ctx.application);
  } else {
    (void)b.SetRaw("MSH-3", received.receiving_application);
  }
  if (received.receiving_facility.empty()) {
    (void)b.Set("MSH-4", ctx.facility);
  } else {
    (void)b.SetRaw("MSH-4", received.receiving_facility);
  }
  (void)b.SetRaw("MSH-5", received.sending_application);
  (void)b.SetRaw("MSH-6", received.sending_facility);
  (void)b.Set("MSH-7", ctx.timestamp);
  (void)b.Set("MSH-9.1", "ACK");
  (void)b.SetRaw("MSH-9.2", received.trigger_event);
  if (!UsesLegacyErr(version)) (void)b.Set("MSH-9.3", "ACK");
  (void)b.Set("MSH-10", ctx.control_id);
  (void)b.SetRaw("MSH-11", received.processing_id);
  (void)b.SetRaw("MSH-12", received.version_field);
  // The ACK leaves as UTF-8 whatever the message came in; say so when the sender named a charset.
  if (received.named_charset) (void)b.Set("MSH-18", "UNICODE UTF-8");
  (void)b.Set("MSA-1", AckCodeName(code));
  (void)b.SetRaw("MSA-2", received.control_id);
  // MSA-3 (text) is kept for v2.3/v2.4 peers that read nothing else; later versions use ERR.
  if (UsesLegacyErr(version) && !errors.empty()) (void)b.Set("MSA-3", SafeText(errors.front().text));
  AddErrors(b, version, errors);
  return b.Build();
}

std::string BuildRejectForUnparsed(std::string_view raw, const AckError& error,
                                   const AckContext& ctx) {
  MessageBuilder b;
  // Recover MSH-10 and MSH-12 when the header is readable enough; otherwise leave them empty.
  std::string control_id;
  std::string version = "2.5.1";
  if (raw.size() > 8 && raw.substr(0, 3) == "MSH") {
    char fs = raw[3];
    size_t end = raw.find_first_of("\r\n");
    std::string_view header = raw.substr(0, end);
    std::vector<std::string_view> fields;
    size_t start = 0;
    while (start <= header.size()) {
      size_t next = header.find(fs, start);
      if (next == std::string_view::npos) next = header.size();
      fields.push_back(header.substr(start, next - start));
      start = next + 1;
    }
    // fields[0] = "MSH", fields[1] = MSH-2, so MSH-n is fields[n - 1].
    auto printable = [](std::string_view v) {
      for (unsigned char c : v) {
        if (c < 0x20 || c >= 0x7f) return false;
      }
      return v.size() <= 199;
    };
    if (fields.size() > 9 && printable(fields[9])) control_id = std::string(fields[9]);
    if (fields.size() > 11) {
      std::string_view v = fields[11].substr(0, fields[11].find_first_of("^~\\&"));
      if (printable(v) && !v.empty() && v.size() <= 8) version = std::string(v);
    }
  }
  (void)b.Set("MSH-3", ctx.application);
  (void)b.Set("MSH-4", ctx.facility);
  (void)b.Set("MSH-7", ctx.timestamp);
  (void)b.Set("MSH-9.1", "ACK");
  if (!UsesLegacyErr(version)) (void)b.Set("MSH-9.3", "ACK");
  (void)b.Set("MSH-10", ctx.control_id);
  (void)b.Set("MSH-11", "P");
  (void)b.Set("MSH-12", version);
  (void)b.Set("MSA-1", "AR");
  (void)b.Set("MSA-2", control_id);
  if (UsesLegacyErr(version)) (void)b.Set("MSA-3", SafeText(error.text));
  AddErrors(b, version, {error});
  return b.Build();
}

}  // namespace ketamine::hl7v2
