// Fuzzes the merging of outbox items into one transaction per request (routing/merge.h). The
// input is up to eight payloads separated by 0x1E (the first byte also picks the group size and
// which items count as "outcome unknown").
// Properties: no crash, no hang; every item is in exactly one request, in order; an item alone goes
// as stored with its own key; a merged request is a transaction Bundle that parses, writes each url
// once, and carries at most the group size of items.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "fhir/json.h"
#include "routing/merge.h"

using ketamine::routing::KeyOf;
using ketamine::routing::PayloadOf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const size_t max_items = 1 + flags % 8;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<ketamine::store::OutboxItem> items;
  while (items.size() < 8) {
    const size_t cut = rest.find('\x1e');
    ketamine::store::OutboxItem item;
    item.id = static_cast<int64_t>(items.size()) + 1;
    item.write.content_type = "application/fhir+json";
    item.write.payload = std::string(rest.substr(0, cut));
    item.write.idempotency_key = "key-" + std::to_string(items.size());
    item.outcome_unknown = ((flags >> 3) & (1u << (items.size() % 5))) != 0 && items.size() % 3 == 2;
    items.push_back(std::move(item));
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 1);
  }
  const auto requests = ketamine::routing::MergeDeliveries(items, max_items);
  std::vector<int> seen(items.size(), 0);
  for (const auto& r : requests) {
    KETAMINE_CHECK(!r.items.empty() && r.items.size() <= max_items);
    for (size_t k = 0; k < r.items.size(); ++k) {
      KETAMINE_CHECK(r.items[k] < items.size());
      ++seen[r.items[k]];
      if (k > 0) KETAMINE_CHECK(r.items[k - 1] < r.items[k]);
    }
    if (r.items.size() == 1) {
      KETAMINE_CHECK(PayloadOf(r, items) == items[r.items[0]].write.payload && r.merged_payload.empty());
      KETAMINE_CHECK(KeyOf(r, items) == items[r.items[0]].write.idempotency_key);
      continue;
    }
    for (size_t i : r.items) KETAMINE_CHECK(!items[i].outcome_unknown);
    auto bundle = ketamine::fhir::ParseJson(r.merged_payload);
    KETAMINE_CHECK(bundle.ok());
    KETAMINE_CHECK(ketamine::fhir::StringMemberView(**bundle, "type") == "transaction");
    std::set<std::string> urls;
    for (const auto& e : (**bundle)["entry"].GetArray()) {
      KETAMINE_CHECK(urls.insert(std::string(ketamine::fhir::StringMemberView(e["request"], "url"))).second);
    }
  }
  for (int n : seen) KETAMINE_CHECK(n == 1);
  return 0;
}
