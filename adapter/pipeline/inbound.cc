#include "pipeline/inbound.h"

#include "routing/outbox.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"

namespace ketamine::pipeline {
namespace {

using hl7v2::AckCode;
using hl7v2::AckError;
using hl7v2::ErrorCode;
using hl7v2::ErrorSeverity;

AckError MshError(int field, ErrorCode code, std::string text) {
  return AckError{{"MSH", 1, field, 0, 0, 0}, code, ErrorSeverity::kError, std::move(text)};
}

// Processing ids of table 0103: debugging, production, training.
bool KnownProcessingId(std::string_view id) {
  return id.empty() || id == "P" || id == "T" || id == "D";
}

// "segment 4" or "MSH-2" -> ERR location.
hl7v2::ErrorLocation LocationFromStatus(const Status& status) {
  const std::string& text = status.location().ToString();
  if (text.rfind("segment ", 0) == 0) {
    hl7v2::ErrorLocation loc;
    loc.segment = "";
    int n = 0;
    std::from_chars(text.data() + 8, text.data() + text.size(), n);
    loc.sequence = n;
    return loc;
  }
  auto path = hl7v2::ParsePath(text);
  if (!path.ok()) return {};
  return {path->segment, path->occurrence, path->field, path->repetition, path->component,
          path->subcomponent};
}

}  // namespace

AckError AckErrorForParseFailure(const Status& status) {
  AckError error;
  error.location = LocationFromStatus(status);
  error.severity = ErrorSeverity::kError;
  error.text = status.message();
  switch (status.code()) {
    case StatusCode::kTooLarge: error.code = ErrorCode::kValueTooLong; break;
    case StatusCode::kUnsupported: error.code = ErrorCode::kTableValueNotFound; break;
    default:
      error.code = error.location.segment.empty() || error.location.field == 0
                       ? ErrorCode::kSegmentSequence
                       : ErrorCode::kDataTypeError;
  }
  if (error.location.segment.empty() && error.location.sequence > 0) {
    error.text += " (segment " + std::to_string(error.location.sequence) + ")";
  }
  return error;
}

InboundPipeline::InboundPipeline(std::shared_ptr<store::MessageStore> store,
                                 InboundOptions options, const Clock& clock)
    : store_(std::move(store)), options_(std::move(options)), clock_(clock) {
  // ACK control ids stay unique across restarts: start time in ms, then a counter.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_.Now().time_since_epoch())
                .count();
  ack_id_prefix_ = "KGW" + std::to_string(ms) + "-";
}

hl7v2::AckContext InboundPipeline::NextAckContext() {
  hl7v2::AckContext ctx;
  ctx.control_id = ack_id_prefix_ + std::to_string(++ack_counter_);
  ctx.timestamp = FormatHl7Timestamp(clock_.Now());
  ctx.application = options_.application;
  ctx.facility = options_.facility;
  return ctx;
}

InboundPipeline::Decision InboundPipeline::Check(const hl7v2::Message& msg) const {
  Decision d;
  std::string_view code = msg.MessageCode();
  std::string_view trigger = msg.TriggerEvent();
  if (code.empty()) {
    d.errors.push_back(MshError(9, ErrorCode::kRequiredFieldMissing, "message type (MSH-9) is required"));
  } else if (!options_.message_types.count(std::string(code) + "^" + std::string(trigger))) {
    bool code_known = false;
    for (const auto& type : options_.message_types) {
      if (type.compare(0, type.find('^'), code) == 0 && type.find('^') == code.size()) code_known = true;
    }
    if (code_known) {
      d.errors.push_back(AckError{{"MSH", 1, 9, 0, 2, 0}, ErrorCode::kUnsupportedEventCode,
                                  ErrorSeverity::kError,
                                  "trigger event " + std::string(code) + "^" + std::string(trigger) +
                                      " is not handled by this gateway"});
    } else {
      d.errors.push_back(AckError{{"MSH", 1, 9, 0, 1, 0}, ErrorCode::kUnsupportedMessageType,
                                  ErrorSeverity::kError,
                                  "message type " + std::string(code) +
                                      " is not handled by this gateway"});
    }
  }
  if (msg.ControlId().empty()) {
    d.errors.push_back(MshError(10, ErrorCode::kRequiredFieldMissing,
                                "message control id (MSH-10) is required"));
  }
  std::string_view processing = msg.Get("MSH-11.1");
  if (!KnownProcessingId(processing)) {
    d.errors.push_back(MshError(11, ErrorCode::kUnsupportedProcessingId,
                                "processing id '" + std::string(processing) + "' is not P, T or D"));
  }
  std::string version(msg.VersionId());
  if (!options_.versions.count(version)) {
    d.errors.push_back(MshError(12, ErrorCode::kUnsupportedVersionId,
                                "HL7 version '" + version + "' is not supported (2.3 to 2.8)"));
  }
  d.take = d.errors.empty();
  return d;
}

std::vector<AckError> InboundPipeline::Process(const hl7v2::Message& msg,
                                               std::unique_ptr<rapidjson::Document>* bundle) const {
  std::vector<AckError> out;
  if (!options_.converter) return out;
  auto conversion = options_.converter->ToFhir(msg, options_.convert);
  if (!conversion.ok()) return out;  // no plan for this type: stored as it came, nothing to check
  Issues issues = std::move(conversion->issues);
  if (options_.validator) {
    Issues validation = options_.validator->Validate(*conversion->bundle);
    for (const Issue& issue : validation.items()) issues.Add(issue);
  }
  for (const Issue& issue : issues.items()) {
    if (issue.severity == Severity::kInformation) continue;
    AckError e;
    e.severity = issue.severity == Severity::kWarning ? ErrorSeverity::kWarning : ErrorSeverity::kError;
    // Mapping issues carry a v2 location; validation issues a FHIRPath, which goes in the text.
    auto v2 = hl7v2::ParsePath(issue.location.ToString());
    if (v2.ok()) {
      e.location = {v2->segment, v2->occurrence, v2->field, v2->repetition, v2->component, v2->subcomponent};
      e.text = issue.text;
    } else {
      e.text = issue.location.empty() ? issue.text : issue.location.ToString() + ": " + issue.text;
    }
    e.text += " [" + issue.code + "]";
    if (issue.code == "map-required-missing") {
      e.code = ErrorCode::kRequiredFieldMissing;
    } else if (issue.code == "map-code-unknown" || issue.code == "map-coding-system-unknown" ||
               issue.code == "map-unit-unknown") {
      e.code = ErrorCode::kTableValueNotFound;
    } else if (issue.code == "map-datatype") {
      e.code = ErrorCode::kDataTypeError;
    } else if (issue.code == "map-segment-unmapped") {
      e.code = ErrorCode::kSegmentSequence;
    } else {
      e.code = ErrorCode::kInternalError;  // 207: application error; ERR-8 names the rule
    }
    out.push_back(std::move(e));
  }
  if (bundle != nullptr) *bundle = std::move(conversion->bundle);
  return out;
}

void InboundPipeline::OnMessage(std::string payload, const mllp::PeerInfo& /*peer*/,
                                mllp::Reply reply) {
  auto parsed = hl7v2::Parse(payload, options_.parse);
  if (!parsed.ok()) {
    RejectUnparsed(std::move(payload), AckErrorForParseFailure(parsed.status()), std::move(reply));
    return;
  }
  const hl7v2::Message& msg = *parsed;
  Decision decision = Check(msg);
  const bool enhanced = hl7v2::IsEnhancedMode(msg);

  store::InboundRecord record;
  record.received_at = FormatIsoTimestamp(clock_.Now());
  record.listener = options_.listener;
  record.sending_application = std::string(msg.SendingApplication());
  record.sending_facility = std::string(msg.SendingFacility());
  record.control_id = std::string(msg.ControlId());
  record.message_type = std::string(msg.MessageCode()) + "^" + std::string(msg.TriggerEvent());
  record.version = std::string(msg.VersionId());

  std::vector<std::string> replies;
  IfStoreFails if_store_fails;
  if (decision.take) {
    hl7v2::AckHeader header = hl7v2::AckHeaderOf(msg);
    std::unique_ptr<rapidjson::Document> bundle;
    std::vector<AckError> findings = Process(msg, &bundle);
    bool errors = std::any_of(findings.begin(), findings.end(),
                              [](const AckError& e) { return e.severity == ErrorSeverity::kError; });
    if (errors) ++counters_.application_errors;
    // A message with errors is still stored (nothing is lost) and answered AE: fix and resend.
    record.status = errors ? store::MessageStatus::kError : store::MessageStatus::kAccepted;
    if (!errors && options_.router) record.outbox = routing::OutboxForMessage(*options_.router, msg, std::move(bundle), payload);
    const AckCode app_code = errors ? AckCode::kAE : AckCode::kAA;
    if (enhanced) {
      if (hl7v2::WantsAcceptAck(msg, AckCode::kCA)) {
        replies.push_back(hl7v2::BuildAck(header, AckCode::kCA, {}, NextAckContext()));
      }
      if (hl7v2::WantsApplicationAck(msg, app_code)) {
        replies.push_back(hl7v2::BuildAck(header, app_code, findings, NextAckContext()));
      }
      if (hl7v2::WantsAcceptAck(msg, AckCode::kCR)) if_store_fails = {{}, std::move(header), AckCode::kCR};
    } else {
      replies.push_back(hl7v2::BuildAck(header, app_code, findings, NextAckContext()));
      if_store_fails = {{}, std::move(header), AckCode::kAR};
    }
  } else {
    record.status = store::MessageStatus::kRejected;
    AckCode code = enhanced ? AckCode::kCR : AckCode::kAR;
    if (!enhanced || hl7v2::WantsAcceptAck(msg, code)) {
      replies.push_back(hl7v2::BuildAck(msg, code, decision.errors, NextAckContext()));
    }
    if_store_fails.ready = replies;  // a reject is a reject whether or not we kept a copy
  }
  record.raw = std::move(payload);
  record.replies = replies;
  StoreAndReply(std::move(record), std::move(replies), std::move(if_store_fails), decision.take,
                std::move(reply));
}

std::vector<std::string> InboundPipeline::Replies(IfStoreFails answer) {
  if (!answer.header) return std::move(answer.ready);
  const AckError store_error{{}, ErrorCode::kInternalError, ErrorSeverity::kError,
                             "the message could not be stored; send it again later"};
  return {hl7v2::BuildAck(*answer.header, answer.code, {store_error}, NextAckContext())};
}

void InboundPipeline::StoreAndReply(store::InboundRecord record, std::vector<std::string> replies,
                                    IfStoreFails if_store_fails, bool accepted, mllp::Reply reply) {
  std::string type = record.message_type;
  std::vector<std::string> destinations;
  for (const auto& o : record.outbox) destinations.push_back(o.destination);
  store_->Append(std::move(record),
                 [this, accepted, type, destinations = std::move(destinations), replies = std::move(replies),
                  fallback = std::move(if_store_fails),
                  reply = std::move(reply)](Result<store::AppendOutcome> outcome) mutable {
                   if (!outcome.ok()) {
                     ++counters_.store_failures;
                     log::Error("inbound.store_failed", {{"type", type},
                                                         {"reason", outcome.status().message()}});
                     reply(Replies(std::move(fallback)));
                     return;
                   }
                   if (outcome->duplicate) {
                     ++counters_.duplicates;
                     log::Info("inbound.duplicate", {{"type", type},
                                                     {"id", std::to_string(outcome->id)}});
                     reply(std::move(outcome->replies));
                     return;
                   }
                   ++(accepted ? counters_.accepted : counters_.rejected);
                   reply(std::move(replies));
                   if (!destinations.empty() && options_.queued) options_.queued(destinations);
                 });
}

void InboundPipeline::RejectUnparsed(std::string raw, const AckError& error, mllp::Reply reply) {
  std::string ack = hl7v2::BuildRejectForUnparsed(raw, error, NextAckContext());
  log::Warn("inbound.unparsable", {{"reason", error.text}});
  store::InboundRecord record;
  record.received_at = FormatIsoTimestamp(clock_.Now());
  record.listener = options_.listener;
  record.message_type = "?";
  record.version = "?";
  record.status = store::MessageStatus::kRejected;
  record.raw = std::move(raw);
  record.replies = {ack};
  StoreAndReply(std::move(record), {ack}, {{ack}, std::nullopt, AckCode::kAR}, false, std::move(reply));
}

void InboundPipeline::OnOversized(std::string head, size_t total_bytes,
                                  const mllp::PeerInfo& /*peer*/, mllp::Reply reply) {
  AckError error{{}, ErrorCode::kValueTooLong, ErrorSeverity::kError,
                 "message of " + std::to_string(total_bytes) +
                     " bytes is over this listener's size limit"};
  ++counters_.rejected;
  // Not stored: we never had the whole message. The sender keeps it and gets AR.
  reply({hl7v2::BuildRejectForUnparsed(head, error, NextAckContext())});
}

}  // namespace ketamine::pipeline
