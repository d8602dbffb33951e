// SQLite implementation of MessageStore: WAL mode, synchronous=FULL, one writer thread that
// commits whatever appends are waiting as one transaction (group commit).
//   auto store = SqliteStore::Open("data");  // creates data/gateway.db
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "store/group_commit.h"
#include "store/message_store.h"
#include "store/sqlite.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ketamine::store {


class SqliteStore : public MessageStore {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& data_dir,
                                                   SqliteOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void Append(InboundRecord record, AppendCallback done) override;
  Result<std::vector<StoredMessage>> List(int64_t after_id, size_t limit) override;
  Result<std::vector<StoredMessage>> FindMessages(std::string_view control_id, std::string_view sending_facility,
                                                  size_t limit) override;
  Result<std::vector<StoredMessage>> MessagesOfResource(std::string_view type, std::string_view id,
                                                        size_t limit) override;
  Result<int64_t> Count() override;
  Result<StoredResource> ReadResource(std::string_view type, std::string_view id) override;
  Result<std::vector<std::pair<std::string, std::string>>> IdsByIdentifier(
      std::string_view type, const std::vector<std::string>& identifiers) override;
  Result<SearchPage> History(std::string_view type, std::string_view since, std::string_view until,
                             const SearchRange& range) override;
  Result<std::vector<StoredResource>> ResourceVersions(std::string_view type, std::string_view id,
                                                       int64_t version) override;
  Result<SearchPage> SearchResources(std::string_view type, const std::vector<SearchCondition>& conditions,
                                     const SearchRange& range) override;

  static constexpr const char* kFileName = "gateway.db";
  // Commits done so far; appends / commits is the mean group size.
  uint64_t commits() const override;
  uint64_t appends() const override;
  // SQLite virtual machine steps of the last claim's queries (a count of the work, for tests).
  uint64_t claim_steps() const { return claim_steps_.load(std::memory_order_relaxed); }
  // Passes of the checkpoint thread so far.
  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  // The checkpoint passes, and the WAL restarts: done, given up (a reader held on for the 100 ms
  // they may wait) and the time they held new commits back.
  std::string MetricsText() const override;
  Result<std::vector<OutboxItem>> MarkDeliveredAndClaim(const std::vector<int64_t>& delivered,
                                                        std::string_view destination, int64_t now_ms,
                                                        size_t limit) override;
  Status MarkRetry(int64_t id, int64_t next_attempt_ms, std::string_view error) override;
  Status Unclaim(int64_t id) override;
  Status MarkDead(int64_t id, std::string_view error) override;
  Result<std::vector<OutboxItem>> ListOutbox(std::string_view destination, OutboxState state, size_t limit) override;
  Result<std::vector<OutboxItem>> OutboxOfMessage(int64_t message_id) override;
  Result<ReplayOutcome> Replay(const ReplaySelection& which) override;
  Result<OutboxStats> Stats(std::string_view destination) override;
  Result<int64_t> PruneDelivered(int64_t delivered_before_ms, size_t limit) override;

 private:
  SqliteStore(sqlite3* writer, sqlite3* reader, sqlite3* outbox, sqlite3* checkpoint, SqliteOptions options);
  std::vector<Result<AppendOutcome>> CommitBatch(const std::deque<PendingAppend>& batch);
  // On outbox_ (outbox_mutex_ held): what a claim would hand out, in or out of a transaction.
  Result<std::vector<OutboxItem>> FindClaimable(std::string_view destination, int64_t now_ms, size_t limit);
  // Inside a transaction on outbox_ (outbox_mutex_ held): the parts of the calls above.
  Result<std::vector<OutboxItem>> ClaimInTransaction(std::string_view destination, int64_t now_ms, size_t limit);
  Status MarkDeliveredInTransaction(const std::vector<int64_t>& ids, int64_t now_ms);
  // WAL checkpoints (see the constructor): the hook every connection calls after a commit, the
  // checkpoint thread, and the writer's own when that thread falls far behind.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);
  void CheckpointLoop();
  void CheckpointAfterBatch();
  Result<ResourceResult> DecideResource(const ResourceWrite& w, const std::string& now);
  Status ApplyResource(const ResourceWrite& w, const ResourceResult& decided, int64_t message_id);
  Result<bool> WriteResources(const std::vector<ResourceWrite>& writes, int64_t message_id,
                              std::vector<ResourceResult>& results);

  // The writer's statements, prepared once (by the writer thread) and finalized at close.
  struct sqlite3_stmt* Prepared(size_t slot, const char* sql);
  std::vector<struct sqlite3_stmt*> prepared_;
  int wal_frames_ = 0;  // frames in the WAL after the writer's last commit (writer thread only)
  // Each connection is used by one thread at a time (SQLite's own lock is off): writer_ by the
  // writer thread only, reader_ under reader_mutex_, outbox_ under outbox_mutex_.
  sqlite3* writer_;
  sqlite3* reader_;
  sqlite3* outbox_;  // delivery state (claims, results), beside the writer's group commits
  sqlite3* checkpoint_;  // the checkpoint thread's
  std::mutex outbox_mutex_;
  SqliteOptions options_;
  std::mutex reader_mutex_;
  std::thread checkpointer_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wake_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stopping_ = false;
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> wal_restarts_{0};
  std::atomic<uint64_t> wal_restarts_given_up_{0};
  std::atomic<uint64_t> wal_restart_us_{0};
  std::atomic<uint64_t> wal_restart_max_us_{0};
  std::atomic<uint64_t> claim_steps_{0};
  std::atomic<int> wal_copied_{0};  // WAL pages copied by the last pass
  std::unique_ptr<GroupCommitter> committer_;  // the writer thread, on writer_
};

}  // namespace ketamine::store
