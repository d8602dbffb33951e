// Several deliveries to one FHIR server in one request. A claim hands out at most one outbox item
// per partition (patient), so the transaction Bundles of the items in hand may go to the server as
// one transaction: a busy destination then gets one request per group of messages instead of one
// per message, which is what the server and the wire pay for most.
//   for (const DeliveryRequest& r : MergeDeliveries(items, 16)) Post(PayloadOf(r, items), KeyOf(r, items));
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
  // Only for a merged request (more than one item): the merged Bundle, and "merged-" + the SHA-256
  // of its items' keys (the same group sent again carries the same key). An item alone goes with
  // its own payload and key, which are not copied here.
  std::string merged_payload;
  std::string merged_key;
};

// Groups of at most `max_items` items (below 2: every item alone, nothing parsed), in the items'
// order; every item is in exactly one group.
std::vector<DeliveryRequest> MergeDeliveries(const std::vector<store::OutboxItem>& items, size_t max_items);

// What to send for a request: its merged payload and key, or its one item's own.
const std::string& PayloadOf(const DeliveryRequest& request, const std::vector<store::OutboxItem>& items);
const std::string& KeyOf(const DeliveryRequest& request, const std::vector<store::OutboxItem>& items);

}  // namespace ketamine::routing
