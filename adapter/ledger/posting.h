// Postings from the message flow: a completed ketamine MedicationAdministration posts an
// administration (and its ketamine-waste extension a waste), a ketamine MedicationRequest posts an
// order (no stock change; for reconciling orders against administrations and waste). Each posting
// carries a source made of the outbox item's idempotency key (the message or REST write it came
// from) and the resource, so a resend is not posted twice. Postings from the flow are never
// refused: an overdraw, an unknown lot, a missing witness are flagged for the discrepancy report.
//   auto drafts = ledger::DraftsFromFhir(bundle, context);
//   ledger->Append(*drafts);
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "profiles/model.h"
#include "routing/delivery.h"
#include "store/message_store.h"

namespace ketamine::ledger {

struct PostingContext {
  std::string source;    // the idempotency key of what carried the resources
  std::string location;  // where the flow's postings are booked
  bool waste_witness_required = true;
  // The ketamine codes (fhir-profiles ValueSet ketamine-medication); a Medication that claims DEA
  // schedule III with the ketamine-dea-schedule extension counts as well.
  const profiles::ValueSetDef* ketamine_codes = nullptr;
  // Reads "Type/id" references the payload does not hold (REST writes refer to stored resources).
  std::function<std::unique_ptr<rapidjson::Document>(std::string_view reference)> resolve;
};

// `payload`: a Bundle (entries with fullUrl and resource) or a single resource. Resources that are
// not about ketamine, or not completed administrations / active orders, give no draft.
Result<std::vector<Draft>> DraftsFromFhir(const rapidjson::Value& payload, const PostingContext& context);

// The "ledger" destination of the routing config: posts each outbox item's FHIR to the ledger.
// A ledger that cannot write is a retry; a payload that is not FHIR JSON is a dead letter.
class LedgerSender : public routing::Sender {
 public:
  LedgerSender(std::shared_ptr<Ledger> ledger, std::shared_ptr<store::MessageStore> store,
               const profiles::ValueSetDef* ketamine_codes);
  routing::SendResult Send(const store::OutboxItem& item) override;

 private:
  std::shared_ptr<Ledger> ledger_;
  std::shared_ptr<store::MessageStore> store_;
  const profiles::ValueSetDef* ketamine_codes_;
};

inline constexpr const char* kKetamineValueSet = "http://fhir.ketamine-gateway.org/ValueSet/ketamine-medication";

}  // namespace ketamine::ledger
