// The MessageStore contract, run against both stores: SQLite in a fresh folder, and PostgreSQL in
// a fresh database of a real server started for this test program (tests/integration/pg_cluster.sh).
#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <chrono>
#include <thread>

#include "store/postgres_store.h"
#include "records.h"
#include "store/sqlite_store.h"

namespace ketamine::store {
namespace {

// Outbox items are due from their creation time (the real clock); claims look from 2100 on.
constexpr int64_t kNow = 4102444800000;
constexpr int64_t kLater = kNow + 5000;

std::string Run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  if (pclose(pipe) != 0) return "";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// One PostgreSQL server for the whole test program; a database per test.
class PgCluster {
 public:
  static PgCluster& Get() {
    static PgCluster cluster;
    return cluster;
  }
  const std::string& conninfo() const { return conninfo_; }
  // A new empty database; its conninfo ("" when the server is not there).
  std::string CreateDatabase() {
    if (conninfo_.empty()) return "";
    const std::string name = "kgw_" + std::to_string(++databases_);
    if (std::system((script_ + " createdb " + dir_ + " " + name).c_str()) != 0) return "";
    return "host=" + dir_ + " port=5432 user=kgw dbname=" + name;
  }
  bool Restart() { return std::system((script_ + " restart " + dir_).c_str()) == 0; }
  ~PgCluster() {
    if (!dir_.empty()) std::system((script_ + " stop " + dir_).c_str());
  }

 private:
  PgCluster() {
    script_ = std::string(KETAMINE_TESTS_DIR) + "/integration/pg_cluster.sh";
    dir_ = (std::filesystem::temp_directory_path() / ("kgw-pg-" + std::to_string(::getpid()))).string();
    conninfo_ = Run(script_ + " start " + dir_);
  }
  std::string script_;
  std::string dir_;
  std::string conninfo_;
  int databases_ = 0;
};

using testing_records::ForEveryPatient;
using testing_records::Patient;
using testing_records::Record;

InboundRecord Queued(std::string control_id, std::vector<std::pair<std::string, std::string>> partitions_and_payloads) {
  InboundRecord r = Record(control_id);
  r.resources.push_back(Patient("p-" + control_id, "MRN-" + control_id));
  for (auto& [partition, payload] : partitions_and_payloads) {
    r.outbox.push_back({"registry", partition, "application/fhir+json", payload, "PHARM|CLINIC|" + control_id});
  }
  return r;
}

std::vector<std::string> Payloads(const std::vector<OutboxItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.write.payload);
  return out;
}

class StoreContract : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() /
             ("kgw-contract-" + std::to_string(::getpid()) + "-" +
              testing::UnitTest::GetInstance()->current_test_info()->name());
      std::filesystem::remove_all(dir_);
    } else {
      conninfo_ = PgCluster::Get().CreateDatabase();
      ASSERT_FALSE(conninfo_.empty()) << "no PostgreSQL server for the tests (deploy/setup.sh installs it)";
    }
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Result<std::unique_ptr<MessageStore>> Open(const std::string& instance = "gw-a", int64_t lease_ms = 300000) {
    if (GetParam() == "sqlite") {
      auto s = SqliteStore::Open(dir_);
      if (!s.ok()) return s.status();
      return std::unique_ptr<MessageStore>(std::move(*s));
    }
    PostgresOptions options;
    options.conninfo = conninfo_;
    options.instance = instance;
    options.lease_ms = lease_ms;
    auto s = PostgresStore::Open(options);
    if (!s.ok()) return s.status();
    return std::unique_ptr<MessageStore>(std::move(*s));
  }
  void Reopen() {
    store_.reset();
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
  }

  // The ids of the Observations a search finds (one page of up to 10, whose total must be its size).
  std::set<std::string> ObservationIds(const std::vector<SearchCondition>& conditions) {
    std::set<std::string> out;
    auto page = store_->SearchResources("Observation", conditions, {10, 0});
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (!page.ok()) return out;
    EXPECT_EQ(page->total, static_cast<int64_t>(page->resources.size()));
    for (const auto& x : page->resources) out.insert(x.id);
    return out;
  }

  std::filesystem::path dir_;
  std::string conninfo_;
  std::unique_ptr<MessageStore> store_;
};

TEST_P(StoreContract, AppendsAndListsTheMessageAsReceived) {
  auto first = store_->AppendAndWait(Record("C1"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_FALSE(first->duplicate);
  auto list = store_->List(0, 10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, first->id);
  EXPECT_EQ((*list)[0].record.control_id, "C1");
  EXPECT_EQ((*list)[0].record.raw, Record("C1").raw);
  EXPECT_EQ((*list)[0].record.replies, (std::vector<std::string>{"MSH|ack1\r", "MSH|ack2\r"}));
  EXPECT_EQ(store_->List(first->id, 10)->size(), 0u);
}

TEST_P(StoreContract, SameControlIdFromTheSameSenderIsStoredOnce) {
  auto a = store_->AppendAndWait(Record("C1"));
  auto b = store_->AppendAndWait(Record("C1"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->id, a->id);
  EXPECT_EQ(b->replies, (std::vector<std::string>{"MSH|ack1\r", "MSH|ack2\r"}));
  InboundRecord other = Record("C1");
  other.sending_facility = "OTHER";
  EXPECT_FALSE(store_->AppendAndWait(other)->duplicate);
  EXPECT_EQ(*store_->Count(), 2);
  InboundRecord no_id = Record("");
  EXPECT_FALSE(store_->AppendAndWait(no_id)->duplicate);
  EXPECT_FALSE(store_->AppendAndWait(no_id)->duplicate);  // no control id: never deduplicated
}

// An operator's trace: what arrived under a control id (rejected tries and the accepted one, newest
// first), and what each queued, in every state.
TEST_P(StoreContract, FindsMessagesByControlIdAndTheirDeliveries) {
  auto rejected = store_->AppendAndWait(Record("T1", MessageStatus::kRejected));
  InboundRecord accepted = Record("T1");
  accepted.outbox.push_back({"registry", "Patient/p1", "application/fhir+json", "one", "k-1"});
  accepted.outbox.push_back({"pharmacy", "Patient/p1", "x-application/hl7-v2+er7", "two", "k-2"});
  auto stored = store_->AppendAndWait(accepted);
  InboundRecord elsewhere = Record("T1");
  elsewhere.sending_facility = "OTHER";
  auto other = store_->AppendAndWait(elsewhere);
  InboundRecord unnamed = Record("T1");  // a sender that fills neither MSH-3 nor MSH-4
  unnamed.sending_application = "";
  unnamed.sending_facility = "";
  auto anonymous = store_->AppendAndWait(unnamed);
  ASSERT_TRUE(rejected.ok() && stored.ok() && other.ok() && anonymous.ok());
  ASSERT_TRUE(store_->AppendAndWait(Record("T2")).ok());
  auto all = store_->FindMessages("T1", "", 10);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].id, anonymous->id);  // newest first
  EXPECT_EQ((*all)[1].id, other->id);
  EXPECT_EQ((*all)[2].id, stored->id);
  EXPECT_EQ((*all)[3].id, rejected->id);
  EXPECT_EQ((*all)[3].record.status, MessageStatus::kRejected);
  EXPECT_EQ((*all)[2].record.raw, accepted.raw);
  EXPECT_EQ((*all)[2].record.replies, accepted.replies);
  auto clinic = store_->FindMessages("T1", "CLINIC", 10);
  ASSERT_TRUE(clinic.ok());
  EXPECT_EQ(clinic->size(), 2u);
  EXPECT_EQ(store_->FindMessages("T1", "", 1)->size(), 1u);
  EXPECT_EQ(store_->FindMessages("T1", "", 1)->front().id, anonymous->id);
  EXPECT_TRUE(store_->FindMessages("nothing", "", 10)->empty());
  auto deliveries = store_->OutboxOfMessage(stored->id);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status().message();
  ASSERT_EQ(deliveries->size(), 2u);
  EXPECT_EQ((*deliveries)[0].write.destination, "registry");
  EXPECT_EQ((*deliveries)[1].write.destination, "pharmacy");
  EXPECT_EQ((*deliveries)[1].write.payload, "two");
  // Every state: one delivered, one dead.
  ASSERT_TRUE(store_->MarkDelivered({(*deliveries)[0].id}, 1).ok());
  ASSERT_TRUE(store_->MarkDead((*deliveries)[1].id, "AR from the pharmacy").ok());
  deliveries = store_->OutboxOfMessage(stored->id);
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ((*deliveries)[0].state, OutboxState::kDelivered);
  EXPECT_EQ((*deliveries)[1].state, OutboxState::kDead);
  EXPECT_EQ((*deliveries)[1].last_error, "AR from the pharmacy");
  EXPECT_TRUE(store_->OutboxOfMessage(rejected->id)->empty());
}

// The other way round: which messages wrote a resource's versions (what made or changed an order).
TEST_P(StoreContract, FindsTheMessagesThatWroteAResource) {
  InboundRecord create = Record("W1");
  create.resources.push_back(Patient("pat-w", "MRN-W"));
  InboundRecord other = Record("W2");
  other.resources.push_back(Patient("pat-x", "MRN-X"));
  InboundRecord update = Record("W3");
  update.resources.push_back(Patient("pat-w", "MRN-W2"));
  update.resources[0].update = true;
  auto first = store_->AppendAndWait(create);
  auto unrelated = store_->AppendAndWait(other);
  auto second = store_->AppendAndWait(update);
  ASSERT_TRUE(first.ok() && unrelated.ok() && second.ok());
  auto wrote = store_->MessagesOfResource("Patient", "pat-w", 10);
  ASSERT_TRUE(wrote.ok()) << wrote.status().message();
  ASSERT_EQ(wrote->size(), 2u);
  EXPECT_EQ((*wrote)[0].id, second->id);  // newest first
  EXPECT_EQ((*wrote)[1].id, first->id);
  EXPECT_EQ((*wrote)[1].record.control_id, "W1");
  EXPECT_EQ(store_->MessagesOfResource("Patient", "pat-w", 1)->size(), 1u);
  EXPECT_TRUE(store_->MessagesOfResource("Patient", "nobody", 10)->empty());
  EXPECT_TRUE(store_->MessagesOfResource("Observation", "pat-w", 10)->empty());
}

TEST_P(StoreContract, RejectedMessagesDoNotHoldTheControlId) {
  EXPECT_FALSE(store_->AppendAndWait(Record("C1", MessageStatus::kRejected))->duplicate);
  EXPECT_FALSE(store_->AppendAndWait(Record("C1", MessageStatus::kRejected))->duplicate);
  EXPECT_FALSE(store_->AppendAndWait(Record("C1"))->duplicate);
  EXPECT_TRUE(store_->AppendAndWait(Record("C1"))->duplicate);
}

TEST_P(StoreContract, ConcurrentAppendsAreGroupedIntoFewerCommits) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->AppendAndWait(Record("T" + std::to_string(t) + "-" + std::to_string(i)));
        if (r.ok() && !r->duplicate) ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(*store_->Count(), kThreads * kPerThread);
  EXPECT_EQ(store_->appends(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(store_->commits(), static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_P(StoreContract, SurvivesReopen) {
  ASSERT_TRUE(store_->AppendAndWait(Record("C1")).ok());
  Reopen();
  EXPECT_EQ(*store_->Count(), 1);
  EXPECT_TRUE(store_->AppendAndWait(Record("C1"))->duplicate);
}

TEST_P(StoreContract, ResourcesAreVersionedAndConflictsStoreNothing) {
  InboundRecord create = Record("R1");
  create.resources.push_back(Patient("pat-1", "MRN-1"));
  auto created = store_->AppendAndWait(create);
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_EQ(created->resources.size(), 1u);
  EXPECT_EQ(created->resources[0].outcome, ResourceOutcome::kCreated);
  EXPECT_EQ(created->resources[0].version, 1);

  InboundRecord update = Record("R2");
  update.resources.push_back(Patient("pat-1", "MRN-1b"));
  update.resources[0].update = true;
  update.resources[0].if_match = 1;
  auto updated = store_->AppendAndWait(update);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->resources[0].outcome, ResourceOutcome::kUpdated);
  EXPECT_EQ(updated->resources[0].version, 2);
  auto read = store_->ReadResource("Patient", "pat-1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->version, 2);
  EXPECT_NE(read->json.find("MRN-1b"), std::string::npos);
  // Both versions are kept, newest first; each can be asked for alone.
  auto versions = store_->ResourceVersions("Patient", "pat-1", 0);
  ASSERT_TRUE(versions.ok()) << versions.status().message();
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 2);
  EXPECT_EQ((*versions)[0].json, read->json);
  EXPECT_EQ((*versions)[1].version, 1);
  EXPECT_NE((*versions)[1].json.find("\"MRN-1\""), std::string::npos);
  EXPECT_EQ((*versions)[1].written_by, "RDE^O11");  // the message type of the record that wrote it
  EXPECT_LE((*versions)[1].last_updated, (*versions)[0].last_updated);
  auto first = store_->ResourceVersions("Patient", "pat-1", 1);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].json, (*versions)[1].json);
  EXPECT_TRUE(store_->ResourceVersions("Patient", "pat-1", 3)->empty());
  EXPECT_TRUE(store_->ResourceVersions("Patient", "pat-9", 0)->empty());
  // The old identifier is no longer indexed.
  EXPECT_EQ(store_->SearchResources("Patient", {{"identifier", SearchCondition::Op::kEq, true, "urn:mrn", "MRN-1"}}, {10, 0})
                ->total,
            0);

  // A stale If-Match in a record of two writes: nothing of the record is stored, not even the message.
  InboundRecord stale = Record("R3");
  stale.resources.push_back(Patient("pat-2", "MRN-2"));
  stale.resources.push_back(Patient("pat-1", "MRN-1c"));
  stale.resources[1].update = true;
  stale.resources[1].if_match = 1;
  auto conflict = store_->AppendAndWait(stale);
  ASSERT_TRUE(conflict.ok());
  EXPECT_TRUE(conflict->rolled_back);
  EXPECT_EQ(conflict->resources.back().outcome, ResourceOutcome::kVersionConflict);
  EXPECT_EQ(store_->ReadResource("Patient", "pat-2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store_->Count(), 2);
  auto again = store_->AppendAndWait(Record("R3"));  // the control id was not taken
  EXPECT_FALSE(again->duplicate);

  // A create on an id that exists is a conflict, unless it is the same request again.
  InboundRecord twice = Record("R4");
  twice.resources.push_back(Patient("pat-1", "MRN-9"));
  EXPECT_EQ(store_->AppendAndWait(twice)->resources[0].outcome, ResourceOutcome::kVersionConflict);
  InboundRecord replay = Record("R5");
  replay.resources.push_back(Patient("pat-1", "MRN-9"));
  replay.resources[0].replay_existing = true;
  EXPECT_EQ(store_->AppendAndWait(replay)->resources[0].outcome, ResourceOutcome::kExisting);
}

// The prescriber and the medication of a clinic come again with every order: an update with the
// stored content writes no new version, and the message's deliveries still go out.
TEST_P(StoreContract, AnUpdateWithTheStoredContentMakesNoNewVersion) {
  InboundRecord create = Record("U1");
  create.resources.push_back(Patient("pat-u", "MRN-U"));
  auto created = store_->AppendAndWait(create);
  ASSERT_TRUE(created.ok()) << created.status().message();
  const std::string first_time = created->resources[0].last_updated;
  ASSERT_FALSE(first_time.empty());

  InboundRecord same = Record("U2");
  same.resources.push_back(Patient("pat-u", "MRN-U"));
  same.resources[0].update = true;
  same.outbox.push_back({"registry", "Patient/pat-u", "application/fhir+json", "again", "PHARM|CLINIC|U2"});
  auto unchanged = store_->AppendAndWait(same);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status().message();
  EXPECT_FALSE(unchanged->rolled_back);
  EXPECT_EQ(unchanged->resources[0].outcome, ResourceOutcome::kUnchanged);
  EXPECT_EQ(unchanged->resources[0].version, 1);
  EXPECT_EQ(unchanged->resources[0].last_updated, first_time);
  EXPECT_EQ(store_->ReadResource("Patient", "pat-u")->version, 1);
  EXPECT_EQ(store_->ReadResource("Patient", "pat-u")->last_updated, first_time);
  EXPECT_EQ(Payloads(*store_->ClaimOutbox("registry", kNow, 10)), (std::vector<std::string>{"again"}));

  // If-Match is still checked first; a real change is a new version.
  InboundRecord stale = Record("U3");
  stale.resources.push_back(Patient("pat-u", "MRN-U"));
  stale.resources[0].update = true;
  stale.resources[0].if_match = 7;
  EXPECT_EQ(store_->AppendAndWait(stale)->resources[0].outcome, ResourceOutcome::kVersionConflict);
  InboundRecord changed = Record("U4");
  changed.resources.push_back(Patient("pat-u", "MRN-U2"));
  changed.resources[0].update = true;
  auto updated = store_->AppendAndWait(changed);
  EXPECT_EQ(updated->resources[0].outcome, ResourceOutcome::kUpdated);
  EXPECT_EQ(updated->resources[0].version, 2);
}

TEST_P(StoreContract, ConditionalWritesFollowTheBusinessIdentifier) {
  InboundRecord first = Record("I1");
  first.resources.push_back(Patient("pat-a", "MRN-A"));
  first.resources[0].unless_identifier = "urn:mrn|MRN-A";
  first.outbox.push_back({"registry", "Patient/pat-a", "application/fhir+json", "{}", "k1"});
  EXPECT_EQ(store_->AppendAndWait(first)->resources[0].outcome, ResourceOutcome::kCreated);
  // If-None-Exist finds it: nothing written, nothing queued.
  InboundRecord second = Record("I2");
  second.resources.push_back(Patient("pat-b", "MRN-A"));
  second.resources[0].unless_identifier = "urn:mrn|MRN-A";
  second.outbox.push_back({"registry", "Patient/pat-a", "application/fhir+json", "{}", "k2"});
  auto existing = store_->AppendAndWait(second);
  EXPECT_EQ(existing->resources[0].outcome, ResourceOutcome::kExisting);
  EXPECT_EQ(existing->resources[0].id, "pat-a");
  EXPECT_EQ(store_->Stats("registry")->pending, 1);
  // A conditional update whose identifier belongs to another id is refused.
  InboundRecord other = Record("I3");
  other.resources.push_back(Patient("pat-c", "MRN-A"));
  other.resources[0].update = true;
  other.resources[0].match_identifier = "urn:mrn|MRN-A";
  auto refused = store_->AppendAndWait(other);
  EXPECT_EQ(refused->resources[0].outcome, ResourceOutcome::kIdentityConflict);
  EXPECT_EQ(refused->resources[0].id, "pat-a");
}

TEST_P(StoreContract, SearchesTokensDatesAndPages) {
  InboundRecord r = Record("S1");
  r.resources.push_back(Patient("p1", "MRN-1", "1979-04-12"));
  r.resources.push_back(Patient("p2", "MRN-2", "1985-01-30"));
  r.resources.push_back(Patient("p3", "MRN-3", "1990-07-01"));
  r.resources.push_back(Patient("p4", "X-4", "1990-07-02"));
  r.resources[3].index[0].system = "urn:other";
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  auto ids = [&](std::vector<SearchCondition> c, size_t count = 10, size_t offset = 0) {
    std::set<std::string> out;
    auto page = store_->SearchResources("Patient", c, {count, offset});
    if (page.ok()) {
      for (const auto& x : page->resources) out.insert(x.id);
    }
    return out;
  };
  EXPECT_EQ(ids({{"identifier", Op::kEq, true, "urn:mrn", "MRN-2"}}), (std::set<std::string>{"p2"}));
  EXPECT_EQ(ids({{"identifier", Op::kEq, false, "", "X-4"}}), (std::set<std::string>{"p4"}));
  EXPECT_TRUE(ids({{"identifier", Op::kEq, true, "urn:mrn", "X-4"}}).empty());
  EXPECT_EQ(ids({{"birthdate", Op::kGe, false, "", "1985-01-30"}, {"birthdate", Op::kLt, false, "", "1990-07-02"}}),
            (std::set<std::string>{"p2", "p3"}));
  EXPECT_EQ(ids({{"birthdate", Op::kGt, false, "", "1990-07-01"}}), (std::set<std::string>{"p4"}));
  EXPECT_EQ(ids({{"birthdate", Op::kLe, false, "", "1979-04-12"}}), (std::set<std::string>{"p1"}));
  EXPECT_EQ(ids({{"birthdate", Op::kPrefix, false, "", "1990-07"}}), (std::set<std::string>{"p3", "p4"}));
  EXPECT_EQ(ids({{"_id", Op::kEq, false, "", "p3"}}), (std::set<std::string>{"p3"}));
  auto page = store_->SearchResources("Patient", {}, {3, 0});
  EXPECT_EQ(page->total, 4);
  EXPECT_EQ(page->resources.size(), 3u);
  auto rest = store_->SearchResources("Patient", {}, {3, 3});
  ASSERT_EQ(rest->resources.size(), 1u);
  std::set<std::string> all = ids({}, 3, 0);
  all.insert(rest->resources[0].id);
  EXPECT_EQ(all.size(), 4u);  // the pages do not overlap
  EXPECT_EQ(store_->ReadResource("Patient", "nope").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreContract, SearchesByLastUpdateInEitherOrderCountedOrNot) {
  std::vector<std::string> updated;  // p1, p2, p3: one write each, a few milliseconds apart
  for (const char* id : {"p1", "p2", "p3"}) {
    if (!updated.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    InboundRecord r = Record(std::string("L-") + id);
    r.resources.push_back(Patient(id, std::string("MRN-") + id));
    ASSERT_TRUE(store_->AppendAndWait(r).ok());
    updated.push_back(store_->ReadResource("Patient", id)->last_updated);
  }
  ASSERT_LT(updated[0], updated[1]);
  ASSERT_LT(updated[1], updated[2]);
  using Op = SearchCondition::Op;
  auto ids = [&](std::vector<SearchCondition> c, SearchRange range = {.count = 10}) {
    std::vector<std::string> out;
    auto page = store_->SearchResources("Patient", c, range);
    EXPECT_TRUE(page.ok());
    if (page.ok()) {
      for (const auto& x : page->resources) out.push_back(x.id);
    }
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids({}), (Ids{"p3", "p2", "p1"}));
  EXPECT_EQ(ids({}, {.count = 10, .oldest_first = true}), (Ids{"p1", "p2", "p3"}));
  EXPECT_EQ(ids({}, {.count = 2, .offset = 1, .oldest_first = true}), (Ids{"p2", "p3"}));
  auto at = [&](Op op, size_t i) { return SearchCondition{"_lastUpdated", op, false, "", updated[i]}; };
  EXPECT_EQ(ids({at(Op::kGe, 1)}), (Ids{"p3", "p2"}));
  EXPECT_EQ(ids({at(Op::kGt, 1)}), (Ids{"p3"}));
  EXPECT_EQ(ids({at(Op::kLe, 1)}), (Ids{"p2", "p1"}));
  EXPECT_EQ(ids({at(Op::kLt, 1)}), (Ids{"p1"}));
  EXPECT_EQ(ids({at(Op::kGe, 0), at(Op::kLe, 0)}), (Ids{"p1"}));
  // Not counted: no total, and whether more follow is told by the page itself.
  auto first = store_->SearchResources("Patient", {}, {.count = 2, .counted = false});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->total.has_value());
  EXPECT_EQ(first->resources.size(), 2u);
  EXPECT_TRUE(first->more);
  auto last = store_->SearchResources("Patient", {}, {.count = 2, .offset = 2, .counted = false});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->resources.size(), 1u);
  EXPECT_FALSE(last->more);
  auto exact = store_->SearchResources("Patient", {}, {.count = 3});
  EXPECT_EQ(exact->total, 3);
  EXPECT_FALSE(exact->more);
  // A count alone reads no resource.
  auto counted = store_->SearchResources("Patient", {at(Op::kGt, 0)}, {.count = 0});
  EXPECT_EQ(counted->total, 2);
  EXPECT_TRUE(counted->resources.empty());
}

ResourceWrite Observation(std::string id, std::string patient, std::string date, std::string status = "final") {
  ResourceWrite w;
  w.type = "Observation";
  w.id = id;
  w.json = R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status + R"(","subject":{"reference":")" +
           patient + R"("},"effectiveDateTime":")" + date + R"("})";
  w.index = {{"status", "", status}, {"subject", "", patient}, {"date", "", date}};
  return w;
}

TEST_P(StoreContract, SortsByADateThoseWithoutOneLastTiesByLastUpdate) {
  // Written in this order; o2 has two dates (its lowest sorts it ascending, its highest descending).
  InboundRecord r = Record("SORT-1");
  r.resources.push_back(Observation("o1", "Patient/s", "2026-11-10T08:00:00Z"));
  ResourceWrite two = Observation("o2", "Patient/s", "2026-11-01T08:00:00Z");
  two.index.push_back({"date", "", "2026-11-20T08:00:00Z"});
  r.resources.push_back(two);
  ResourceWrite none = Observation("o3", "Patient/s", "");
  std::erase_if(none.index, [](const IndexEntry& e) { return e.param == "date"; });
  r.resources.push_back(none);
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(3));  // a later last update, not the same millisecond
  InboundRecord later = Record("SORT-2");
  later.resources.push_back(Observation("o4", "Patient/s", "2026-11-10T08:00:00Z"));  // o1's date, written later
  ASSERT_TRUE(store_->AppendAndWait(later).ok());
  auto ids = [&](SearchRange range) {
    std::vector<std::string> out;
    auto page = store_->SearchResources("Observation", {{"subject", SearchCondition::Op::kEq, false, "", "Patient/s"}}, range);
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (page.ok()) {
      for (const auto& x : page->resources) out.push_back(x.id);
    }
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids({.count = 10, .sort_param = "date"}), (Ids{"o2", "o4", "o1", "o3"}));
  EXPECT_EQ(ids({.count = 10, .oldest_first = true, .sort_param = "date"}), (Ids{"o2", "o1", "o4", "o3"}));
  EXPECT_EQ(ids({.count = 2, .offset = 1, .oldest_first = true, .sort_param = "date"}), (Ids{"o1", "o4"}));
  // A param held by value (the subject) sorts the same way; a name that is not a param's is not SQL.
  EXPECT_EQ(ids({.count = 10, .oldest_first = true, .sort_param = "subject"}).size(), 4u);
  EXPECT_EQ(ids({.count = 10, .sort_param = "date') --"}), ids({.count = 10}));
}

TEST_P(StoreContract, PresenceConditionsAskWhetherAResourceHasTheParam) {
  // ":missing": the param with no value (and no system) holds when the resource has it at all,
  // whether the index, the row's terms or the JSON keeps it; negated, when it has not.
  InboundRecord r = Record("MISSING-1");
  ResourceWrite full = Observation("m-full", "Patient/m", "2026-11-10T08:00:00Z");
  full.json = R"({"resourceType":"Observation","id":"m-full","status":"final","subject":{"reference":"Patient/m"},)"
              R"("performer":[{"reference":"Practitioner/rn-1"}],"valueInteger":7})";
  r.resources.push_back(full);
  ResourceWrite bare;
  bare.type = "Observation";
  bare.id = "m-bare";
  bare.json = R"({"resourceType":"Observation","id":"m-bare","status":"final","performer":[{"display":"a nurse"}]})";
  bare.index = {{"status", "", "final"}};
  r.resources.push_back(bare);
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  auto ids = [&](const char* param, bool negated) {
    SearchCondition c{param, SearchCondition::Op::kEq, false, "", ""};
    c.negated = negated;
    std::set<std::string> out;
    auto page = store_->SearchResources("Observation", {c}, {.count = 10});
    EXPECT_TRUE(page.ok()) << param << ": " << page.status().message();
    if (page.ok()) {
      for (const auto& x : page->resources) out.insert(x.id);
    }
    return out;
  };
  using Ids = std::set<std::string>;
  for (const char* param : {"subject", "date", "performer", "value-quantity"}) {
    EXPECT_EQ(ids(param, false), (Ids{"m-full"})) << param;
    EXPECT_EQ(ids(param, true), (Ids{"m-bare"})) << param;
  }
  EXPECT_EQ(ids("status", false), (Ids{"m-bare", "m-full"}));
  EXPECT_EQ(ids("status", true), (Ids{}));
}

TEST_P(StoreContract, IdsByIdentifierNameEveryOwnerOfEachIdentifier) {
  InboundRecord r = Record("I1");
  r.resources.push_back(Patient("pat-i1", "MRN-I1"));
  r.resources.push_back(Patient("pat-i2", "MRN-I2"));
  r.resources.push_back(Patient("pat-i3", "MRN-I2"));  // a second owner of MRN-I2
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  auto found = store_->IdsByIdentifier("Patient", {"urn:mrn|MRN-I1", "urn:mrn|MRN-I2", "urn:mrn|MRN-none", "urn:other|MRN-I1"});
  ASSERT_TRUE(found.ok()) << found.status().message();
  std::sort(found->begin(), found->end());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"urn:mrn|MRN-I1", "pat-i1"}, {"urn:mrn|MRN-I2", "pat-i2"}, {"urn:mrn|MRN-I2", "pat-i3"}};
  EXPECT_EQ(*found, expected);
  EXPECT_TRUE(store_->IdsByIdentifier("Observation", {"urn:mrn|MRN-I1"})->empty());
  EXPECT_TRUE(store_->IdsByIdentifier("Patient", {})->empty());
  // Many at once: one statement for a hundred.
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back("urn:mrn|MRN-X" + std::to_string(i));
  many.push_back("urn:mrn|MRN-I1");
  auto one = store_->IdsByIdentifier("Patient", many);
  ASSERT_TRUE(one.ok()) << one.status().message();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].second, "pat-i1");
}

TEST_P(StoreContract, TypeAndSystemHistoryListEveryKeptVersionNewestFirst) {
  ASSERT_TRUE(store_->AppendAndWait([] {
                InboundRecord r = Record("H1");
                r.resources.push_back(Patient("pat-h", "MRN-H1"));
                return r;
              }())
                  .ok());
  InboundRecord update = Record("H2");
  update.resources.push_back(Patient("pat-h", "MRN-H2"));
  update.resources[0].update = true;
  ASSERT_TRUE(store_->AppendAndWait(update).ok());
  InboundRecord obs = Record("H3");
  obs.resources.push_back(Observation("obs-h", "Patient/pat-h", "2026-11-23"));
  ASSERT_TRUE(store_->AppendAndWait(obs).ok());

  auto patients = store_->History("Patient", "", "", {.count = 10});
  ASSERT_TRUE(patients.ok()) << patients.status().message();
  EXPECT_EQ(patients->total, 2);
  EXPECT_FALSE(patients->more);
  ASSERT_EQ(patients->resources.size(), 2u);
  EXPECT_EQ(patients->resources[0].version, 2);
  EXPECT_NE(patients->resources[0].json.find("MRN-H2"), std::string::npos);
  EXPECT_EQ(patients->resources[1].version, 1);
  EXPECT_NE(patients->resources[1].json.find("MRN-H1"), std::string::npos);
  for (const auto& r : patients->resources) EXPECT_EQ(r.type + "/" + r.id, "Patient/pat-h");
  for (const auto& r : patients->resources) EXPECT_EQ(r.written_by, "RDE^O11");

  auto all = store_->History("", "", "", {.count = 10});
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->total, 3);
  ASSERT_EQ(all->resources.size(), 3u);
  EXPECT_EQ(all->resources[0].type + "/" + all->resources[0].id, "Observation/obs-h");
  for (size_t i = 1; i < all->resources.size(); ++i) {
    EXPECT_GE(all->resources[i - 1].last_updated, all->resources[i].last_updated);
  }
  // Pages: one row more tells whether more follow; uncounted pages have no total.
  auto second = store_->History("", "", "", {.count = 1, .offset = 1, .counted = false});
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->total.has_value());
  EXPECT_TRUE(second->more);
  ASSERT_EQ(second->resources.size(), 1u);
  EXPECT_EQ(second->resources[0].last_updated, all->resources[1].last_updated);
  EXPECT_FALSE(store_->History("", "", "", {.count = 1, .offset = 2})->more);
  // Since a time: the versions last updated at or after it.
  const std::string since = all->resources[0].last_updated;
  auto recent = store_->History("", since, "", {.count = 10});
  ASSERT_TRUE(recent.ok());
  ASSERT_GE(recent->resources.size(), 1u);
  EXPECT_EQ(recent->resources[0].id, "obs-h");
  for (const auto& r : recent->resources) EXPECT_GE(r.last_updated, since);
  EXPECT_EQ(store_->History("", "9999-01-01T00:00:00.000Z", "", {.count = 10})->total, 0);
  EXPECT_EQ(store_->History("Medication", "", "", {.count = 10})->total, 0);
  // Until a time: the versions last updated at or before it (what a first page saw, for its next links).
  const std::string until = all->resources[1].last_updated;
  auto older = store_->History("", "", until, {.count = 10});
  ASSERT_TRUE(older.ok());
  EXPECT_EQ(older->total, static_cast<int64_t>(std::count_if(all->resources.begin(), all->resources.end(),
                                                             [&](const auto& r) { return r.last_updated <= until; })));
  for (const auto& r : older->resources) EXPECT_LE(r.last_updated, until);
  EXPECT_EQ(store_->History("", "", "2000-01-01T00:00:00.000Z", {.count = 10})->total, 0);
  EXPECT_EQ(store_->History("", "2026-01-01T00:00:00.000Z", "2000-01-01T00:00:00.000Z", {.count = 10})->total, 0);
}

TEST_P(StoreContract, SearchesBySubjectStartFromThatSubject) {
  InboundRecord r = Record("O1");
  r.resources.push_back(Observation("o1", "Patient/a", "2026-11-01T08:00:00Z"));
  r.resources.push_back(Observation("o2", "Patient/a", "2026-11-20T08:00:00Z"));
  r.resources.push_back(Observation("o3", "Patient/b", "2026-11-20T08:00:00Z"));
  r.resources.push_back(Observation("o4", "Patient/a", "2026-11-21T08:00:00Z", "cancelled"));
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  auto ids = [&](const std::vector<SearchCondition>& c) { return ObservationIds(c); };
  EXPECT_EQ(ids({{"subject", Op::kEq, false, "", "Patient/a"}}), (std::set<std::string>{"o1", "o2", "o4"}));
  EXPECT_EQ(ids({{"subject", Op::kEq, false, "", "Patient/a"}, {"date", Op::kGe, false, "", "2026-11-15"},
                 {"status", Op::kEq, false, "", "final"}}),
            (std::set<std::string>{"o2"}));
  EXPECT_EQ(ids({{"subject", Op::kEq, false, "", "Patient/a"}, {"subject", Op::kEq, false, "", "Patient/b"}}),
            (std::set<std::string>{}));
  EXPECT_TRUE(ids({{"subject", Op::kEq, false, "", "Patient/nobody"}}).empty());
  EXPECT_TRUE(ids({{"subject", Op::kEq, false, "", "Patient/a' OR '1'='1"}}).empty());
  // An update that moves an observation to another patient moves it in the search too.
  InboundRecord moved = Record("O2");
  moved.resources.push_back(Observation("o1", "Patient/b", "2026-11-01T08:00:00Z"));
  moved.resources[0].update = true;
  ASSERT_EQ(store_->AppendAndWait(moved)->resources[0].outcome, ResourceOutcome::kUpdated);
  EXPECT_EQ(ids({{"subject", Op::kEq, false, "", "Patient/a"}}), (std::set<std::string>{"o2", "o4"}));
  EXPECT_EQ(ids({{"subject", Op::kEq, false, "", "Patient/b"}}), (std::set<std::string>{"o1", "o3"}));
}

// An administration's order (MedicationAdministration.request) is kept by value, as subjects are:
// an order's administrations, and a list of orders at once (one list of index probes).
TEST_P(StoreContract, AdministrationsAreFoundByTheirOrder) {
  auto given = [](const std::string& id, const std::string& order) {
    ResourceWrite w;
    w.type = "MedicationAdministration";
    w.id = id;
    w.json = R"({"resourceType":"MedicationAdministration","id":")" + id + R"(","request":{"reference":")" + order + R"("}})";
    w.index = {{"request", "", order}, {"subject", "", "Patient/a"}, {"status", "", "completed"}};
    return w;
  };
  InboundRecord r = Record("R1");
  r.resources.push_back(given("ma1", "MedicationRequest/o1"));
  r.resources.push_back(given("ma2", "MedicationRequest/o1"));
  r.resources.push_back(given("ma3", "MedicationRequest/o2"));
  r.resources.push_back(given("ma4", "MedicationRequest/o3"));
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  using Ids = std::set<std::string>;
  auto ids = [&](const std::vector<SearchCondition>& conditions) {
    Ids out;
    auto page = store_->SearchResources("MedicationAdministration", conditions, {10, 0});
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (page.ok()) {
      EXPECT_EQ(page->total, static_cast<int64_t>(page->resources.size()));
      for (const auto& x : page->resources) out.insert(x.id);
    }
    return out;
  };
  auto order = [](std::string value, int group = 0) {
    SearchCondition c{"request", Op::kEq, false, "", std::move(value)};
    c.or_group = group;
    return c;
  };
  EXPECT_EQ(ids({order("MedicationRequest/o1")}), (Ids{"ma1", "ma2"}));
  EXPECT_EQ(ids({order("MedicationRequest/o1", 1), order("MedicationRequest/o3", 1), order("MedicationRequest/none", 1)}),
            (Ids{"ma1", "ma2", "ma4"}));
  EXPECT_EQ(ids({order("MedicationRequest/o1", 1), order("MedicationRequest/o2", 1),
                 {"status", Op::kEq, false, "", "completed"}}),
            (Ids{"ma1", "ma2", "ma3"}));
  // A group that mixes params stays an OR of its alternatives.
  EXPECT_EQ(ids({order("MedicationRequest/o2", 1), {"_id", Op::kEq, false, "", "ma4", false, 1}}), (Ids{"ma3", "ma4"}));
  EXPECT_TRUE(ids({order("o1")}).empty());
  // An update that points an administration at another order moves it.
  InboundRecord moved = Record("R2");
  moved.resources.push_back(given("ma2", "MedicationRequest/o2"));
  moved.resources[0].update = true;
  ASSERT_EQ(store_->AppendAndWait(moved)->resources[0].outcome, ResourceOutcome::kUpdated);
  EXPECT_EQ(ids({order("MedicationRequest/o1")}), (Ids{"ma1"}));
  EXPECT_EQ(ids({order("MedicationRequest/o2")}), (Ids{"ma2", "ma3"}));
}

// An observation's value compared as a number from its JSON (valueQuantity.value, or valueInteger),
// with the unit when asked: resources stored before the search existed are found too.
TEST_P(StoreContract, ObservationsAreFoundByTheirValue) {
  auto observed = [](const std::string& id, const std::string& value) {
    ResourceWrite w;
    w.type = "Observation";
    w.id = id;
    w.json = R"({"resourceType":"Observation","id":")" + id + R"(",)" + value + "}";
    w.index = {{"subject", "", "Patient/a"}};
    return w;
  };
  InboundRecord r = Record("V1");
  r.resources.push_back(observed("pain3", R"("valueInteger":3)"));
  r.resources.push_back(observed("pain9", R"("valueInteger":9)"));
  r.resources.push_back(observed("kg80", R"("valueQuantity":{"value":80.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"})"));
  r.resources.push_back(observed("lb80", R"("valueQuantity":{"value":80,"unit":"lb","system":"http://unitsofmeasure.org","code":"[lb_av]"})"));
  r.resources.push_back(observed("none", R"("valueString":"80")"));
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  using Ids = std::set<std::string>;
  auto value = [](Op op, std::string number, std::string unit = "", int group = 0) {
    SearchCondition c{"value-quantity", op, !unit.empty(), unit, std::move(number)};
    c.or_group = group;
    return c;
  };
  EXPECT_EQ(ObservationIds({value(Op::kGe, "9")}), (Ids{"pain9", "kg80", "lb80"}));
  EXPECT_EQ(ObservationIds({value(Op::kLt, "9")}), (Ids{"pain3"}));
  EXPECT_EQ(ObservationIds({value(Op::kGe, "80.45"), value(Op::kLt, "80.55")}), (Ids{"kg80"}));
  EXPECT_EQ(ObservationIds({value(Op::kGe, "10"), value(Op::kLe, "100")}), (Ids{"kg80", "lb80"}));  // 10 < 80 as numbers
  EXPECT_EQ(ObservationIds({value(Op::kGt, "50", "http://unitsofmeasure.org|kg")}), (Ids{"kg80"}));
  EXPECT_EQ(ObservationIds({value(Op::kGt, "50", "|lb")}), (Ids{"lb80"}));        // the unit as written
  EXPECT_EQ(ObservationIds({value(Op::kGt, "50", "|[lb_av]")}), (Ids{"lb80"}));   // or its code
  EXPECT_EQ(ObservationIds({value(Op::kGt, "50", "urn:other|kg")}), (Ids{}));
  EXPECT_EQ(ObservationIds({value(Op::kLt, "3", "", 1), value(Op::kGe, "80.5", "", 1)}), (Ids{"kg80"}));  // ne-like
}

// Who ordered, gave or observed: references read from the candidate's JSON (a top-level element, or
// one inside each element of an array), alone, in a list, negated.
TEST_P(StoreContract, OrdersAndAdministrationsAreFoundByTheirPractitioner) {
  auto resource = [](const std::string& type, const std::string& id, const std::string& body) {
    ResourceWrite w;
    w.type = type;
    w.id = id;
    w.json = R"({"resourceType":")" + type + R"(","id":")" + id + R"(")" + body + "}";
    return w;
  };
  InboundRecord r = Record("P1");
  r.resources.push_back(resource("MedicationRequest", "mr1", R"(,"requester":{"reference":"Practitioner/dr-a"})"));
  r.resources.push_back(resource("MedicationRequest", "mr2", R"(,"requester":{"reference":"Practitioner/dr-b"})"));
  r.resources.push_back(resource("MedicationRequest", "mr3", ""));
  r.resources.push_back(resource("MedicationAdministration", "ma1",
                                 R"(,"performer":[{"actor":{"reference":"Practitioner/rn-x"}},{"actor":{"reference":"Practitioner/dr-a"}}])"));
  r.resources.push_back(resource("MedicationAdministration", "ma2", R"(,"performer":{"actor":{"reference":"Practitioner/rn-x"}})"));
  r.resources.push_back(resource("Observation", "ob1", R"(,"performer":[{"reference":"Practitioner/rn-x"}])"));
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  using Ids = std::set<std::string>;
  auto ids = [&](const std::string& type, std::vector<SearchCondition> conditions) {
    Ids out;
    auto page = store_->SearchResources(type, conditions, {10, 0});
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (page.ok()) for (const auto& x : page->resources) out.insert(x.id);
    return out;
  };
  auto by = [](std::string param, std::string value, int group = 0, bool negated = false) {
    SearchCondition c{std::move(param), Op::kEq, false, "", std::move(value)};
    c.or_group = group;
    c.negated = negated;
    return c;
  };
  EXPECT_EQ(ids("MedicationRequest", {by("requester", "Practitioner/dr-a")}), (Ids{"mr1"}));
  EXPECT_EQ(ids("MedicationRequest", {by("requester", "Practitioner/dr-a", 1), by("requester", "Practitioner/dr-b", 1)}),
            (Ids{"mr1", "mr2"}));
  EXPECT_EQ(ids("MedicationRequest", {by("requester", "Practitioner/dr-a", 0, true)}), (Ids{"mr2", "mr3"}));
  EXPECT_EQ(ids("MedicationAdministration", {by("performer", "Practitioner/dr-a")}), (Ids{"ma1"}));  // the second performer
  EXPECT_EQ(ids("MedicationAdministration", {by("performer", "Practitioner/rn-x")}), (Ids{"ma1"}));  // ma2's is no array
  EXPECT_EQ(ids("Observation", {by("performer", "Practitioner/rn-x")}), (Ids{"ob1"}));
  EXPECT_EQ(ids("Observation", {by("performer", "Practitioner/rn-x' OR '1'='1")}), (Ids{}));
}

TEST_P(StoreContract, SearchesWithAlternativesAndNegations) {
  InboundRecord r = Record("N1");
  r.resources.push_back(Observation("o1", "Patient/a", "2026-11-01T08:00:00Z"));
  r.resources.push_back(Observation("o2", "Patient/b", "2026-11-20T08:00:00Z", "amended"));
  r.resources.push_back(Observation("o3", "Patient/c", "2026-11-20T08:00:00Z", "cancelled"));
  ASSERT_TRUE(store_->AppendAndWait(r).ok());
  using Op = SearchCondition::Op;
  auto ids = [&](const std::vector<SearchCondition>& c) { return ObservationIds(c); };
  using Ids = std::set<std::string>;
  auto is = [](std::string param, std::string value, int group = 0, bool negated = false) {
    SearchCondition c{std::move(param), Op::kEq, false, "", std::move(value)};
    c.or_group = group;
    c.negated = negated;
    return c;
  };
  // One group: any of its conditions; two groups: one of each; every param kind the stores keep
  // apart (in the row's terms, in the index by value, the resource's own columns).
  EXPECT_EQ(ids({is("status", "final", 1), is("status", "amended", 1)}), (Ids{"o1", "o2"}));
  EXPECT_EQ(ids({is("subject", "Patient/a", 1), is("subject", "Patient/c", 1)}), (Ids{"o1", "o3"}));
  EXPECT_EQ(ids({is("_id", "o2", 1), is("_id", "o3", 1), is("_id", "nope", 1)}), (Ids{"o2", "o3"}));
  EXPECT_EQ(ids({is("status", "final", 1), is("status", "amended", 1), is("subject", "Patient/b", 2),
                 is("subject", "Patient/c", 2)}),
            (Ids{"o2"}));
  EXPECT_EQ(ids({is("status", "final", 1), is("subject", "Patient/c", 1)}), (Ids{"o1", "o3"}));
  // Negated: what does not match, also a resource without that entry.
  EXPECT_EQ(ids({is("status", "final", 0, true)}), (Ids{"o2", "o3"}));
  EXPECT_EQ(ids({is("status", "final", 0, true), is("status", "cancelled", 0, true)}), (Ids{"o2"}));
  EXPECT_EQ(ids({is("subject", "Patient/a", 0, true)}), (Ids{"o2", "o3"}));
  EXPECT_EQ(ids({is("_id", "o1", 0, true)}), (Ids{"o2", "o3"}));
  EXPECT_EQ(ids({is("category", "vital-signs", 0, true)}), (Ids{"o1", "o2", "o3"}));
}

TEST_P(StoreContract, ClaimHandsOutTheOldestItemOfEachPartitionOnly) {
  auto& s = *store_;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M2", {{"Patient/b", "b1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M3", {{"Patient/a", "a2"}})).ok());
  auto first = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(Payloads(*first), (std::vector<std::string>{"a1", "b1"}));
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_FALSE((*first)[0].outcome_unknown);
  EXPECT_EQ(s.ClaimOutbox("registry", kNow, 1)->size(), (GetParam() == "sqlite" ? 1u : 0u))
      << "SQLite: one process, so 'sending' at a claim means left from a stop; PostgreSQL: leased to this instance";
  ASSERT_TRUE(s.MarkDelivered({(*first)[0].id, (*first)[1].id}, kNow).ok());
  auto second = s.ClaimOutbox("registry", kNow, 10);
  EXPECT_EQ(Payloads(*second), (std::vector<std::string>{"a2"}));
  // A retry due later holds back its partition.
  ASSERT_TRUE(s.MarkRetry((*second)[0].id, kLater, "HTTP 503").ok());
  EXPECT_TRUE(s.ClaimOutbox("registry", kNow, 10)->empty());
  auto due = s.ClaimOutbox("registry", kLater, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2);
  EXPECT_EQ((*due)[0].last_error, "HTTP 503");
  EXPECT_TRUE(s.ClaimOutbox("other", kLater, 10)->empty());
}

// A worker's round trip: what it delivered is recorded and its next items claimed in one call, and
// a partition whose item was just recorded delivered hands out its next one in that same call.
TEST_P(StoreContract, DeliveredResultsAndTheNextClaimInOneCall) {
  auto& s = *store_;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/b", "b1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M2", {{"Patient/a", "a2"}})).ok());
  auto first = s.MarkDeliveredAndClaim({}, "registry", kNow, 10);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(Payloads(*first), (std::vector<std::string>{"a1", "b1"}));
  auto second = s.MarkDeliveredAndClaim({(*first)[0].id, (*first)[1].id}, "registry", kNow, 10);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(Payloads(*second), (std::vector<std::string>{"a2"}));
  EXPECT_FALSE((*second)[0].outcome_unknown);
  auto delivered = s.ListOutbox("registry", OutboxState::kDelivered, 10);
  ASSERT_TRUE(delivered.ok());
  EXPECT_EQ(Payloads(*delivered), (std::vector<std::string>{"a1", "b1"}));
  auto last = s.MarkDeliveredAndClaim({(*second)[0].id}, "registry", kNow, 10);
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->empty());
  EXPECT_EQ(s.ListOutbox("registry", OutboxState::kDelivered, 10)->size(), 3u);
}

TEST_P(StoreContract, AnItemLeftSendingGoesAgainAsOutcomeUnknown) {
  ASSERT_TRUE(store_->AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
  ASSERT_EQ(store_->ClaimOutbox("registry", kNow, 10)->size(), 1u);
  Reopen();  // stopped while a1 was out
  ASSERT_TRUE(store_->AppendAndWait(Queued("M2", {{"Patient/a", "a2"}, {"Patient/c", "c1"}})).ok());
  auto again = store_->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(Payloads(*again), (std::vector<std::string>{"a1", "c1"}));  // a2 still waits behind a1
  EXPECT_TRUE((*again)[0].outcome_unknown);
  EXPECT_EQ((*again)[0].attempts, 2);
  EXPECT_FALSE((*again)[1].outcome_unknown);
}

TEST_P(StoreContract, AnUnclaimedItemGoesAgainAsNeverSent) {
  ASSERT_TRUE(store_->AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/a", "a2"}})).ok());
  auto claimed = store_->ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(Payloads(*claimed), (std::vector<std::string>{"a1"}));
  ASSERT_TRUE(store_->Unclaim((*claimed)[0].id).ok());  // the worker stopped before a1 went out
  EXPECT_EQ(store_->ListOutbox("registry", OutboxState::kPending, 10)->size(), 2u);
  Reopen();
  auto again = store_->ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(Payloads(*again), (std::vector<std::string>{"a1"}));  // still first of its partition
  EXPECT_FALSE((*again)[0].outcome_unknown);
  EXPECT_EQ((*again)[0].attempts, 1);
  // Only an item being sent goes back: a delivered one stays delivered.
  ASSERT_TRUE(store_->MarkDelivered({(*again)[0].id}, kNow).ok());
  ASSERT_TRUE(store_->Unclaim((*again)[0].id).ok());
  EXPECT_EQ(store_->Stats("registry")->delivered, 1);
}

TEST_P(StoreContract, DeadLettersAreListedReplayedAndCounted) {
  auto& s = *store_;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/b", "b1"}})).ok());
  auto items = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(items->size(), 2u);
  ASSERT_TRUE(s.MarkDead((*items)[0].id, "HTTP 422").ok());
  ASSERT_TRUE(s.MarkDelivered({(*items)[1].id}, kNow).ok());
  auto stats = s.Stats("registry");
  EXPECT_EQ(stats->pending, 0);
  EXPECT_EQ(stats->dead, 1);
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->oldest_pending_ms, 0);
  auto dead = s.ListOutbox("registry", OutboxState::kDead, 10);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].write.payload, "a1");
  EXPECT_EQ((*dead)[0].last_error, "HTTP 422");
  EXPECT_EQ(s.ListOutbox("", OutboxState::kDead, 10)->size(), 1u);
  auto one = s.Replay({.id = (*items)[0].id});
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->replayed, (std::vector<std::pair<int64_t, std::string>>{{(*items)[0].id, "registry"}}));
  EXPECT_TRUE(one->held.empty());
  EXPECT_EQ(s.Replay({.id = (*items)[1].id}).status().code(), StatusCode::kNotFound);  // delivered, not dead
  EXPECT_EQ(s.Replay({.id = 999999}).status().code(), StatusCode::kNotFound);
  stats = s.Stats("registry");
  EXPECT_EQ(stats->pending, 1);
  EXPECT_GT(stats->oldest_pending_ms, 0);
  auto replayed = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(replayed->size(), 1u);
  EXPECT_EQ((*replayed)[0].attempts, 1);
}

// A dead letter after which its patient's later item went out (delivered, or on the wire) would
// reach the destination after it: held unless forced. One whose later items still wait is replayed
// (they wait behind it again).
TEST_P(StoreContract, AReplayThatWouldOvertakeItsPatientsLaterDeliveryIsHeldUnlessForced) {
  auto& s = *store_;
  auto claim_one = [&](const std::string& payload) -> int64_t {
    auto claimed = s.ClaimOutbox("registry", kNow, 10);
    EXPECT_TRUE(claimed.ok());
    for (const OutboxItem& item : *claimed) {
      if (item.write.payload == payload) return item.id;
    }
    ADD_FAILURE() << payload << " was not claimed";
    return 0;
  };
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/b", "b1"}, {"Patient/c", "c1"},
                                            {"Patient/d", "d1"}})).ok());
  auto first = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(first->size(), 4u);
  std::map<std::string, int64_t> id;
  for (const OutboxItem& item : *first) {
    id[item.write.payload] = item.id;
    ASSERT_TRUE(s.MarkDead(item.id, "HTTP 422").ok());
  }
  ASSERT_TRUE(s.AppendAndWait(Queued("M2", {{"Patient/a", "a2"}, {"Patient/c", "c2"}, {"Patient/d", "d2"}})).ok());
  id["a2"] = claim_one("a2");
  id["d2"] = id["a2"] + 2;  // claimed in the same round: on the wire, not delivered
  ASSERT_TRUE(s.MarkDelivered({id["a2"]}, kNow).ok());
  ASSERT_TRUE(s.Unclaim(id["a2"] + 1).ok());  // c2 waits, never sent
  using Replayed = std::vector<std::pair<int64_t, std::string>>;
  auto held_a = s.Replay({.id = id["a1"]});
  ASSERT_TRUE(held_a.ok()) << held_a.status().message();
  EXPECT_TRUE(held_a->replayed.empty());
  ASSERT_EQ(held_a->held.size(), 1u);
  EXPECT_EQ(held_a->held[0].id, id["a1"]);
  EXPECT_EQ(held_a->held[0].destination, "registry");
  EXPECT_EQ(held_a->held[0].sent_after, id["a2"]);
  EXPECT_EQ(s.Stats("registry")->dead, 4);  // nothing changed
  EXPECT_TRUE(s.Replay({.destination = "elsewhere"})->replayed.empty());
  // Every dead letter of the destination: b1 (nothing after it), c1 (c2 still waits) go; a1 and d1
  // (d2 is on the wire) are held.
  auto all = s.Replay({.destination = "registry"});
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->replayed, (Replayed{{id["b1"], "registry"}, {id["c1"], "registry"}}));
  ASSERT_EQ(all->held.size(), 2u);
  EXPECT_EQ(all->held[0].id, id["a1"]);
  EXPECT_EQ(all->held[1].id, id["d1"]);
  EXPECT_EQ(all->held[1].sent_after, id["d2"]);
  const std::vector<std::string> next = Payloads(*s.ClaimOutbox("registry", kNow, 10));
  EXPECT_NE(std::find(next.begin(), next.end(), "b1"), next.end());
  EXPECT_NE(std::find(next.begin(), next.end(), "c1"), next.end());
  EXPECT_EQ(std::find(next.begin(), next.end(), "c2"), next.end());  // c1 before c2 again
  // Forced: sent although a2 went first.
  auto forced = s.Replay({.id = id["a1"], .force = true});
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->replayed, (Replayed{{id["a1"], "registry"}}));
  auto everywhere = s.Replay({.force = true});
  ASSERT_TRUE(everywhere.ok());
  EXPECT_EQ(everywhere->replayed, (Replayed{{id["d1"], "registry"}}));
  EXPECT_EQ(s.Stats("registry")->dead, 0);
}

TEST_P(StoreContract, RetentionRemovesOnlyOldDeliveredItems) {
  auto& s = *store_;
  ASSERT_TRUE(s.AppendAndWait(Queued("M1", {{"Patient/a", "a1"}, {"Patient/b", "b1"}, {"Patient/c", "c1"}})).ok());
  ASSERT_TRUE(s.AppendAndWait(Queued("M2", {{"Patient/d", "d1"}, {"Patient/e", "e1"}})).ok());
  auto items = s.ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(items->size(), 5u);
  ASSERT_TRUE(s.MarkDelivered({(*items)[0].id, (*items)[1].id}, 1000).ok());  // long ago
  ASSERT_TRUE(s.MarkDelivered({(*items)[2].id}, kNow).ok());                  // just now
  ASSERT_TRUE(s.MarkDead((*items)[3].id, "HTTP 422").ok());
  ASSERT_TRUE(s.MarkRetry((*items)[4].id, kLater, "HTTP 503").ok());
  auto first = s.PruneDelivered(kNow - 1000, 1);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, 1);  // the limit holds
  EXPECT_EQ(*s.PruneDelivered(kNow - 1000, 100), 1);
  EXPECT_EQ(*s.PruneDelivered(kNow - 1000, 100), 0);
  auto stats = s.Stats("registry");
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->dead, 1);
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(*s.Count(), 2);  // the messages stay
  EXPECT_EQ(s.ListOutbox("registry", OutboxState::kDead, 10)->size(), 1u);
  EXPECT_EQ(Payloads(*s.ClaimOutbox("registry", kLater, 10)), (std::vector<std::string>{"e1"}));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, testing::Values("sqlite", "postgres"),
                         [](const testing::TestParamInfo<std::string>& store) { return store.param; });

// What sharing one PostgreSQL database between gateway instances adds.
class PostgresInstances : public testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = PgCluster::Get().CreateDatabase();
    ASSERT_FALSE(conninfo_.empty()) << "no PostgreSQL server for the tests (deploy/setup.sh installs it)";
  }
  std::unique_ptr<PostgresStore> Open(const std::string& instance, int64_t lease_ms = 300000) {
    auto s = PostgresStore::Open({conninfo_, instance, lease_ms, 512});
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string conninfo_;
};

TEST_F(PostgresInstances, TwoInstancesNeverHoldTheSameItemAndKeepEachPatientsOrder) {
  auto a = Open("gw-a");
  auto b = Open("gw-b");
  ASSERT_TRUE(a && b);
  constexpr int kMessages = 400;
  for (int i = 0; i < kMessages; ++i) {
    MessageStore& via = i % 2 == 0 ? static_cast<MessageStore&>(*a) : *b;
    ASSERT_TRUE(via.AppendAndWait(Queued("M" + std::to_string(i), {{"Patient/" + std::to_string(i % 13),
                                                                      std::to_string(i)}})).ok());
  }
  // Both claim and deliver at the same time, as two gateways' workers do.
  std::mutex mutex;
  std::map<std::string, std::vector<int>> order;  // partition -> payloads in delivery order
  std::set<int64_t> seen;
  bool twice = false;
  std::atomic<int> delivered{0};
  auto worker = [&](PostgresStore& s) {
    for (int idle = 0; idle < 50 && delivered < kMessages;) {
      auto items = s.ClaimOutbox("registry", kNow, 16);
      ASSERT_TRUE(items.ok()) << items.status().message();
      if (items->empty()) {
        ++idle;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      std::vector<int64_t> ids;
      {
        std::lock_guard lock(mutex);
        for (const auto& item : *items) {
          if (!seen.insert(item.id).second) twice = true;
          order[item.write.partition].push_back(std::stoi(item.write.payload));
          ids.push_back(item.id);
        }
      }
      ASSERT_TRUE(s.MarkDelivered(ids, kNow).ok());
      delivered += static_cast<int>(ids.size());
    }
  };
  std::thread ta(worker, std::ref(*a));
  std::thread tb(worker, std::ref(*b));
  ta.join();
  tb.join();
  EXPECT_EQ(delivered.load(), kMessages);
  EXPECT_FALSE(twice);
  for (const auto& [partition, payloads] : order) {
    for (size_t k = 1; k < payloads.size(); ++k) EXPECT_LT(payloads[k - 1], payloads[k]) << partition;
  }
}

TEST_F(PostgresInstances, AnotherInstanceTakesAnItemOverOnlyWhenItsLeaseRanOut) {
  auto a = Open("gw-a", 1000);
  auto b = Open("gw-b", 1000);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
  auto held = a->ClaimOutbox("registry", kNow, 10);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_TRUE(b->ClaimOutbox("registry", kNow + 999, 10)->empty()) << "a's lease still runs";
  auto taken = b->ClaimOutbox("registry", kNow + 1000, 10);
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_TRUE((*taken)[0].outcome_unknown);
  EXPECT_EQ((*taken)[0].attempts, 2);
}

TEST_F(PostgresInstances, TwoInstancesCreatingOneIdentifierMakeOneResource) {
  auto a = Open("gw-a");
  auto b = Open("gw-b");
  ASSERT_TRUE(a && b);
  constexpr int kRounds = 20;
  int created = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string mrn = "MRN-RACE-" + std::to_string(round);
    Result<AppendOutcome> ra = Unavailable(""), rb = Unavailable("");
    auto create = [&](PostgresStore& s, const std::string& id, Result<AppendOutcome>& out) {
      InboundRecord r = Record("RACE-" + id);
      r.resources.push_back(Patient(id, mrn));
      r.resources[0].unless_identifier = "urn:mrn|" + mrn;
      out = s.AppendAndWait(r);
    };
    std::thread ta(create, std::ref(*a), "a-" + std::to_string(round), std::ref(ra));
    std::thread tb(create, std::ref(*b), "b-" + std::to_string(round), std::ref(rb));
    ta.join();
    tb.join();
    ASSERT_TRUE(ra.ok() && rb.ok()) << (ra.ok() ? rb.status().message() : ra.status().message());
    created += (ra->resources[0].outcome == ResourceOutcome::kCreated) + (rb->resources[0].outcome == ResourceOutcome::kCreated);
    EXPECT_EQ(a->SearchResources("Patient", {{"identifier", SearchCondition::Op::kEq, true, "urn:mrn", mrn}}, {10, 0})->total, 1)
        << mrn;
  }
  EXPECT_EQ(created, kRounds);
}

TEST_F(PostgresInstances, AServerRestartCostsAtMostOneRefusedBatchThenItReconnects) {
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->AppendAndWait(Queued("M1", {{"Patient/a", "a1"}})).ok());
  ASSERT_TRUE(PgCluster::Get().Restart());
  // The first use of a dropped connection fails (the caller answers AR / 503 and the sender
  // retries); the connection is reset and what follows succeeds.
  auto first = a->AppendAndWait(Queued("M2", {{"Patient/b", "b1"}}));
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
    ASSERT_TRUE(a->AppendAndWait(Queued("M2", {{"Patient/b", "b1"}})).ok());
  }
  EXPECT_TRUE(a->AppendAndWait(Queued("M3", {{"Patient/c", "c1"}})).ok());
  auto claimed = a->ClaimOutbox("registry", kNow, 10);
  if (!claimed.ok()) claimed = a->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  EXPECT_EQ(Payloads(*claimed), (std::vector<std::string>{"a1", "b1", "c1"}));
  auto count = a->Count();
  if (!count.ok()) count = a->Count();
  EXPECT_EQ(*count, 3);
}

TEST_F(PostgresInstances, AnOlderSchemasIndexByValueIsDroppedOnOpen) {
  ASSERT_TRUE(Open("gw-a"));
  const std::string psql = "psql '" + conninfo_ + "' -Atc ";
  ASSERT_EQ(store::Run(psql + "'CREATE INDEX resource_index_lookup ON resource_index (type, param, value)' && echo made"),
            "CREATE INDEX\nmade");
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(store::Run(psql + "\"SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE "
                       "tablename = 'resource_index'\""),
            "resource_index_identifier resource_index_owner resource_index_request resource_index_subject");
  // Identity matches still find a resource by its identifier.
  InboundRecord first = Record("IX1");
  first.resources.push_back(Patient("pat-a", "MRN-A"));
  first.resources[0].unless_identifier = "urn:mrn|MRN-A";
  ASSERT_EQ(a->AppendAndWait(first)->resources[0].outcome, ResourceOutcome::kCreated);
  InboundRecord second = Record("IX2");
  second.resources.push_back(Patient("pat-b", "MRN-A"));
  second.resources[0].unless_identifier = "urn:mrn|MRN-A";
  auto again = a->AppendAndWait(second);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->resources[0].id, "pat-a");
}

TEST_F(PostgresInstances, AnOlderSchemasAdministrationsAreIndexedByTheirOrderOnOpen) {
  {
    auto a = Open("gw-a");
    ASSERT_TRUE(a);
    InboundRecord r = Record("RQ1");
    ResourceWrite w;
    w.type = "MedicationAdministration";
    w.id = "ma1";
    w.json = R"({"resourceType":"MedicationAdministration","id":"ma1","request":{"reference":"MedicationRequest/o1"}})";
    r.resources.push_back(w);
    w.id = "ma2";
    w.json = R"({"resourceType":"MedicationAdministration","id":"ma2"})";
    r.resources.push_back(w);
    ASSERT_TRUE(a->AppendAndWait(r).ok());
  }
  const std::string psql = "psql '" + conninfo_ + "' -Atc ";
  ASSERT_EQ(store::Run(psql + "'DROP INDEX resource_index_request' && echo dropped"), "DROP INDEX\ndropped");
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(store::Run(psql + "\"SELECT id || ' ' || value FROM resource_index WHERE param = 'request'\""),
            "ma1 MedicationRequest/o1");
  auto page = a->SearchResources("MedicationAdministration", {{"request", SearchCondition::Op::kEq, false, "",
                                                               "MedicationRequest/o1"}}, {10, 0});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->resources.size(), 1u);
  EXPECT_EQ(page->resources[0].id, "ma1");
  // Opened again, the index is there: nothing is added twice.
  ASSERT_TRUE(Open("gw-b"));
  EXPECT_EQ(store::Run(psql + "\"SELECT count(*) FROM resource_index WHERE param = 'request'\""), "1");
}

TEST_F(PostgresInstances, AnOlderSchemasOutboxQueueIndexGivesWayToOneOfUndeliveredItems) {
  ASSERT_TRUE(Open("gw-a"));
  const std::string psql = "psql '" + conninfo_ + "' -Atc ";
  ASSERT_EQ(store::Run(psql + "'DROP INDEX outbox_undelivered; CREATE INDEX outbox_queue ON outbox "
                              "(destination, partition, state, id)' && echo made"),
            "DROP INDEX\nCREATE INDEX\nmade");
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(store::Run(psql + "\"SELECT string_agg(indexname || ': ' || regexp_replace(indexdef, '.* USING ', ''), "
                              "' / ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'outbox' AND indexname LIKE "
                              "'outbox_%'\""),
            "outbox_message: btree (message_id) / outbox_pkey: btree (id) / outbox_state: btree (destination, state, id) / "
            "outbox_undelivered: btree (destination, partition, id) "
            "WHERE (state = ANY (ARRAY['pending'::text, 'sending'::text]))");
  // A patient's second item still waits for the first, which leaves the index once delivered.
  for (const char* id : {"Q1", "Q2"}) {
    InboundRecord r = Record(id);
    r.outbox.push_back({"registry", "Patient/p1", "application/fhir+json", id, std::string("k-") + id});
    ASSERT_TRUE(a->AppendAndWait(r).ok());
  }
  auto first = a->ClaimOutbox("registry", kNow, 10);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].write.payload, "Q1");
  auto second = a->MarkDeliveredAndClaim({(*first)[0].id}, "registry", kNow, 10);
  ASSERT_TRUE(second.ok()) << second.status().message();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].write.payload, "Q2");
  EXPECT_EQ(store::Run(psql + "\"SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')\""), "1");
}

// A claim asks, per candidate, whether it is its patient's oldest undelivered item. Written as NOT
// EXISTS (an older undelivered item), PostgreSQL ran that as an anti join which, with statistics
// taken while the outbox was small, read every undelivered item of the destination per candidate
// (0.5 s a claim with 9,000 queued). Guard: statistics of an empty outbox, then 10,000 items for
// 200 patients; the claims, the first ones (a plan for their values) and the later ones (the plan
// PostgreSQL may keep for any values), each read a few hundred pages at most. pg_stat_statements
// (loaded by pg_cluster.sh) counts the pages each statement touched: a count, not a time.
TEST_F(PostgresInstances, AClaimReadsAFewPagesWhateverTheBacklogAndTheStatistics) {
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  const std::string psql = "psql '" + conninfo_ + "' -Atc ";
  ASSERT_EQ(store::Run(psql + "'CREATE EXTENSION IF NOT EXISTS pg_stat_statements; "
                              "ALTER TABLE outbox SET (autovacuum_enabled = false); ANALYZE outbox' && echo ready"),
            "CREATE EXTENSION\nALTER TABLE\nANALYZE\nready");
  for (int m = 0; m < 50; ++m) ASSERT_TRUE(a->AppendAndWait(ForEveryPatient("B", m, 200)).ok());
  const std::string pages = psql + "\"SELECT sum(shared_blks_hit + shared_blks_read) / sum(calls) FROM pg_stat_statements "
                                   "WHERE query LIKE 'WITH %due AS%'\"";
  std::set<std::string> patients;
  auto claim = [&] {
    auto items = a->ClaimOutbox("registry", kNow, 16);
    ASSERT_TRUE(items.ok()) << items.status().message();
    ASSERT_EQ(items->size(), 16u);
    for (const auto& item : *items) EXPECT_TRUE(patients.insert(item.write.partition).second) << item.write.partition;
  };
  store::Run(psql + "'SELECT pg_stat_statements_reset()'");
  claim();
  const std::string first = store::Run(pages);
  ASSERT_FALSE(first.empty());
  EXPECT_LT(std::stol(first), 400) << "pages read by the first claim";
  for (int i = 0; i < 6; ++i) claim();
  store::Run(psql + "'SELECT pg_stat_statements_reset()'");
  for (int i = 0; i < 3; ++i) claim();
  const std::string later = store::Run(pages);
  ASSERT_FALSE(later.empty());
  EXPECT_LT(std::stol(later), 400) << "pages read per later claim";
  std::printf("pages per claim statement: first %s, later %s\n", first.c_str(), later.c_str());
}

// Heads waiting for their retry hold the items behind them (a destination that is down): a claim
// that finds nothing due must not read that backlog item by item (it did, as the SQLite store's
// did, see sqlite_store_test). 20 heads in backoff, 4,980 items behind them.
TEST_F(PostgresInstances, AClaimDoesNotReadTheBacklogBehindHeadsInBackoff) {
  auto a = Open("gw-a");
  ASSERT_TRUE(a);
  const std::string psql = "psql '" + conninfo_ + "' -Atc ";
  ASSERT_EQ(store::Run(psql + "'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' && echo ready"), "CREATE EXTENSION\nready");
  constexpr int kPatients = 20;
  auto queue = [&](int from, int to) {
    for (int m = from; m < to; ++m) ASSERT_TRUE(a->AppendAndWait(ForEveryPatient("H", m, kPatients)).ok());
  };
  queue(0, 1);
  auto heads = a->ClaimOutbox("registry", kNow, 64);
  ASSERT_TRUE(heads.ok()) << heads.status().message();
  ASSERT_EQ(heads->size(), static_cast<size_t>(kPatients));
  for (const auto& item : *heads) ASSERT_TRUE(a->MarkRetry(item.id, kNow + 60000, "connection refused").ok());
  queue(1, 250);
  store::Run(psql + "'ANALYZE outbox; SELECT pg_stat_statements_reset()'");
  auto none = a->ClaimOutbox("registry", kNow, 64);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  const std::string pages = store::Run(psql + "\"SELECT sum(shared_blks_hit + shared_blks_read) FROM pg_stat_statements "
                                              "WHERE query LIKE 'WITH %due AS%'\"");
  ASSERT_FALSE(pages.empty());
  std::printf("pages read by a claim that finds nothing due: %s\n", pages.c_str());
  // Item by item through the whole backlog: 15,050. Now the oldest 500 due items (~6 pages each),
  // then one index descent per patient: ~3,100, whatever the backlog's length.
  EXPECT_LT(std::stol(pages), 5000) << "pages read by a claim that hands out nothing";
  auto due = a->ClaimOutbox("registry", kNow + 60000, 64);
  ASSERT_TRUE(due.ok()) << due.status().message();
  ASSERT_EQ(due->size(), static_cast<size_t>(kPatients));
  for (const auto& item : *due) EXPECT_EQ(item.attempts, 2);
}

TEST(PostgresStoreOpen, AnUnreachableServerIsUnavailable) {
  auto s = PostgresStore::Open({"host=/nonexistent-kgw port=5432 user=kgw dbname=x connect_timeout=2", "gw", 300000, 512});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("cannot connect to PostgreSQL"), std::string::npos);
}

}  // namespace
}  // namespace ketamine::store
