#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "records.h"

namespace ketamine::store {
namespace {

using testing_records::ForEveryPatient;
using testing_records::Patient;
using testing_records::Record;

// Bytes LZ4 cannot shrink (a linear congruential sequence): stored as they came.
std::string Noise(size_t size, uint32_t seed) {
  std::string out;
  out.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    seed = seed * 1103515245 + 12345;
    out.push_back(static_cast<char>(seed >> 24));
  }
  return out;
}

constexpr int64_t kNow = 4102444800000;  // claims look from 2100 on

class SqliteStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kgw-store-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `sql` on the store's file from a connection of its own: the layout an older version left,
  // or damage.
  void Rewrite(const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  // The store gives back the raw messages and the one outbox payload as they were appended.
  static void ExpectReadBack(SqliteStore& store, const std::vector<std::string>& raws, const std::string& payload) {
    auto listed = store.List(0, 10);
    ASSERT_TRUE(listed.ok()) << listed.status().message();
    ASSERT_EQ(listed->size(), raws.size());
    for (size_t i = 0; i < raws.size(); ++i) EXPECT_EQ((*listed)[i].record.raw, raws[i]);
    auto items = store.ClaimOutbox("registry", kNow, 10);
    ASSERT_TRUE(items.ok()) << items.status().message();
    ASSERT_EQ(items->size(), 1u);
    EXPECT_EQ((*items)[0].write.payload, payload);
  }

  std::filesystem::path dir_;
};

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableNotSuccess) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto store = SqliteStore::Open(dir_, options);
  ASSERT_TRUE(store.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*store)->AppendAndWait(Record("C1"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  sqlite3_exec(other, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_TRUE((*store)->AppendAndWait(Record("C1")).ok());  // and it recovers
  EXPECT_EQ(*(*store)->Count(), 1);
}

// The WAL is copied into the database file by the store's checkpoint thread while messages keep
// coming in, and past ~4,000 pages that thread makes the next commit start the log over: the WAL
// file stays near that size however many messages come in (without the thread it would reach the
// writer's own limit, ~16,000 pages; the bound leaves room for a busy machine).
TEST_F(SqliteStoreTest, TheWalIsCheckpointedAndStaysBounded) {
  SqliteOptions options;
  options.synchronous_full = false;  // the test is about the WAL's size, not about fsync
  auto store = SqliteStore::Open(dir_, options);
  ASSERT_TRUE(store.ok());
  constexpr int kMessages = 3000;  // ~3 pages each (raw that LZ4 cannot shrink): ~9,000 WAL pages unchecked
  for (int i = 0; i < kMessages; ++i) {
    InboundRecord record = Record("C" + std::to_string(i));
    record.raw += Noise(8000, static_cast<uint32_t>(i));
    ASSERT_TRUE((*store)->AppendAndWait(std::move(record)).ok());
  }
  EXPECT_EQ(*(*store)->Count(), kMessages);
  EXPECT_GT((*store)->checkpoints(), 0u) << "the checkpoint thread never ran";
  const auto wal = std::filesystem::file_size(dir_ / (std::string(SqliteStore::kFileName) + "-wal"));
  EXPECT_LT(wal, 9000u * (4096u + 24u)) << "the WAL grew to " << wal << " bytes";  // unchecked: ~16,000
}

// A reader on an old snapshot holds checkpoints back and the WAL grows past its usual size; once
// the reader is gone and a checkpoint has emptied the WAL, the file is cut back to wal_limit_mib.
TEST_F(SqliteStoreTest, TheWalIsCutBackAfterAReaderHeldCheckpointsBack) {
  SqliteOptions options;
  options.synchronous_full = false;
  options.wal_limit_mib = 2;
  auto store = SqliteStore::Open(dir_, options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->AppendAndWait(Record("FIRST")).ok());
  const auto wal_file = dir_ / (std::string(SqliteStore::kFileName) + "-wal");
  auto append = [&](int i) {
    InboundRecord record = Record("C" + std::to_string(i));
    record.raw += Noise(8000, static_cast<uint32_t>(i));
    ASSERT_TRUE((*store)->AppendAndWait(std::move(record)).ok());
  };
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &reader), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM inbound_messages;", nullptr, nullptr, nullptr), SQLITE_OK);
  for (int i = 0; i < 1500; ++i) append(i);  // ~3 pages each, none checkpointed past the reader
  const auto grown = std::filesystem::file_size(wal_file);
  EXPECT_GT(grown, 8u << 20) << "the reader did not hold the checkpoints back";
  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(reader);
  int appended = 1500;
  while (std::filesystem::file_size(wal_file) > (2u << 20) + 64 * 4120 && appended < 6000) append(appended++);
  EXPECT_LE(std::filesystem::file_size(wal_file), (2u << 20) + 64 * 4120)
      << "the WAL stayed at " << std::filesystem::file_size(wal_file) << " bytes (it had grown to " << grown << ")";
  EXPECT_EQ(*(*store)->Count(), appended + 1);
}

// The store's contract (appends, resources, search, outbox) is in store_contract_test.cc, run
// against SQLite and PostgreSQL; here what is SQLite's own.


TEST_F(SqliteStoreTest, AnOutboxOfTheOldLayoutIsMovedOnOpen) {
  // Version 3 kept the payload in the outbox row.
  ASSERT_TRUE(SqliteStore::Open(dir_).ok());
  ASSERT_TRUE((*SqliteStore::Open(dir_))->AppendAndWait(Record("C1")).ok());
  Rewrite(R"sql(
DROP TABLE outbox_payload;
DROP TABLE outbox;
CREATE TABLE outbox (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL REFERENCES inbound_messages (id),
  destination TEXT NOT NULL, partition TEXT NOT NULL, content_type TEXT NOT NULL, payload BLOB NOT NULL,
  idempotency_key TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL, last_error TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
  delivered_ms INTEGER);
INSERT INTO outbox VALUES (7, 1, 'registry', 'Patient/a', 'application/fhir+json', '{"old":true}', 'k7', 'pending',
  0, 0, '', 5, NULL);
PRAGMA user_version = 3;
)sql");
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto items = (*store)->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(items.ok()) << items.status().message();
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].id, 7);
  EXPECT_EQ((*items)[0].write.payload, R"({"old":true})");
}

// A conditional create of a Patient by its MRN.
InboundRecord WithPatient(std::string control_id, std::string id, std::string mrn) {
  InboundRecord r = Record(std::move(control_id));
  r.resources.push_back(Patient(std::move(id), mrn));
  r.resources[0].unless_identifier = "urn:mrn|" + mrn;
  return r;
}

int64_t Scalar(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  int64_t value = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// Version 5 indexed every outbox item by partition; the index now keeps only undelivered ones, and
// a partition's queue still holds: its second item waits until the first is delivered.
TEST_F(SqliteStoreTest, AnOutboxQueueIndexOfVersion5IsRebuiltOnOpen) {
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    for (const char* id : {"C1", "C2"}) {
      InboundRecord r = Record(id);
      r.outbox.push_back({"registry", "Patient/a", "application/fhir+json", id, std::string("k-") + id});
      ASSERT_TRUE((*store)->AppendAndWait(std::move(r)).ok());
    }
  }
  Rewrite(R"sql(
DROP INDEX outbox_queue;
CREATE INDEX outbox_queue ON outbox (destination, partition, state, id);
PRAGMA user_version = 5;
)sql");
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(Scalar(dir_ / SqliteStore::kFileName,
                   "SELECT count(*) FROM sqlite_schema WHERE name = 'outbox_queue' AND sql LIKE '%WHERE state IN%'"),
            1);
  EXPECT_EQ(Scalar(dir_ / SqliteStore::kFileName, "PRAGMA user_version"), 10);
  auto first = (*store)->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].write.payload, "C1");
  auto second = (*store)->MarkDeliveredAndClaim({(*first)[0].id}, "registry", kNow, 10);
  ASSERT_TRUE(second.ok()) << second.status().message();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].write.payload, "C2");
}

// A destination that was down for a while: each patient's oldest item waits for its retry and the
// items queued behind it cannot go. A claim stops asking item by item after ~20,000 SQLite steps
// and reads each patient's oldest item instead (asked only item by item, it read all 5,000:
// ~110,000 steps, and a worker claims at each group that queues for it). A claim with nothing to record and nothing to hand out
// does not take the write lock, which the store's writer needs for every group.
TEST_F(SqliteStoreTest, AClaimReadsEachPatientsOldestItemNotTheBacklogBehindIt) {
  SqliteOptions options;
  options.busy_timeout_ms = 1000;
  auto opened = SqliteStore::Open(dir_, options);
  ASSERT_TRUE(opened.ok());
  SqliteStore& store = **opened;
  constexpr int kPatients = 20;
  auto queue = [&](int from, int to) {
    for (int m = from; m < to; ++m) ASSERT_TRUE(store.AppendAndWait(ForEveryPatient("B", m, kPatients)).ok());
  };
  queue(0, 1);
  auto heads = store.ClaimOutbox("registry", kNow, 64);
  ASSERT_TRUE(heads.ok()) << heads.status().message();
  ASSERT_EQ(heads->size(), static_cast<size_t>(kPatients));
  for (const auto& item : *heads) ASSERT_TRUE(store.MarkRetry(item.id, kNow + 60000, "connection refused").ok());
  queue(1, 250);  // 4,980 items behind the 20 heads
  auto none = store.ClaimOutbox("registry", kNow, 64);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  EXPECT_LT(store.claim_steps(), 30000u) << "SQLite steps of a claim that hands out nothing";
  // Another connection holds the write lock: a claim with nothing to hand out still answers.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / SqliteStore::kFileName).c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE;", nullptr, nullptr, nullptr), SQLITE_OK);
  auto locked = store.MarkDeliveredAndClaim({}, "registry", kNow, 64);
  EXPECT_TRUE(locked.ok()) << locked.status().message();
  sqlite3_exec(other, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  // Due again: the 20 heads, oldest first, and nothing behind them.
  auto due = store.ClaimOutbox("registry", kNow + 60000, 64);
  ASSERT_TRUE(due.ok()) << due.status().message();
  ASSERT_EQ(due->size(), static_cast<size_t>(kPatients));
  for (size_t i = 0; i < due->size(); ++i) {
    EXPECT_EQ((*due)[i].write.payload, "0-" + std::to_string(i));
    EXPECT_EQ((*due)[i].attempts, 2);
  }
  EXPECT_LT(store.claim_steps(), 30000u);
  std::printf("SQLite steps of the last claim: %llu\n", static_cast<unsigned long long>(store.claim_steps()));
}

// Raw messages and outbox payloads are kept LZ4-packed when that saves space, and read back as
// they came; a short one is kept as it is.
TEST_F(SqliteStoreTest, RawMessagesAndPayloadsAreStoredPacked) {
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  InboundRecord big = Record("C1");
  for (int i = 0; i < 20; ++i) big.raw += "OBX|" + std::to_string(i) + "|NM|72514-3^Pain severity^LN||6|{score}^^UCUM\r";
  std::string payload = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 20; ++i) payload += std::string(i ? "," : "") + R"({"request":{"method":"PUT","url":"Observation/o)" + std::to_string(i) + "\"}}";
  payload += "]}";
  big.outbox.push_back({"registry", "Patient/a", "application/fhir+json", payload, "k1"});
  ASSERT_TRUE((*store)->AppendAndWait(big).ok());
  InboundRecord small = Record("C2");
  small.raw = "MSH|^~\\&|A|B|||1||RDE^O11|C2|P|2.5.1\r";
  ASSERT_TRUE((*store)->AppendAndWait(small).ok());
  const auto file = dir_ / SqliteStore::kFileName;
  EXPECT_EQ(Scalar(file, "SELECT raw_packed FROM inbound_messages WHERE control_id = 'C1'"), 1);
  EXPECT_LT(Scalar(file, "SELECT length(raw) FROM inbound_messages WHERE control_id = 'C1'"),
            static_cast<int64_t>(big.raw.size()));
  EXPECT_EQ(Scalar(file, "SELECT raw_packed FROM inbound_messages WHERE control_id = 'C2'"), 0);
  EXPECT_EQ(Scalar(file, "SELECT packed FROM outbox_payload"), 1);
  ExpectReadBack(**store, {big.raw, small.raw}, payload);
  // A damaged packed blob is an error for the read that meets it, not a crash or garbage.
  Rewrite("UPDATE inbound_messages SET raw = X'FFFFFF7F00' WHERE control_id = 'C1'");
  auto damaged = (*store)->List(0, 10);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kInternal);
}

// Version 6 had no "packed" columns: they are added when the file opens, and its rows read back.
TEST_F(SqliteStoreTest, AFileOfVersion6GetsThePackedColumnsOnOpen) {
  // Bytes LZ4 cannot shrink are stored as they came, as version 6 stored everything.
  const std::string noise = Noise(3000, 11);
  InboundRecord before = Record("C1");
  before.raw += noise;
  before.outbox.push_back({"registry", "Patient/a", "application/fhir+json", noise, "k1"});
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AppendAndWait(before).ok());
  }
  const auto file = dir_ / SqliteStore::kFileName;
  ASSERT_EQ(Scalar(file, "SELECT raw_packed FROM inbound_messages"), 0);
  Rewrite(R"sql(
ALTER TABLE inbound_messages DROP COLUMN raw_packed;
ALTER TABLE outbox_payload DROP COLUMN packed;
PRAGMA user_version = 6;
)sql");
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM pragma_table_info('inbound_messages') WHERE name = 'raw_packed'"), 1);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM pragma_table_info('outbox_payload') WHERE name = 'packed'"), 1);
  ExpectReadBack(**store, {before.raw}, before.outbox[0].payload);
}

TEST_F(SqliteStoreTest, ASearchIndexOfTheOldLayoutIsMovedOnOpen) {
  // Version 4 kept the index in a rowid table with an index by value and one by owner, and could
  // hold an entry twice.
  ASSERT_EQ((*SqliteStore::Open(dir_))->AppendAndWait(WithPatient("C1", "pat-a", "MRN-A"))->resources[0].outcome,
            ResourceOutcome::kCreated);
  const std::filesystem::path file = dir_ / SqliteStore::kFileName;
  Rewrite(R"sql(
DROP TABLE resource_index;
ALTER TABLE resources DROP COLUMN terms;
CREATE TABLE resource_index (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL, system TEXT NOT NULL,
  value TEXT NOT NULL);
INSERT INTO resource_index VALUES ('Patient', 'pat-a', 'identifier', 'urn:mrn', 'MRN-A'),
  ('Patient', 'pat-a', 'birthdate', '', '1979-04-12'), ('Patient', 'pat-a', 'identifier', 'urn:mrn', 'MRN-A'),
  ('Patient', 'pat-a', 'birthdate', '', '1979-04-12');
CREATE INDEX resource_index_lookup ON resource_index (type, param, value);
CREATE INDEX resource_index_owner ON resource_index (type, id);
PRAGMA user_version = 4;
)sql");
  ASSERT_EQ(Scalar(file, "SELECT count(*) FROM resource_index"), 4);

  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  // The identifier once; the birth date in the resource's row (version 8).
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM resource_index"), 1);
  EXPECT_EQ(Scalar(file, "SELECT length(terms) > 0 FROM resources WHERE id = 'pat-a'"), 1);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM pragma_table_info('resource_index') WHERE pk > 0"), 5);
  // The identifier and subject indexes by value, nothing of the old layout.
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'resource_index' "
                         "AND name IN ('resource_index_identifier', 'resource_index_subject')"),
            2);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM sqlite_master WHERE name IN ('resource_index_lookup', "
                         "'resource_index_owner', 'resource_index_v4')"),
            0);
  EXPECT_EQ(Scalar(file, "PRAGMA user_version"), 10);
  // The moved entries are searched and matched as before.
  auto found = (*store)->SearchResources("Patient", {{"identifier", SearchCondition::Op::kEq, true, "urn:mrn", "MRN-A"}},
                                         {10, 0});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->total, 1);
  auto born = (*store)->SearchResources("Patient", {{"birthdate", SearchCondition::Op::kLt, false, "", "1980"}}, {10, 0});
  ASSERT_TRUE(born.ok());
  EXPECT_EQ(born->total, 1);
  auto again = (*store)->AppendAndWait(WithPatient("C2", "pat-b", "MRN-A"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->resources[0].outcome, ResourceOutcome::kExisting);
  EXPECT_EQ(again->resources[0].id, "pat-a");
}

// Version 7 kept every search entry in resource_index, one row each. Only identifiers and subjects
// stay there; the others move into their resource's row, and search and update as before.
TEST_F(SqliteStoreTest, SearchEntriesOfVersion7MoveIntoTheResourceRows) {
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    InboundRecord r = Record("C1");
    r.resources.push_back(Patient("pat-a", "MRN-A", "1979-04-12"));
    r.resources.push_back(Patient("pat-b", "MRN-B", "1990-01-02"));
    ASSERT_TRUE((*store)->AppendAndWait(std::move(r)).ok());
  }
  const std::filesystem::path file = dir_ / SqliteStore::kFileName;
  Rewrite(R"sql(
ALTER TABLE resources DROP COLUMN terms;
INSERT INTO resource_index VALUES ('Patient', 'pat-a', 'birthdate', '1979-04-12', ''),
  ('Patient', 'pat-a', 'gender', 'female', 'http://hl7.org/fhir/administrative-gender'),
  ('Patient', 'pat-b', 'birthdate', '1990-01-02', '');
PRAGMA user_version = 7;
)sql");
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(Scalar(file, "PRAGMA user_version"), 10);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM resource_index WHERE param NOT IN ('subject', 'identifier')"), 0);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM resource_index"), 2);
  auto ids = [&](std::vector<SearchCondition> conditions) {
    std::set<std::string> out;
    auto page = (*store)->SearchResources("Patient", conditions, {10, 0});
    EXPECT_TRUE(page.ok());
    if (page.ok()) for (const auto& r : page->resources) out.insert(r.id);
    return out;
  };
  using Op = SearchCondition::Op;
  EXPECT_EQ(ids({{"birthdate", Op::kLt, false, "", "1980"}}), (std::set<std::string>{"pat-a"}));
  EXPECT_EQ(ids({{"birthdate", Op::kPrefix, false, "", "1990-01"}}), (std::set<std::string>{"pat-b"}));
  EXPECT_EQ(ids({{"gender", Op::kEq, true, "http://hl7.org/fhir/administrative-gender", "female"}}),
            (std::set<std::string>{"pat-a"}));
  EXPECT_EQ(ids({{"gender", Op::kEq, false, "", ""}}), (std::set<std::string>{"pat-a"}));  // has one at all
  EXPECT_EQ(ids({{"identifier", Op::kEq, true, "urn:mrn", "MRN-B"}}), (std::set<std::string>{"pat-b"}));
  // An update replaces the moved entries with its own.
  InboundRecord update = Record("C2");
  update.resources.push_back(Patient("pat-a", "MRN-A", "1985-06-07"));
  update.resources[0].json = R"({"resourceType":"Patient","id":"pat-a","birthDate":"1985-06-07"})";
  update.resources[0].update = true;
  ASSERT_TRUE((*store)->AppendAndWait(std::move(update)).ok());
  EXPECT_EQ(ids({{"birthdate", Op::kLt, false, "", "1980"}}), (std::set<std::string>{}));
  EXPECT_EQ(ids({{"gender", Op::kEq, false, "", ""}}), (std::set<std::string>{}));
  EXPECT_EQ(ids({{"birthdate", Op::kGe, false, "", "1985"}}), (std::set<std::string>{"pat-a", "pat-b"}));
}

TEST_F(SqliteStoreTest, AFileOfVersion9GetsItsAdministrationsIndexedByTheirOrder) {
  {
    auto store = SqliteStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    InboundRecord r = Record("C1");
    for (const auto& [id, json] : std::vector<std::pair<std::string, std::string>>{
             {"ma1", R"({"resourceType":"MedicationAdministration","request":{"reference":"MedicationRequest/o1"}})"},
             {"ma2", R"({"resourceType":"MedicationAdministration","request":{"display":"no reference"}})"},
             {"ma3", R"({"resourceType":"MedicationAdministration","request":{"reference":"MedicationRequest/o1"}})"}}) {
      ResourceWrite w;
      w.type = "MedicationAdministration";
      w.id = id;
      w.json = json;
      r.resources.push_back(w);
    }
    ASSERT_TRUE((*store)->AppendAndWait(std::move(r)).ok());
  }
  const std::filesystem::path file = dir_ / SqliteStore::kFileName;
  Rewrite(R"sql(
DROP INDEX resource_index_request;
UPDATE resources SET json = CAST('{"request":' AS BLOB) WHERE id = 'ma3';
PRAGMA user_version = 9;
)sql");
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(Scalar(file, "PRAGMA user_version"), 10);
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM sqlite_schema WHERE name = 'resource_index_request'"), 1);
  // The administration with a reference is indexed; one without, or whose JSON does not parse, is not.
  EXPECT_EQ(Scalar(file, "SELECT count(*) FROM resource_index WHERE param = 'request'"), 1);
  auto page = (*store)->SearchResources(
      "MedicationAdministration", {{"request", SearchCondition::Op::kEq, false, "", "MedicationRequest/o1"}}, {10, 0});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->resources.size(), 1u);
  EXPECT_EQ(page->resources[0].id, "ma1");
}

TEST_F(SqliteStoreTest, UnwritableFolderIsAnError) {
  auto store = SqliteStore::Open("/proc/kgw-cannot-be-created");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace ketamine::store
