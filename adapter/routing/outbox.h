// What goes into the outbox: the items a message or a REST write makes for the destinations its
// routes match, stored in the same transaction as the message (store-and-forward). FHIR
// destinations get FHIR (the converted Bundle, or the resource as a one-entry transaction); MLLP
// and folder destinations get HL7 v2 (the message as it came, or the message a resource converts
// to, built with the resources it references in the store).
//   record.outbox = routing::OutboxForMessage(*router, msg, std::move(bundle), raw);
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "hl7v2/parser.h"
#include "mapping/converter.h"
#include "routing/router.h"
#include "store/message_store.h"

namespace ketamine::routing {

// An HL7 v2 message taken over MLLP; `bundle` is its conversion (nullptr when there is none: then
// FHIR destinations get nothing), consumed: the delivery payload is made from it in place. Items
// of one patient (the first PID-3) share a partition.
std::vector<store::OutboxWrite> OutboxForMessage(const Router& router, const hl7v2::Message& msg,
                                                 std::unique_ptr<rapidjson::Document> bundle, const std::string& raw);

// A resource a REST client wrote (its stored JSON, id included). Partitioned by its subject or
// patient. A resource that does not convert to HL7 v2 is logged and left out of v2 destinations.
std::vector<store::OutboxWrite> OutboxForResource(const Router& router, const mapping::Converter& converter,
                                                  store::MessageStore& store, const std::string& type,
                                                  const std::string& json);

}  // namespace ketamine::routing
