// PostgreSQL implementation of MessageStore, for several gateway instances sharing one database
// (libpq). The same contract as the SQLite store: group commit (one writer connection commits
// whatever appends wait as one transaction, each record in a savepoint), duplicate messages by
// (sending application, facility, control id) answered from the store, resources with history and
// search index, and the outbox. What sharing adds:
// - writes of one resource, and conditional creates/updates of one business identifier, are
//   serialized across instances with transaction advisory locks (no duplicate from two instances
//   racing on the same identifier);
// - a claim takes items with FOR UPDATE SKIP LOCKED and leases them to this instance for lease_ms:
//   two instances never send the same item at once, each patient's items still go one at a time
//   and in order, and an item whose instance died goes out again ("outcome unknown", with its
//   idempotency key) once the lease has run out. An instance that restarts under the same name
//   takes its own leased items back at once.
//   auto store = PostgresStore::Open({.conninfo = "host=/run/postgresql dbname=kgw", .instance = "gw-a"});
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/group_commit.h"
#include "store/message_store.h"

namespace ketamine::store {

struct PostgresOptions {
  std::string conninfo;    // libpq connection string or URI
  std::string instance;    // this gateway among those sharing the database; default: the host name
  int64_t lease_ms = 300000;  // a claimed item is this instance's for so long (longer than a batch's sends)
  size_t max_batch = 512;     // appends per transaction at most
};

class PostgresStore : public MessageStore {
 public:
  // Connects (three connections: writer, reader, outbox) and creates the tables when missing.
  // kUnavailable when the server cannot be reached or refuses.
  static Result<std::unique_ptr<PostgresStore>> Open(const PostgresOptions& options);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void Append(InboundRecord record, AppendCallback done) override;
  Result<std::vector<StoredMessage>> List(int64_t after_id, size_t limit) override;
  Result<std::vector<StoredMessage>> FindMessages(std::string_view control_id, std::string_view sending_facility,
                                                  size_t limit) override;
  Result<std::vector<StoredMessage>> MessagesOfResource(std::string_view type, std::string_view id,
                                                        size_t limit) override;
  Result<int64_t> Count() override;
  uint64_t commits() const override;
  uint64_t appends() const override;
  Result<StoredResource> ReadResource(std::string_view type, std::string_view id) override;
  Result<std::vector<std::pair<std::string, std::string>>> IdsByIdentifier(
      std::string_view type, const std::vector<std::string>& identifiers) override;
  Result<SearchPage> History(std::string_view type, std::string_view since, std::string_view until,
                             const SearchRange& range) override;
  Result<std::vector<StoredResource>> ResourceVersions(std::string_view type, std::string_view id,
                                                       int64_t version) override;
  Result<SearchPage> SearchResources(std::string_view type, const std::vector<SearchCondition>& conditions,
                                     const SearchRange& range) override;
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

  const PostgresOptions& options() const { return options_; }

 private:
  class Connection;
  PostgresStore(PostgresOptions options, std::unique_ptr<Connection> writer, std::unique_ptr<Connection> reader,
                std::unique_ptr<Connection> outbox);
  std::vector<Result<AppendOutcome>> CommitBatch(const std::deque<PendingAppend>& batch);
  Result<bool> WriteResources(const std::vector<ResourceWrite>& writes, int64_t message_id,
                              std::vector<ResourceResult>& results);

  PostgresOptions options_;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;
  std::unique_ptr<Connection> outbox_;
  std::mutex reader_mutex_;
  std::mutex outbox_mutex_;
  std::unique_ptr<GroupCommitter> committer_;  // the writer thread, on writer_
};

}  // namespace ketamine::store
