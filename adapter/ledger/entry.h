// The entries of the Schedule III ledger: what kinds there are, what each changes, and exact
// quantities (integer micrograms, never floating point).
//   auto ug = ledger::ParseAmountUg("12.5", "mg");   // 12500
//   ledger::FormatMg(12500) == "12.5"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ketamine::ledger {

enum class Kind {
  kReceipt,         // stock received from a supplier (invoice, supplier DEA number): +
  kAdministration,  // given to a patient: -
  kWaste,           // the unused part of a dose, disposed of (21 CFR 1304.22(c) "other manner"): -
  kTransferOut,     // moved to another location of the same registration: -
  kTransferIn,      // the other half of a transfer: +
  kCount,           // a physical count (inventory); the book balance is kept, the difference reported
  kAdjustment,      // a correction with its reason (+ or -); never an edit of an entry
  kLoss,            // theft or significant loss (what DEA Form 106 asks): -
  kDestruction,     // destroyed or returned to a reverse distributor (what DEA Form 41 asks): -
  kOrder,           // an infusion order seen in the message flow, for reconciliation; no stock change
};
std::string_view KindName(Kind kind);
std::optional<Kind> KindFromName(std::string_view name);
// +1 for kinds that add stock, -1 for kinds that take it, 0 for counts and orders; adjustments
// carry their own sign.
int KindSign(Kind kind);

// "12.5" in mg, ug (or mcg) or g to micrograms, exactly. More precision than 1 ug, a negative or
// malformed number, an unknown unit: kInvalidInput naming the value. `allow_negative` for changes.
Result<int64_t> ParseAmountUg(std::string_view value, std::string_view unit, bool allow_negative = false);
// Micrograms as mg with no trailing zeros: 12500 -> "12.5", -3 -> "-0.003".
std::string FormatMg(int64_t ug);

// A posting before it is appended: the ledger gives it its sequence number, time of recording,
// balance after, flags found against the book (overdraw, unknown lot) and its hash.
struct Draft {
  Kind kind = Kind::kAdministration;
  std::string location;
  std::string ndc;         // package NDC; taken from the lot's receipt when empty
  std::string lot;         // "" only for orders
  std::string event_time;  // when it happened (RFC 3339); 21 CFR 1304.21(d): the actual date
  int64_t amount_ug = 0;   // the event's amount, >= 0 (a count: what was counted)
  int64_t change_ug = 0;   // adjustments: the signed change
  std::string by;          // who did it (name or initials): 1304.22(c) names who administered
  std::string source;      // idempotency key: a second posting with the same source is not appended
  bool from_flow = false;  // from the message flow: never refused (the dose was given), flagged instead
  std::vector<std::string> flags;  // found by whoever made the draft ("waste-without-witness" ...)
  std::string details;             // JSON object: the kind's own fields (patient, supplier, witness ...)
  // The stock change this draft makes on its lot at its location.
  int64_t QuantityUg() const;
};

struct Entry {
  int64_t seq = 0;
  std::string recorded_at;
  Kind kind = Kind::kAdministration;
  std::string location;
  std::string ndc;
  std::string lot;
  std::string event_time;
  int64_t quantity_ug = 0;  // the change to the balance of (location, lot)
  int64_t balance_ug = 0;   // the balance of (location, lot) after this entry
  std::string source;
  std::string body;         // {"amount_ug":..,"by":..,"flags":[..],"details":{..}}
  std::string prev_hash;    // hex
  std::string hash;         // hex
};

}  // namespace ketamine::ledger
