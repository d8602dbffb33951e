// Manual postings (receipts, counts, adjustments, losses ...) as JSON, the one shape the CLI and
// the REST API (POST /ledger/entries) take. Each kind's required fields are checked here, against
// the ledger's options (witnesses, DEA numbers), before anything reaches the ledger; the first
// problem is the answer, naming the field ("supplier.dea: 'AB1234564' is not a valid DEA number").
//   auto drafts = ledger::DraftsFromRequest(json, options);   // a transfer makes two
//
// {"kind":"receipt","location":"main","ndc":"42023-113-10","lot":"L1","expiry":"2027-06-30",
//  "containers":10,"container_amount":"500","container_volume_ml":"10","product":"Ketamine HCl 50 mg/mL",
//  "form":"injection, solution","supplier":{"name":"..","address":"..","dea":"RS1234563"},
//  "invoice":"INV-1","invoice_containers":10,"time":"2026-11-23T09:00:00-05:00","by":"JL"}
// Amounts are strings or numbers in "unit" (mg by default), exact to the microgram.
#pragma once

#include <rapidjson/document.h>

#include <string_view>
#include <vector>

#include "ledger/entry.h"
#include "ledger/ledger.h"

namespace ketamine::ledger {

// `now` (RFC 3339) is the time of a posting that gives none.
Result<std::vector<Draft>> DraftsFromRequest(const rapidjson::Value& request, const LedgerOptions& options,
                                             std::string_view now);
// The same from JSON text (size and depth limits of fhir::ParseJson).
Result<std::vector<Draft>> DraftsFromRequestText(std::string_view json, const LedgerOptions& options,
                                                 std::string_view now);

}  // namespace ketamine::ledger
