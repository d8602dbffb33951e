// The ledger's REST API, mounted by serve under /ledger on the HTTP listener:
//   GET  /ledger/entries?after=SEQ&from=T&to=T&format=ndjson|csv|json   the entries with their hashes
//   POST /ledger/entries        a posting (or an array, all or nothing) in the shape of request.h;
//                               201 with the appended entries, 422 OperationOutcome when refused
//   GET  /ledger/balances       on hand per lot and location
//   GET  /ledger/reports/{administration-log|inventory|discrepancies|waste-by-clinician}
//        ?format=csv|json|fhir&from=T&to=T&as_of=T&inventory=initial|biennial&business=open|close&period=P
//   GET  /ledger/verify?anchor=SEQ:HASH   {"ok":..,"entries":..,"problem":..,"head":..}
//   GET  /ledger/head
//   facade->set_mount("ledger", [ledger](auto& request, auto& parts) { return ledger::HandleRest(*ledger, request, parts); });
#pragma once

#include <string>
#include <vector>

#include "http/server.h"
#include "ledger/ledger.h"

namespace ketamine::ledger {

http::Response HandleRest(Ledger& ledger, const http::Request& request, const std::vector<std::string>& parts);

}  // namespace ketamine::ledger
