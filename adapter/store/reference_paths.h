// Where a reference search parameter finds its Reference in a resource's JSON. One table for
// what follows references: the facade's _include and _revinclude, and the stores' searches by the
// parameters they read from the stored JSON rather than the index (who ordered, who gave).
//   for (const ReferencePath& p : ReferencePaths()) ...           // MedicationAdministration:performer
//   FindReferencePath("Observation", "performer")->array          // "performer"
#pragma once

#include <string_view>
#include <vector>

namespace ketamine::store {

struct ReferencePath {
  const char* type;
  const char* param;
  const char* array;               // the array whose elements hold it ("" for a top-level element)
  std::vector<const char*> steps;  // from the resource (or each element of `array`) to the Reference
};

inline const std::vector<ReferencePath>& ReferencePaths() {
  static const std::vector<ReferencePath> kPaths = {
      {"MedicationRequest", "subject", "", {"subject"}},
      {"MedicationRequest", "patient", "", {"subject"}},
      {"MedicationRequest", "medication", "", {"medicationReference"}},
      {"MedicationRequest", "requester", "", {"requester"}},
      {"MedicationAdministration", "subject", "", {"subject"}},
      {"MedicationAdministration", "patient", "", {"subject"}},
      {"MedicationAdministration", "medication", "", {"medicationReference"}},
      {"MedicationAdministration", "performer", "performer", {"actor"}},
      {"MedicationAdministration", "request", "", {"request"}},
      {"Observation", "subject", "", {"subject"}},
      {"Observation", "patient", "", {"subject"}},
      {"Observation", "performer", "performer", {}}};
  return kPaths;
}

inline const ReferencePath* FindReferencePath(std::string_view type, std::string_view param) {
  for (const ReferencePath& p : ReferencePaths()) {
    if (type == p.type && param == p.param) return &p;
  }
  return nullptr;
}

}  // namespace ketamine::store
