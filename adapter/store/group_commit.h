// Group commit for a MessageStore: appends wait in a queue; one writer thread takes whatever is
// waiting (up to max_batch), hands it to `commit` as one transaction, and calls each `done` after
// that commit. Many messages share one fsync, and no append is answered before it is durable.
// `after_batch` (optional) runs on the writer thread once a batch's callbacks were called: upkeep
// such as a WAL checkpoint goes there, so that it never holds up the answers of the batch.
//   GroupCommitter committer(512, [this](const auto& batch) { return CommitBatch(batch); });
//   committer.Append(std::move(record), std::move(done));
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/message_store.h"

namespace ketamine::store {

struct PendingAppend {
  InboundRecord record;
  MessageStore::AppendCallback done;
  // What the store prepared from the record on the appending thread, for the writer to use as is
  // (SQLite: its large blobs packed; empty when there is nothing of the kind).
  std::vector<std::string> prepared;
};

class GroupCommitter {
 public:
  // One result per record of the batch, in order.
  using Commit = std::function<std::vector<Result<AppendOutcome>>(const std::deque<PendingAppend>& batch)>;
  GroupCommitter(size_t max_batch, Commit commit, std::function<void()> after_batch = nullptr);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // After Stop, `done` gets kUnavailable at once.
  void Append(InboundRecord record, MessageStore::AppendCallback done, std::vector<std::string> prepared = {});
  // Commits what is queued, then ends the writer thread. Call it before what `commit` uses goes away.
  void Stop();
  uint64_t commits() const;
  uint64_t appends() const;

 private:
  void Loop();

  const size_t max_batch_;
  Commit commit_;
  std::function<void()> after_batch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingAppend> queue_;
  bool stopping_ = false;
  uint64_t commits_ = 0;
  uint64_t appends_ = 0;
  std::thread thread_;
};

}  // namespace ketamine::store
