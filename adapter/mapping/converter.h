// HL7 v2 -> FHIR R4 conversion driven by mapping files (mappings/v2-to-fhir/*.json) compiled into a
// plan at load. The result is a transaction Bundle whose entries have deterministic fullUrls (from
// sending facility, MSH-10, resource name and segment position, so two messages never collide and
// the same message always gives the same Bundle) and conditional updates keyed on business
// identifiers. Segments no mapping consumed are reported as warnings, never dropped silently.
//   auto converter = Converter::Load({"mappings", "/etc/ketamine/site-mappings"});
//   auto result = (*converter)->ToFhir(message);   // result->bundle, result->issues
#pragma once

#include <rapidjson/document.h>

#include <array>
#include <filesystem>
#include <functional>
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
  const Vocabulary::CodeMap* map_table = nullptr;  // resolved at load
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
  std::array<unsigned char, 16> salt{};  // from the name: mixes into each instance's id
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

// How a FHIR resource type becomes an HL7 v2 message (mappings/fhir-to-v2/*.json): the v2 -> FHIR
// plan it inverts, the segment order, groups, defaults and per-version differences.
struct OutboundSpec {
  std::string id;
  std::string resource_type;             // the primary resource: one group (or repeat segment) each
  std::string plan_id;                   // the v2 -> FHIR plan whose field rules are inverted
  std::string primary;                   // that plan's resource name for the primary resource
  std::string message;                   // MSH-9 "RDE^O11^RDE_O11"
  bool is_default = false;               // the resource type's message when none is asked for
  std::vector<std::string> segments;     // output order
  std::vector<std::string> message_segments;  // once per message (PID, PV1); the rest are per group
  std::string group_start;               // "ORC"
  bool group_per_resource = true;        // false: one group, `repeat` segment once per resource (ORU OBX)
  std::string repeat;
  std::vector<std::string> always;       // segments written even when no field fills them
  std::vector<hl7v2::Path> set_ids;      // "OBX-1": numbered 1, 2, ... within the message
  std::vector<std::pair<hl7v2::Path, std::string>> defaults;  // fill an empty field of a present segment
  std::vector<std::pair<hl7v2::Path, hl7v2::Path>> copies;   // "OBR-4": {"copy": "OBX-3"}
  struct Version {
    std::string message;
    std::vector<std::string> omit;
  };
  std::map<std::string, Version> versions;  // "2.3": RDE^O01 without TQ1 ...
  std::string source_file;
};

struct V2Options {
  std::string version = "2.5.1";       // MSH-12; a spec's "versions" entry adapts message and segments
  std::string message_type;            // "OMP^O09": use this spec, not the resource type's first
  std::string sending_application = "KETAMINE-GW";
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
  std::string timestamp;               // MSH-7 as v2 DTM; default Bundle.timestamp, else now
  std::string control_id;              // MSH-10; default a name-based hash of the input
};

struct V2Conversion {
  std::string message;  // "\r" after each segment
  Issues issues;        // locations are FHIRPaths into the input
};

struct CsvPlan;  // mapping/csv.h

// One CSV row converted: its transaction Bundle (null when the row could not be read) and issues
// located as "row 12 column pain_score".
struct CsvRowResult {
  size_t row = 0;          // 1-based data row (the header is row 0)
  size_t line = 0;         // the line of the file the row starts on (1-based; quoted fields may span lines)
  size_t bytes_done = 0;   // input consumed so far, for progress
  std::unique_ptr<rapidjson::Document> bundle;
  Issues issues;
};

struct ConvertOptions {
  std::string default_timezone = "+00:00";
  std::string message_type;  // "RDE^O11": convert with this type's plan whatever MSH-9 says
  std::string charset;       // CSV: the input's character set (iconv name), over the layout's
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

  // A resource or Bundle -> one HL7 v2 message (every resource of the spec's type in a Bundle gets
  // its group). kUnsupported when no spec handles the type; data problems are issues.
  Result<V2Conversion> ToV2(const rapidjson::Value& input, const V2Options& options = {}) const;

  // CSV with a header row -> one Bundle per row, handed to `sink` in order. A header that lacks a
  // column the layout needs is a Status error naming it; row problems are the row's issues.
  Status CsvToFhir(std::string_view text, const CsvPlan& plan, const ConvertOptions& options,
                   const std::function<void(CsvRowResult&)>& sink) const;
  const CsvPlan* CsvPlanById(std::string_view id) const;
  const std::vector<std::shared_ptr<CsvPlan>>& csv_plans() const { return csv_plans_; }

  const MessagePlan* PlanFor(std::string_view message_type) const;
  const MessagePlan* PlanById(std::string_view id) const;
  const OutboundSpec* OutboundFor(std::string_view resource_type, std::string_view message_type) const;
  const Vocabulary& vocabulary() const { return *vocabulary_; }

 private:
  std::vector<std::unique_ptr<MessagePlan>> plans_;
  std::vector<std::unique_ptr<OutboundSpec>> outbound_;
  std::vector<std::shared_ptr<CsvPlan>> csv_plans_;
  std::shared_ptr<const Vocabulary> vocabulary_;
  friend class PlanLoader;
  friend class OutboundLoader;
  friend class CsvLoader;
};

// Reads mappings/fhir-to-v2/*.json of each folder (a later folder's file with the same id replaces).
class OutboundLoader {
 public:
  static Status Load(Converter& converter, const std::vector<std::filesystem::path>& dirs);
};

// Reads mappings/csv/*.json of each folder (a later folder's file with the same id replaces).
class CsvLoader {
 public:
  static Status Load(Converter& converter, const std::vector<std::filesystem::path>& dirs);
};

// 16 bytes as UUID text ("8-4-4-4-12" hex) with the given version bits and the RFC 4122 variant.
std::string FormatUuid(const unsigned char* bytes16, int version);

// "urn:uuid:..." from a SHA-256 of the parts (name-based, RFC 4122 layout, version 5 bits).
std::string DeterministicUuid(std::initializer_list<std::string_view> parts);

}  // namespace ketamine::mapping
