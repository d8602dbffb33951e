// Reports of the Schedule III ledger, each as a table (CSV or JSON) and, for the three that 21 CFR
// 1304 asks of a registrant, as a FHIR Bundle:
//   administration-log  every administration and disposal with the fields 1304.22(c) names
//   inventory           on hand per lot and location at a time (initial / biennial, 1304.11)
//   discrepancies       what an auditor chases: flags of the flow, count mismatches, receipts
//                       against invoices, orders against administrations plus waste, overdrawn and
//                       expired lots, losses with their DEA Form 106 deadlines
//   waste-by-clinician  waste per person and period (the strongest diversion signal)
//   entries             the ledger itself, for diversion analytics tools (CSV or NDJSON)
//   auto table = ledger::MakeReport(*ledger, "inventory", {.as_of = "2026-12-31T23:59:59Z"});
//   std::string csv = ledger::ToCsv(*table);
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ledger/ledger.h"

namespace ketamine::ledger {

struct ReportOptions {
  std::string from;            // event_time >= (UTC), "" for the beginning
  std::string to;              // event_time < (UTC), "" for now
  std::string as_of;           // inventory: balances at this time (UTC), "" for now
  std::string inventory_kind;  // inventory: "initial", "biennial" or "" (an ad hoc report)
  std::string business;        // inventory: "open" or "close" of business
  std::string period = "month";  // waste-by-clinician: "day", "week" or "month"
  // Called with the sequence number of each entry read (a progress line on a terminal).
  std::function<void(int64_t seq)> progress;
};

struct Table {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::string generated_at;
  std::string registration;
};

inline constexpr const char* kReportNames[] = {"administration-log", "inventory", "discrepancies",
                                               "waste-by-clinician", "entries"};

// kInvalidInput for an unknown report name or option.
Result<Table> MakeReport(Ledger& ledger, const std::string& name, const ReportOptions& options);

std::string ToCsv(const Table& table);
// {"report":..,"generated_at":..,"registration":..,"rows":[{column: value}]}
std::string ToJson(const Table& table);
// One JSON object per line (the entries export for analytics tools).
std::string ToNdjson(const Table& table);
// A FHIR R4 Bundle (type collection): MedicationAdministration per administration, Medication per
// lot with its on-hand quantity, DetectedIssue per discrepancy. kUnsupported for other reports.
Result<std::string> ToFhirBundle(const Table& table);

}  // namespace ketamine::ledger
