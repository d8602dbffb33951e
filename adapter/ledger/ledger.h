// The Schedule III ledger: an append-only, hash-chained list of entries in its own SQLite file
// (ledger.db in the data folder), with a running balance per lot and location. Every entry carries
// SHA-256(previous hash, its fields); the database refuses UPDATE and DELETE of entries (triggers),
// and Verify walks the chain and names the first entry that was changed, removed or reordered.
// Several processes may append at once (the gateway and `ketamine-gateway ledger` on the same
// folder): each append is one IMMEDIATE transaction that reads the head of the chain under the
// write lock, so the chain stays linear.
//   auto ledger = ledger::Ledger::Open("data", options);
//   auto appended = (*ledger)->Append({draft});   // refused: kInvalidInput with the reason
//   auto verdict = (*ledger)->Verify();            // verdict->ok, verdict->problem
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "ledger/entry.h"

struct sqlite3;

namespace ketamine::ledger {

// The "ledger" object of the gateway config; rules that vary by state or by policy are options.
struct LedgerOptions {
  std::string registration;             // the clinic's DEA registration number (check digit validated)
  std::string registrant_name;          // as on the registration, for the reports
  std::string registrant_address;
  std::string location = "main";        // where postings from the message flow are booked
  // Witnessed waste is state law or policy, not a federal rule (shared domain notes, section 3):
  // when true a manual waste without a witness is refused and one from the message flow is flagged.
  bool waste_witness_required = true;
  int destruction_witnesses = 2;        // DEA Form 41 asks for two authorized employees
  int busy_timeout_ms = 5000;           // how long an append waits for another writer
  // An unknown key or a bad value is refused with its path ("ledger.registration: ...").
  static Result<LedgerOptions> FromJson(const rapidjson::Value& value, const std::string& path);
};

struct AppendResult {
  std::vector<Entry> entries;   // what was appended, in order
  size_t duplicates = 0;        // drafts whose source was already in the ledger (not appended again)
};

struct Balance {
  std::string location;
  std::string lot;
  std::string ndc;
  int64_t balance_ug = 0;
  int64_t last_seq = 0;
};

struct Head {
  int64_t seq = 0;   // 0: empty ledger
  std::string hash;  // hex
};

struct VerifyResult {
  bool ok = true;
  int64_t entries = 0;        // entries checked
  int64_t first_bad_seq = 0;  // the entry named in `problem`
  std::string problem;        // "entry 17 was changed: its content does not match its hash"
  Head head;                  // the last entry checked
};

struct EntryFilter {
  int64_t after_seq = 0;
  std::optional<Kind> kind;
  std::string location;
  std::string lot;
  std::string from_time;  // event_time >= (UTC text)
  std::string to_time;    // event_time < (UTC text)
};

class Ledger {
 public:
  static constexpr const char* kFileName = "ledger.db";
  static Result<std::unique_ptr<Ledger>> Open(const std::filesystem::path& data_dir, LedgerOptions options = {},
                                              const Clock& clock = Clock::System());
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends the drafts in one durable transaction, all or nothing. A manual draft that would make a
  // balance negative, or takes from a lot never received at its location, refuses the whole batch
  // (kInvalidInput with the reason); a draft from the message flow is appended and flagged instead
  // ("overdraw", "unknown-lot"). A draft whose source is already in the ledger is skipped.
  Result<AppendResult> Append(const std::vector<Draft>& drafts);

  // Entries in order; `fn` returns false to stop.
  Status ForEach(const EntryFilter& filter, const std::function<bool(const Entry&)>& fn);
  // The current balance of every lot at every location (lots of orders aside).
  Result<std::vector<Balance>> Balances();
  Result<Head> GetHead();
  // Walks the whole chain (a large one in ranges, one thread each, joined in order). `anchor` ("SEQ:HEX", a head printed earlier and kept elsewhere) must be
  // found on it: without an anchor, a ledger rewritten from its first entry on cannot be told from
  // the real one.
  Result<VerifyResult> Verify(std::string_view anchor = {});

  const LedgerOptions& options() const { return options_; }

 private:
  Ledger(sqlite3* db, std::filesystem::path path, LedgerOptions options, const Clock& clock);
  sqlite3* db_;
  std::filesystem::path path_;
  LedgerOptions options_;
  const Clock& clock_;
  std::mutex mutex_;
};

}  // namespace ketamine::ledger
