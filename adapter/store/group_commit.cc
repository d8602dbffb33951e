#include "store/group_commit.h"

#include "common/thread_name.h"

namespace ketamine::store {

GroupCommitter::GroupCommitter(size_t max_batch, Commit commit, std::function<void()> after_batch)
    : max_batch_(max_batch == 0 ? 1 : max_batch), commit_(std::move(commit)), after_batch_(std::move(after_batch)) {
  thread_ = std::thread([this] {
    NameThisThread("kgw-store");
    Loop();
  });
}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Append(InboundRecord record, MessageStore::AppendCallback done,
                            std::vector<std::string> prepared) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back({std::move(record), std::move(done), std::move(prepared)});
      wake_.notify_one();
      return;
    }
  }
  done(Unavailable("the store is shutting down"));
}

void GroupCommitter::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t GroupCommitter::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

uint64_t GroupCommitter::appends() const {
  std::lock_guard lock(mutex_);
  return appends_;
}

void GroupCommitter::Loop() {
  while (true) {
    std::deque<PendingAppend> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued was written
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Result<AppendOutcome>> results = commit_(batch);
    {
      std::lock_guard lock(mutex_);
      ++commits_;
      appends_ += batch.size();
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
    if (after_batch_) after_batch_();
  }
}

}  // namespace ketamine::store
