#include "ledger/ledger.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <thread>
#include <map>
#include <set>
#include <unordered_map>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/sha256.h"
#include "profiles/identifiers.h"
#include "store/sqlite.h"

namespace ketamine::ledger {
namespace {

using store::Statement;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS ledger_entries (
  seq INTEGER PRIMARY KEY,
  recorded_at TEXT NOT NULL,
  kind TEXT NOT NULL,
  location TEXT NOT NULL,
  ndc TEXT NOT NULL,
  lot TEXT NOT NULL,
  event_time TEXT NOT NULL,
  quantity_ug INTEGER NOT NULL,
  balance_ug INTEGER NOT NULL,
  source TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_entries_source ON ledger_entries (source) WHERE source <> '';
CREATE INDEX IF NOT EXISTS ledger_entries_lot ON ledger_entries (location, lot, seq);
CREATE INDEX IF NOT EXISTS ledger_entries_time ON ledger_entries (event_time);
-- A lot's NDC wherever it was received (a transfer's other location, a posting without one).
CREATE INDEX IF NOT EXISTS ledger_entries_lot_ndc ON ledger_entries (lot, seq) WHERE ndc <> '';
-- Append-only: corrections are new adjusting entries, never edits (21 CFR 1304.21: a complete
-- and accurate record). Someone with the file can drop these triggers; the hash chain shows it.
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: post an adjusting entry instead'); END;
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only and never purged'); END;
)sql";

constexpr const char* kColumns =
    "seq, recorded_at, kind, location, ndc, lot, event_time, quantity_ug, balance_ug, source, body, prev_hash, hash";

const std::string kGenesis(32, '\0');

// The hash of an entry: SHA-256 over the previous entry's hash and the entry's fields, each
// followed by a unit separator. The sequence number is not hashed: the link to the previous hash
// fixes the order, so a swap shows as a broken link rather than as two changed entries.
struct HashInput {
  std::string_view prev_hash, recorded_at, kind, location, ndc, lot, event_time;
  int64_t quantity_ug = 0, balance_ug = 0;
  std::string_view source, body;
};

// The fields are gathered in one buffer (reused) and hashed in one call: a dozen EVP updates per
// entry cost more than the hash itself at `verify`'s pace.
Sha256::Digest EntryHash(Sha256& hasher, std::string& buffer, const HashInput& in) {
  buffer.clear();
  buffer.append(in.prev_hash);
  for (std::string_view part : {in.recorded_at, in.kind, in.location, in.ndc, in.lot, in.event_time}) {
    buffer.append(part);
    buffer.push_back('\x1f');
  }
  char numbers[48];
  char* end = std::to_chars(numbers, numbers + 20, in.quantity_ug).ptr;
  *end++ = '\x1f';
  end = std::to_chars(end, numbers + sizeof(numbers), in.balance_ug).ptr;
  *end++ = '\x1f';
  buffer.append(numbers, static_cast<size_t>(end - numbers));
  for (std::string_view part : {in.source, in.body}) {
    buffer.append(part);
    buffer.push_back('\x1f');
  }
  hasher.Update(buffer);
  return hasher.Final();
}

std::string_view DigestView(const Sha256::Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

std::string Hex(std::string_view raw) {
  return HexOf(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

// {"amount_ug":..,"by":..,"flags":[..],"details":{..}}: the part of an entry that is not a column.
std::string Body(const Draft& d, const std::vector<std::string>& flags, int64_t book_ug) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("amount_ug");
  w.Int64(d.kind == Kind::kAdjustment ? d.change_ug : d.amount_ug);
  if (d.kind == Kind::kCount) {
    w.Key("book_ug");  // what the ledger said when the count was taken
    w.Int64(book_ug);
  }
  w.Key("by");
  w.String(d.by.data(), static_cast<rapidjson::SizeType>(d.by.size()));
  w.Key("flags");
  w.StartArray();
  for (const std::string& f : flags) w.String(f.data(), static_cast<rapidjson::SizeType>(f.size()));
  w.EndArray();
  w.Key("details");
  const std::string details = d.details.empty() ? "{}" : d.details;
  w.RawValue(details.data(), details.size(), rapidjson::kObjectType);
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

// Ends a transaction that failed; what failed is the error the caller reports.
void Rollback(sqlite3* db) { static_cast<void>(store::Exec(db, "ROLLBACK")); }

// A connection to the ledger file. Without SQLite's own mutex (each user holds the ledger's, or is
// the only one to use it), reading through a memory map: `verify` walks the whole file, and a
// read() per page cost it more than the hashing (the map is address space, not memory).
Result<sqlite3*> OpenConnection(const std::filesystem::path& file, int busy_timeout_ms) {
  store::SqliteOptions sqlite;
  sqlite.busy_timeout_ms = busy_timeout_ms;
  KETAMINE_ASSIGN_OR_RETURN(sqlite3 * db, store::OpenSqlite(file, sqlite));
  if (Status s = store::Exec(db, "PRAGMA mmap_size = 17179869184"); !s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return db;
}

Entry ReadEntry(Statement& s) {
  Entry e;
  e.seq = s.ColumnInt(0);
  e.recorded_at = s.Column(1);
  e.kind = KindFromName(s.ColumnView(2)).value_or(Kind::kAdjustment);
  e.location = s.Column(3);
  e.ndc = s.Column(4);
  e.lot = s.Column(5);
  e.event_time = s.Column(6);
  e.quantity_ug = s.ColumnInt(7);
  e.balance_ug = s.ColumnInt(8);
  e.source = s.Column(9);
  e.body = s.Column(10);
  e.prev_hash = Hex(s.ColumnView(11));
  e.hash = Hex(s.ColumnView(12));
  return e;
}

// Draft checks that do not need the book: what makes an entry of its kind.
Status CheckDraft(const Draft& d, size_t index) {
  const std::string at = "entry " + std::to_string(index + 1) + " (" + std::string(KindName(d.kind)) + "): ";
  if (d.location.empty()) return InvalidInput(at + "location is required");
  if (d.kind != Kind::kOrder && d.lot.empty()) return InvalidInput(at + "lot is required");
  if (d.event_time.empty()) return InvalidInput(at + "time is required");
  if (d.amount_ug < 0) return InvalidInput(at + "amount must not be negative");
  if (d.kind == Kind::kAdjustment && d.change_ug == 0) return InvalidInput(at + "an adjustment changes the balance");
  if (d.kind != Kind::kCount && d.kind != Kind::kAdjustment && d.kind != Kind::kOrder && d.amount_ug == 0 && !d.from_flow) {
    return InvalidInput(at + "amount must be more than 0");
  }
  if (!d.details.empty()) {
    rapidjson::Document details;
    details.Parse(d.details.data(), d.details.size());
    if (details.HasParseError() || !details.IsObject()) return InvalidInput(at + "details must be a JSON object");
  }
  return Status::Ok();
}

}  // namespace

Result<LedgerOptions> LedgerOptions::FromJson(const rapidjson::Value& value, const std::string& path) {
  auto bad = [&](const std::string& key, const std::string& why) {
    return InvalidInput(path + "." + key + " " + why, Location(path + "." + key));
  };
  if (!value.IsObject()) return InvalidInput(path + " must be an object", Location(path));
  LedgerOptions o;
  for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    const rapidjson::Value& v = it->value;
    if (key == "registration" || key == "registrant_name" || key == "registrant_address" || key == "location") {
      if (!v.IsString()) return bad(key, "must be a string");
      std::string text(v.GetString(), v.GetStringLength());
      if (key == "registration") {
        if (!profiles::IsValidDeaNumber(text)) {
          return bad(key, "'" + text + "' is not a valid DEA number (two letters, seven digits, check digit)");
        }
        o.registration = text;
      } else if (key == "registrant_name") {
        o.registrant_name = text;
      } else if (key == "registrant_address") {
        o.registrant_address = text;
      } else {
        if (text.empty()) return bad(key, "must not be empty");
        o.location = text;
      }
    } else if (key == "waste_witness_required") {
      if (!v.IsBool()) return bad(key, "must be true or false");
      o.waste_witness_required = v.GetBool();
    } else if (key == "destruction_witnesses" || key == "busy_timeout_ms") {
      const int64_t max = key == "destruction_witnesses" ? 5 : 600000;
      if (!v.IsInt64() || v.GetInt64() < 0 || v.GetInt64() > max) {
        return bad(key, "must be a whole number from 0 to " + std::to_string(max));
      }
      (key == "destruction_witnesses" ? o.destruction_witnesses : o.busy_timeout_ms) = static_cast<int>(v.GetInt64());
    } else {
      return bad(key, "unknown key");
    }
  }
  return o;
}

Ledger::Ledger(sqlite3* db, std::filesystem::path path, LedgerOptions options, const Clock& clock)
    : db_(db), path_(std::move(path)), options_(std::move(options)), clock_(clock) {}

Ledger::~Ledger() { sqlite3_close(db_); }

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& data_dir, LedgerOptions options,
                                             const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  KETAMINE_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(data_dir / kFileName, options.busy_timeout_ms));
  // Another process may be creating the schema at the same moment: one at a time.
  Status schema = store::Exec(db, "BEGIN IMMEDIATE");
  if (schema.ok()) schema = store::Exec(db, kSchema);
  if (schema.ok()) schema = store::Exec(db, "COMMIT");
  if (!schema.ok()) {
    sqlite3_close(db);
    return Unavailable("ledger " + (data_dir / kFileName).string() + ": " + schema.message());
  }
  return std::unique_ptr<Ledger>(new Ledger(db, data_dir / kFileName, std::move(options), clock));
}

Result<AppendResult> Ledger::Append(const std::vector<Draft>& drafts) {
  for (size_t i = 0; i < drafts.size(); ++i) KETAMINE_RETURN_IF_ERROR(CheckDraft(drafts[i], i));
  std::lock_guard lock(mutex_);
  // IMMEDIATE: the write lock before the head is read, so a second writer (another process)
  // waits and then chains after us.
  KETAMINE_RETURN_IF_ERROR(store::Exec(db_, "BEGIN IMMEDIATE"));
  AppendResult result;
  Status failed = Status::Ok();
  struct LotState {
    bool known = false;  // the lot has entries at this location
    int64_t balance_ug = 0;
    std::string ndc;
  };
  std::map<std::pair<std::string, std::string>, LotState> lots;
  std::set<std::string> sources;
  {
    std::string prev = kGenesis;
    int64_t seq = 0;
    Statement head(db_, "SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1");
    // "source <> ''" lets SQLite use the partial unique index on source.
    Statement by_source(db_, "SELECT 1 FROM ledger_entries WHERE source = ?1 AND source <> ''");
    Statement lot_state(db_,
                        "SELECT (SELECT balance_ug FROM ledger_entries WHERE location = ?1 AND lot = ?2 ORDER BY seq DESC LIMIT 1), "
                        "(SELECT ndc FROM ledger_entries WHERE lot = ?2 AND ndc <> '' ORDER BY seq LIMIT 1)");
    Statement insert(db_, "INSERT INTO ledger_entries (seq, recorded_at, kind, location, ndc, lot, event_time, quantity_ug, "
                          "balance_ug, source, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!head.ok() || !by_source.ok() || !lot_state.ok() || !insert.ok()) failed = store::SqlError(db_, "ledger");
    if (failed.ok() && sqlite3_step(head.get()) == SQLITE_ROW) {
      seq = head.ColumnInt(0);
      prev = head.Column(1);
    }
    const std::string recorded_at = FormatIsoTimestamp(clock_.Now());
    Sha256 hasher;
    std::string hash_buffer;
    for (size_t i = 0; failed.ok() && i < drafts.size(); ++i) {
      const Draft& d = drafts[i];
      if (!d.source.empty()) {
        by_source.Text(1, d.source);
        bool seen = sqlite3_step(by_source.get()) == SQLITE_ROW || sources.count(d.source) > 0;
        sqlite3_reset(by_source.get());
        if (seen) {
          ++result.duplicates;
          continue;
        }
        sources.insert(d.source);
      }
      std::vector<std::string> flags = d.flags;
      LotState* lot = nullptr;
      if (!d.lot.empty()) {
        auto [it, inserted] = lots.try_emplace({d.location, d.lot});
        lot = &it->second;
        if (inserted) {
          lot_state.Text(1, d.location);
          lot_state.Text(2, d.lot);
          if (sqlite3_step(lot_state.get()) == SQLITE_ROW) {
            lot->known = sqlite3_column_type(lot_state.get(), 0) != SQLITE_NULL;
            lot->balance_ug = lot_state.ColumnInt(0);
            lot->ndc = lot_state.Column(1);  // the lot's NDC wherever it was received
          }
          sqlite3_reset(lot_state.get());
        }
      }
      const std::string where = "lot " + d.lot + " at " + d.location;
      const int64_t quantity = d.QuantityUg();
      int64_t balance = lot != nullptr ? lot->balance_ug + quantity : 0;
      if (lot != nullptr && !lot->known && KindSign(d.kind) < 0) {
        if (!d.from_flow) {
          failed = InvalidInput("refused: " + where + " was never received (post its receipt first)");
          break;
        }
        flags.push_back("unknown-lot");
      }
      if (lot != nullptr && quantity < 0 && balance < 0) {
        if (!d.from_flow) {
          failed = InvalidInput("refused: " + std::string(KindName(d.kind)) + " of " + FormatMg(-quantity) + " mg would make " +
                                where + " negative (balance " + FormatMg(lot->balance_ug) + " mg)");
          break;
        }
        flags.push_back("overdraw");
      }
      std::string ndc = d.ndc;
      if (lot != nullptr) {
        if (ndc.empty()) ndc = lot->ndc;
        if (!d.ndc.empty() && !lot->ndc.empty() && d.ndc != lot->ndc) {
          if (!d.from_flow) {
            failed = InvalidInput("refused: " + where + " is NDC " + lot->ndc + ", not " + d.ndc);
            break;
          }
          flags.push_back("ndc-mismatch");
        }
        if (lot->ndc.empty()) lot->ndc = ndc;
        lot->known = true;
        lot->balance_ug = balance;
      }
      Entry e;
      e.seq = ++seq;
      e.recorded_at = recorded_at;
      e.kind = d.kind;
      e.location = d.location;
      e.ndc = ndc;
      e.lot = d.lot;
      e.event_time = d.event_time;
      e.quantity_ug = quantity;
      e.balance_ug = balance;
      e.source = d.source;
      e.body = Body(d, flags, lot != nullptr ? lot->balance_ug : 0);
      const std::string_view kind_name = KindName(d.kind);
      const Sha256::Digest hash = EntryHash(hasher, hash_buffer, {prev, e.recorded_at, kind_name, e.location, e.ndc, e.lot, e.event_time,
                                                     e.quantity_ug, e.balance_ug, e.source, e.body});
      insert.Int(1, e.seq);
      insert.Text(2, e.recorded_at);
      insert.Text(3, kind_name);
      insert.Text(4, e.location);
      insert.Text(5, e.ndc);
      insert.Text(6, e.lot);
      insert.Text(7, e.event_time);
      insert.Int(8, e.quantity_ug);
      insert.Int(9, e.balance_ug);
      insert.Text(10, e.source);
      insert.Text(11, e.body);
      insert.Blob(12, prev);
      insert.Blob(13, DigestView(hash));
      if (sqlite3_step(insert.get()) != SQLITE_DONE) {
        failed = store::SqlError(db_, "ledger append");
        break;
      }
      sqlite3_reset(insert.get());
      e.prev_hash = Hex(prev);
      prev.assign(DigestView(hash));
      e.hash = Hex(prev);
      result.entries.push_back(std::move(e));
    }
  }
  if (!failed.ok()) {
    Rollback(db_);
    return failed;
  }
  if (Status s = store::Exec(db_, "COMMIT"); !s.ok()) {
    Rollback(db_);
    return s;
  }
  return result;
}

Status Ledger::ForEach(const EntryFilter& filter, const std::function<bool(const Entry&)>& fn) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM ledger_entries WHERE seq > ?1";
  if (filter.kind) sql += " AND kind = ?2";
  if (!filter.location.empty()) sql += " AND location = ?3";
  if (!filter.lot.empty()) sql += " AND lot = ?4";
  if (!filter.from_time.empty()) sql += " AND event_time >= ?5";
  if (!filter.to_time.empty()) sql += " AND event_time < ?6";
  sql += " ORDER BY seq";
  std::lock_guard lock(mutex_);
  Statement s(db_, sql.c_str());
  if (!s.ok()) return store::SqlError(db_, "ledger read");
  s.Int(1, filter.after_seq);
  if (filter.kind) s.Text(2, KindName(*filter.kind));
  if (!filter.location.empty()) s.Text(3, filter.location);
  if (!filter.lot.empty()) s.Text(4, filter.lot);
  if (!filter.from_time.empty()) s.Text(5, filter.from_time);
  if (!filter.to_time.empty()) s.Text(6, filter.to_time);
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    if (!fn(ReadEntry(s))) return Status::Ok();
  }
  return rc == SQLITE_DONE ? Status::Ok() : store::SqlError(db_, "ledger read");
}

Result<std::vector<Balance>> Ledger::Balances() {
  std::lock_guard lock(mutex_);
  // SQLite returns the other columns of the row that holds max(seq).
  Statement s(db_,
              "SELECT location, lot, ndc, balance_ug, max(seq) FROM ledger_entries WHERE lot <> '' "
              "GROUP BY location, lot ORDER BY location, lot");
  if (!s.ok()) return store::SqlError(db_, "ledger balances");
  std::vector<Balance> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back({s.Column(0), s.Column(1), s.Column(2), s.ColumnInt(3), s.ColumnInt(4)});
  }
  if (rc != SQLITE_DONE) return store::SqlError(db_, "ledger balances");
  return out;
}

Result<Head> Ledger::GetHead() {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1");
  if (!s.ok()) return store::SqlError(db_, "ledger head");
  Head head;
  if (sqlite3_step(s.get()) == SQLITE_ROW) {
    head.seq = s.ColumnInt(0);
    head.hash = Hex(s.ColumnView(1));
  }
  return head;
}

namespace {

// What one worker of Verify found in its range of the chain. The first entry's link and each lot's
// opening balance are checked when the ranges are joined, in order.
struct RangeCheck {
  int64_t entries = 0;
  int64_t first_seq = 0, last_seq = 0;
  std::string first_prev, last_hash;  // raw
  int64_t bad_seq = 0;                // 0: no problem inside the range
  std::string problem;
  std::string read_error;             // the range could not be read (not a verdict on the chain)
  bool anchor_found = false;
  struct Lot {
    int64_t first_seq = 0;
    int64_t opening_ug = 0;  // the balance before the range's first entry of the lot
    int64_t closing_ug = 0;
  };
  std::unordered_map<std::string, Lot> lots;
};

// Checks entries lo..hi on its own connection: each entry's hash over its content, each link to
// the entry before it in the range, each balance against the one before it.
void CheckRange(sqlite3* db, int64_t lo, int64_t hi, int64_t anchor_seq, const std::string& anchor_hash, RangeCheck& r) {
  Statement s(db, (std::string("SELECT ") + kColumns + " FROM ledger_entries WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq").c_str());
  if (!s.ok()) {
    r.read_error = sqlite3_errmsg(db);
    return;
  }
  s.Int(1, lo);
  s.Int(2, hi);
  Sha256 hasher;
  std::string key, hash_buffer, prev;
  int64_t last_seq = 0;
  auto fail = [&](int64_t seq, std::string problem) {
    r.bad_seq = seq;
    r.problem = std::move(problem);
  };
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const int64_t seq = s.ColumnInt(0);
    const std::string_view stored_prev = s.ColumnView(11);
    const std::string_view stored_hash = s.ColumnView(12);
    const std::string_view location = s.ColumnView(3), lot = s.ColumnView(5), kind = s.ColumnView(2);
    const int64_t quantity = s.ColumnInt(7), balance = s.ColumnInt(8);
    const Sha256::Digest h = EntryHash(hasher, hash_buffer, {stored_prev, s.ColumnView(1), kind, location, s.ColumnView(4), lot,
                                                             s.ColumnView(6), quantity, balance, s.ColumnView(9), s.ColumnView(10)});
    auto who = [seq] { return "entry " + std::to_string(seq); };
    if (DigestView(h) != stored_hash) return fail(seq, who() + " was changed: its content does not match its hash");
    if (r.entries == 0) {
      r.first_seq = seq;
      r.first_prev.assign(stored_prev);
    } else if (stored_prev != prev) {
      if (seq > last_seq + 1) {
        return fail(last_seq + 1, "entry " + std::to_string(last_seq + 1) + " was removed: entry " + std::to_string(seq) +
                                      " follows entry " + std::to_string(last_seq) + " in the table but not in the chain");
      }
      return fail(seq, who() + " does not follow entry " + std::to_string(last_seq) +
                           ": entries were reordered, or the one before it was replaced");
    } else if (seq != last_seq + 1) {
      return fail(last_seq + 1, "entries " + std::to_string(last_seq + 1) + " to " + std::to_string(seq - 1) + " are missing");
    }
    if (!lot.empty()) {
      key.assign(location);
      key += '\x1f';
      key += lot;
      auto [it, fresh] = r.lots.try_emplace(key);
      if (fresh) {
        it->second.first_seq = seq;
        it->second.opening_ug = balance - quantity;
      } else if (it->second.closing_ug + quantity != balance) {
        return fail(seq, who() + ": its balance does not follow from the entries before it (the chain was rewritten)");
      }
      it->second.closing_ug = balance;
    }
    if (seq == anchor_seq) {
      if (Hex(stored_hash) != anchor_hash) {
        return fail(seq, who() + " is not the anchored entry: its hash differs from the anchor (the ledger was rewritten)");
      }
      r.anchor_found = true;
    }
    prev.assign(stored_hash);
    last_seq = seq;
    r.last_seq = seq;
    r.last_hash = prev;
    ++r.entries;
  }
  if (rc != SQLITE_DONE) r.read_error = sqlite3_errmsg(db);
}

}  // namespace

Result<VerifyResult> Ledger::Verify(std::string_view anchor) {
  int64_t anchor_seq = 0;
  std::string anchor_hash;
  if (!anchor.empty()) {
    size_t colon = anchor.find(':');
    auto [ptr, ec] = std::from_chars(anchor.data(), anchor.data() + (colon == std::string_view::npos ? 0 : colon), anchor_seq);
    if (colon == std::string_view::npos || ec != std::errc() || anchor_seq <= 0 || anchor.size() - colon - 1 != 64) {
      return InvalidInput("anchor '" + std::string(anchor) + "' is not SEQ:HASH (a head printed by 'ledger head')");
    }
    anchor_hash = std::string(anchor.substr(colon + 1));
  }
  std::lock_guard lock(mutex_);
  int64_t lo = 0, hi = 0;
  {
    Statement bounds(db_, "SELECT min(seq), max(seq) FROM ledger_entries");
    if (!bounds.ok() || sqlite3_step(bounds.get()) != SQLITE_ROW) return store::SqlError(db_, "ledger verify");
    lo = bounds.ColumnInt(0);
    hi = bounds.ColumnInt(1);
  }
  // Large ledgers are checked in ranges by one thread each (its own connection, in a read
  // transaction); rows up to `hi` never change, so the ranges see one ledger.
  const int64_t count = hi - lo + 1;
  int workers = 1;
  if (count >= 200000) workers = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  std::vector<RangeCheck> ranges(static_cast<size_t>(workers));
  // This connection checks the first range; each other range gets one of its own.
  std::vector<sqlite3*> connections = {db_};
  for (int i = 1; i < workers; ++i) {
    auto db = OpenConnection(path_, options_.busy_timeout_ms);
    if (!db.ok()) {
      for (size_t j = 1; j < connections.size(); ++j) sqlite3_close(connections[j]);
      return db.status();
    }
    connections.push_back(*db);
  }
  auto work = [&](int i) {
    const int64_t from = lo + count * i / workers, to = lo + count * (i + 1) / workers - 1;
    sqlite3* db = connections[static_cast<size_t>(i)];
    RangeCheck& range = ranges[static_cast<size_t>(i)];
    if (!store::Exec(db, "BEGIN").ok()) {
      range.read_error = sqlite3_errmsg(db);
      return;
    }
    if (to >= from) CheckRange(db, from, to, anchor_seq, anchor_hash, range);
    Rollback(db);
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < workers; ++i) threads.emplace_back(work, i);
  work(0);
  for (auto& t : threads) t.join();
  for (size_t i = 1; i < connections.size(); ++i) sqlite3_close(connections[i]);
  for (const RangeCheck& range : ranges) {
    if (!range.read_error.empty()) return Unavailable("ledger verify: " + range.read_error);
  }

  // Join the ranges in order: links, numbering and balances across their borders. The first
  // problem by sequence number is the answer.
  VerifyResult r;
  int64_t bad_seq = 0;
  std::string problem;
  auto consider = [&](int64_t seq, std::string text) {
    if (bad_seq == 0 || seq < bad_seq) {
      bad_seq = seq;
      problem = std::move(text);
    }
  };
  std::string prev = kGenesis;
  int64_t last_seq = 0;
  std::unordered_map<std::string, int64_t> balances;
  bool anchor_found = anchor.empty();
  for (const RangeCheck& range : ranges) {
    if (range.entries > 0) {
      if (range.first_prev != prev) {
        if (range.first_seq > last_seq + 1) {
          consider(last_seq + 1, "entry " + std::to_string(last_seq + 1) + " was removed: entry " +
                                     std::to_string(range.first_seq) + " follows entry " + std::to_string(last_seq) +
                                     " in the table but not in the chain");
        } else {
          consider(range.first_seq, "entry " + std::to_string(range.first_seq) + " does not follow entry " +
                                        std::to_string(last_seq) + ": entries were reordered, or the one before it was replaced");
        }
      } else if (range.first_seq != last_seq + 1) {
        consider(last_seq + 1, "entries " + std::to_string(last_seq + 1) + " to " + std::to_string(range.first_seq - 1) +
                                   " are missing");
      }
      for (const auto& [key, lot] : range.lots) {
        int64_t& book = balances[key];
        if (lot.opening_ug != book) {
          consider(lot.first_seq, "entry " + std::to_string(lot.first_seq) +
                                      ": its balance does not follow from the entries before it (the chain was rewritten)");
        }
        book = lot.closing_ug;
      }
      prev = range.last_hash;
      last_seq = range.last_seq;
    }
    if (range.bad_seq != 0) consider(range.bad_seq, range.problem);
    anchor_found = anchor_found || range.anchor_found;
  }
  if (bad_seq == 0 && !anchor_found) {
    consider(anchor_seq, "entry " + std::to_string(anchor_seq) + " of the anchor is missing (the ledger was truncated)");
  }
  if (bad_seq != 0) {
    r.ok = false;
    r.first_bad_seq = bad_seq;
    r.problem = problem;
    r.entries = std::max<int64_t>(0, bad_seq - lo);
  } else {
    r.entries = 0;
    for (const RangeCheck& range : ranges) r.entries += range.entries;
  }
  r.head.seq = last_seq;
  r.head.hash = Hex(prev);
  return r;
}

}  // namespace ketamine::ledger
