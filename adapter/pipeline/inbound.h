// The inbound pipeline for HL7 v2: decode -> check what we can take -> store -> answer. It is
// the MLLP server's handler, and the same for every listener. The answer leaves only after the
// store has committed the message; a message we cannot take is answered AR with ERR segments,
// never a silent AA; a store that cannot write gets AR (CR in enhanced mode), never AA.
//   auto pipeline = std::make_shared<InboundPipeline>(store, options, Clock::System());
//   auto server = mllp::Server::Start(io, server_options, pipeline);
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "hl7v2/ack.h"
#include "hl7v2/parser.h"
#include "mapping/converter.h"
#include "routing/router.h"
#include "mllp/server.h"
#include "profiles/validator.h"
#include "store/message_store.h"

namespace ketamine::pipeline {

struct InboundOptions {
  std::string listener = "mllp";
  std::string application = "KETAMINE-GW";  // our MSH-3 when the sender left MSH-5 empty
  std::string facility;
  hl7v2::ParseOptions parse;  // limits and the listener's default character set
  // MSH-9 message code^trigger pairs the gateway takes; everything else gets AR 200/201.
  std::set<std::string> message_types = {"RDE^O11", "OMP^O09", "ORM^O01", "RAS^O17",
                                         "ORU^R01", "ADT^A01", "ADT^A04", "ADT^A08"};
  std::set<std::string> versions = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7",
                                    "2.7.1", "2.8", "2.8.1", "2.8.2"};
  // When set, a message we take is converted to FHIR and validated before it is acknowledged:
  // errors give AE (CA then AE in enhanced mode) with one ERR per issue, warnings ERR-4 W.
  std::shared_ptr<const mapping::Converter> converter;
  std::shared_ptr<const profiles::Validator> validator;
  mapping::ConvertOptions convert;
  // When set, a message without errors is routed: one outbox item per matching destination, stored
  // in the same transaction as the message (FHIR destinations get the Bundle, MLLP and folder
  // destinations the message as it came). `queued` is told the destinations, after the commit.
  std::shared_ptr<const routing::Router> router;
  std::function<void(const std::vector<std::string>& destinations)> queued;
};

struct InboundCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> store_failures{0};
  std::atomic<uint64_t> application_errors{0};
};

class InboundPipeline : public mllp::Handler {
 public:
  InboundPipeline(std::shared_ptr<store::MessageStore> store, InboundOptions options,
                  const Clock& clock);

  void OnMessage(std::string payload, const mllp::PeerInfo& peer, mllp::Reply reply) override;
  void OnOversized(std::string head, size_t total_bytes, const mllp::PeerInfo& peer,
                   mllp::Reply reply) override;

  const InboundCounters& counters() const { return counters_; }

 private:
  struct Decision {
    bool take = false;  // false: reject (AR/CR)
    std::vector<hl7v2::AckError> errors;
  };
  Decision Check(const hl7v2::Message& msg) const;
  // Converts and validates; the issues as ERR entries (empty when there is no converter).
  // Converts and validates; the Bundle (when there is one) is left in `bundle` for routing.
  std::vector<hl7v2::AckError> Process(const hl7v2::Message& msg, std::unique_ptr<rapidjson::Document>* bundle) const;
  hl7v2::AckContext NextAckContext();
  // What a message gets when the store cannot keep it, built only then (rare; an ACK costs
  // microseconds): AR in original mode, CR when the sender asked for it, or `ready` as it is.
  struct IfStoreFails {
    std::vector<std::string> ready;
    std::optional<hl7v2::AckHeader> header;  // set: build `code` from it
    hl7v2::AckCode code = hl7v2::AckCode::kAR;
  };
  std::vector<std::string> Replies(IfStoreFails answer);
  void StoreAndReply(store::InboundRecord record, std::vector<std::string> replies, IfStoreFails if_store_fails,
                     bool accepted, mllp::Reply reply);
  void RejectUnparsed(std::string raw, const hl7v2::AckError& error, mllp::Reply reply);

  std::shared_ptr<store::MessageStore> store_;
  InboundOptions options_;
  const Clock& clock_;
  std::string ack_id_prefix_;
  std::atomic<uint64_t> ack_counter_{0};
  InboundCounters counters_;
};

// The table 0357 code and ERR location for a parse failure of the whole message.
hl7v2::AckError AckErrorForParseFailure(const Status& status);

}  // namespace ketamine::pipeline
