// HL7 v2 -> FHIR R4 conversion driven by mapping files (mappings/v2-to-fhir/*.json) compiled into a
// plan at load. The result is a transaction Bundle whose entries have deterministic fullUrls (from
// sending facility, MSH-10, resource name and segment position, so two messages never collide and
// the same message always gives the same Bundle) and conditional updates keyed on business
// identifiers. Segments no mapping consumed are reported as warnings, never dropped silently.
//   auto converter = Converter::Load({"mappings", "/etc/ketamine/site-mappings"});
//   auto result = (*converter)->ToFhir(message);   // result->bundle, result->issues
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/issue.h"
#include "hl7v2/parser.h"
#include "hl7v2/path.h"
#include "mapping/fhir_writer.h"
#include "mapping/vocabulary.h"

namespace ketamine::mapping {

enum class FieldType { kString, kCode, kCwe, kCoding, kCx, kEi, kXpn, kXad, kXtn, kDtm, kDate, kDecimal, kInteger,
                       kQuantity, kRate, kXcnName, kXcnIdentifier, kValue, kReference };

struct Condition {
  std::vector<hl7v2::Path> present;  // all valued
  std::vector<hl7v2::Path> absent;   // none valued
  std::vector<hl7v2::Path> any_present;  // at least one valued
  hl7v2::Path equals_path;
  std::vector<std::string> equals_any;
  bool has_equals = false;
  bool negate_equals = false;  // "notEquals"
};

struct FieldRule {
  std::string to;                      // FHIR path as written
  std::vector<PathStep> steps;
  std::vector<hl7v2::Path> from;       // alternatives, first valued wins
  FieldType type = FieldType::kString;
  std::string map;                     // ConceptMap id
  std::vector<hl7v2::Path> units;      // for quantities
  std::vector<hl7v2::Path> per;        // for rates: the per-time field (RXE-22 "H1")
  std::string identifier_type;         // EI: v2-0203 code
  std::unique_ptr<rapidjson::Document> value;  // fixed value / default
  std::string reference;               // resource name
  std::string extension_url;           // with a reference: write {url, valueReference} at `to`
  bool repeat = false;
  bool required = false;
  Severity unmapped_severity = Severity::kError;
  Condition when;
  bool has_when = false;
};

struct ResourceRule {
  std::string name;
  std::string resource_type;
  std::vector<std::string> anchors;    // segment names; the first one present anchors the resource
  bool once = false;
  std::vector<hl7v2::Path> identity;   // business identifier for the conditional update
  FieldType identity_type = FieldType::kCx;
  std::vector<FieldRule> fields;
  Condition when;
  bool has_when = false;
};

struct MessagePlan {
  std::string id;
  std::vector<std::string> messages;   // "RDE^O11"
  std::vector<std::string> group_starts;  // segments that start an order/observation group
  std::vector<ResourceRule> resources;
  std::vector<std::string> consumed_segments;
  std::string source_file;
};

struct ConvertOptions {
  std::string default_timezone = "+00:00";
  std::string message_type;  // "RDE^O11": convert with this type's plan whatever MSH-9 says
};

struct Conversion {
  std::unique_ptr<rapidjson::Document> bundle;
  Issues issues;
};

class Converter {
 public:
  // Loads <dir>/v2-to-fhir/*.json, conceptmaps/ and coding-systems.json from each folder in turn;
  // a later folder's file with "extends" layers its resources and fields over the named plan.
  static Result<std::shared_ptr<const Converter>> Load(const std::vector<std::filesystem::path>& dirs);

  // kUnsupported when no plan handles the message type; data problems are issues.
  Result<Conversion> ToFhir(const hl7v2::Message& message, const ConvertOptions& options = {}) const;

  const MessagePlan* PlanFor(std::string_view message_type) const;
  const Vocabulary& vocabulary() const { return *vocabulary_; }

 private:
  std::vector<std::unique_ptr<MessagePlan>> plans_;
  std::shared_ptr<const Vocabulary> vocabulary_;
  friend class PlanLoader;
};

// "urn:uuid:..." from a SHA-256 of the parts (name-based, RFC 4122 layout, version 5 bits).
std::string DeterministicUuid(std::initializer_list<std::string_view> parts);

}  // namespace ketamine::mapping
