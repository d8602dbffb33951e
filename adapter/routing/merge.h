// Several deliveries to one FHIR server in one request. A claim hands out at most one outbox item
// per partition (patient), so the transaction Bundles of the items in hand may go to the server as
// one transaction: a busy destination then gets one request per group of messages instead of one
// per message, which is what the server and the wire pay for most.
//   for (const DeliveryRequest& r : MergeDeliveries(items, 16)) Post(r.payload, r.idempotency_key);
//
// What is merged: transaction Bundles whose every entry is a plain PUT on "Type/id" (the form
// FhirDeliveryPayload gives them), without ifMatch and the like. A resource two items write alike
// (the ordering practitioner, the medication) is written once, and the second item's references to
// its own copy are pointed at the one kept. Two items writing one resource differently, or one
// fullUrl for two resources, go in different requests. Anything else goes alone, as stored: other
// content, a Bundle that does not parse, and an item whose earlier outcome is unknown (it is resent
// with its own idempotency key, as the delivery guarantee says).
#pragma once

#include <string>
#include <vector>

#include "store/message_store.h"

namespace ketamine::routing {

struct DeliveryRequest {
  std::vector<size_t> items;    // indexes into the items given, in their order
  std::string payload;
  // An item alone: its own key. A merged request: "merged-" and the SHA-256 of its items' keys,
  // so the same group sent again carries the same key.
  std::string idempotency_key;
};

// Groups of at most `max_items` items (at least 1), in the items' order; every item is in exactly
// one group.
std::vector<DeliveryRequest> MergeDeliveries(const std::vector<store::OutboxItem>& items, size_t max_items);

}  // namespace ketamine::routing
