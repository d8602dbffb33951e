// Fuzzes the ledger's manual postings (the JSON of POST /ledger/entries and `ledger post`).
// Properties: no crash or hang; what is accepted is a well-formed draft: a location and a lot, a
// non-negative amount, details that are a JSON object, and a transfer as two halves.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "ledger/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const ketamine::ledger::LedgerOptions options;
  auto drafts = ketamine::ledger::DraftsFromRequestText(in, options, "2026-11-23T15:00:00Z");
  if (!drafts.ok()) {
    KETAMINE_CHECK(!drafts.status().message().empty());
    return 0;
  }
  KETAMINE_CHECK(drafts->size() == 1 || drafts->size() == 2);
  for (const auto& d : *drafts) {
    KETAMINE_CHECK(!d.location.empty() && !d.lot.empty() && !d.by.empty() && !d.event_time.empty());
    KETAMINE_CHECK(d.amount_ug >= 0);
    rapidjson::Document details;
    details.Parse(d.details.c_str());
    KETAMINE_CHECK(!details.HasParseError() && details.IsObject());
  }
  if (drafts->size() == 2) {
    KETAMINE_CHECK((*drafts)[0].kind == ketamine::ledger::Kind::kTransferOut);
    KETAMINE_CHECK((*drafts)[1].kind == ketamine::ledger::Kind::kTransferIn);
    KETAMINE_CHECK((*drafts)[0].amount_ug == (*drafts)[1].amount_ug);
  }
  return 0;
}
