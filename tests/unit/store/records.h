// Records the store tests append: a message from PHARM at CLINIC with two stored replies, and the
// resource writes they carry.
#pragma once

#include <string>

#include "store/message_store.h"

namespace ketamine::store::testing_records {

inline InboundRecord Record(std::string control_id, MessageStatus status = MessageStatus::kAccepted) {
  InboundRecord r;
  r.received_at = "2026-11-23T10:00:00.000Z";
  r.listener = "mllp";
  r.sending_application = "PHARM";
  r.sending_facility = "CLINIC";
  r.control_id = std::move(control_id);
  r.message_type = "RDE^O11";
  r.version = "2.5.1";
  r.status = status;
  r.raw = "MSH|^~\\&|PHARM|CLINIC|||1||RDE^O11|" + r.control_id + "|P|2.5.1\r\xE9";  // an 8859/1 byte, kept as is
  r.replies = {"MSH|ack1\r", "MSH|ack2\r"};
  return r;
}

// A Patient write with its MRN (urn:mrn) and birth date indexed as the REST facade indexes them.
inline ResourceWrite Patient(std::string id, std::string mrn, std::string birth_date = "1979-04-12") {
  ResourceWrite w;
  w.type = "Patient";
  w.id = id;
  w.json = R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[{"system":"urn:mrn","value":")" + mrn + "\"}]}";
  w.index = {{"identifier", "urn:mrn", mrn}, {"birthdate", "", birth_date}};
  return w;
}

// Message number `m` of a backlog (control id `prefix` + m): one item for "registry" for each of
// `patients` patients, Patient/p0, Patient/p1 ..., its payload "m-p".
inline InboundRecord ForEveryPatient(const std::string& prefix, int m, int patients) {
  InboundRecord r = Record(prefix + std::to_string(m));
  for (int p = 0; p < patients; ++p) {
    const std::string key = std::to_string(m) + "-" + std::to_string(p);
    r.outbox.push_back({"registry", "Patient/p" + std::to_string(p), "application/fhir+json", key, "k-" + key});
  }
  return r;
}

}  // namespace ketamine::store::testing_records
