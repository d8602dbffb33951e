// Folder inboxes: a clinic's infusion-chair system that can only export files (a CSV of pain scores
// and vitals every night, into a shared folder) is served as if it uploaded them. One thread polls
// every inbox folder; a file is taken once its size and time stayed the same for one poll (so a file
// still being written is left alone), handed to the importer, and moved to done/ when it was stored
// or failed/ when it was refused, with the importer's answer beside it (NAME.outcome.json). When the
// store cannot take it now the file stays where it is for the next poll. Nothing is deleted.
//   auto inboxes = Inboxes::Start({{.name = "chairs", .folder = "/srv/in", .layout = "pain-vitals"}}, import);
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace ketamine::inbox {

struct InboxOptions {
  std::string name;               // for logs and metrics (the file names are not logged: they may name patients)
  std::filesystem::path folder;   // done/ and failed/ are made inside it
  std::string layout;             // mappings/csv/{layout}.json
  std::string charset;            // the files' character set (iconv name); "" = the layout's
  int poll_ms = 2000;
  size_t max_bytes = 8 << 20;     // a larger file is refused (failed/) without being read
};

// What the importer made of a file: stored (done/), refused (failed/), or not taken now (stays).
enum class Verdict { kStored, kRefused, kRetry };
struct ImportResult {
  Verdict verdict = Verdict::kRetry;
  std::string outcome;  // written beside the moved file as NAME.outcome.json (empty: none)
  int status = 0;       // the importer's HTTP status, for the logs
};
using Importer = std::function<ImportResult(const InboxOptions& inbox, std::string bytes)>;

struct InboxCounters {
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> retried{0};
};

class Inboxes {
 public:
  // Makes each folder with its done/ and failed/ (an error names the folder) and, with `run`, starts
  // the polling thread (kgw-inbox); without, PollOnce drives it (tests).
  static Result<std::unique_ptr<Inboxes>> Start(std::vector<InboxOptions> inboxes, Importer import, bool run = true);
  ~Inboxes();
  Inboxes(const Inboxes&) = delete;
  Inboxes& operator=(const Inboxes&) = delete;

  // Finishes the file in hand and stops polling.
  void Stop();
  // One look at every folder: files seen unchanged since the last look are imported, in name order.
  void PollOnce();
  const InboxCounters& counters(size_t inbox) const { return *counters_.at(inbox); }
  const std::vector<InboxOptions>& inboxes() const { return inboxes_; }
  std::string PrometheusText() const;

 private:
  Inboxes(std::vector<InboxOptions> inboxes, Importer import);
  struct Seen {
    uintmax_t size = 0;
    std::filesystem::file_time_type time;
  };
  void Poll(size_t index);
  void Take(size_t index, const std::filesystem::path& file);
  void Loop();

  std::vector<InboxOptions> inboxes_;
  Importer import_;
  std::vector<std::unique_ptr<InboxCounters>> counters_;
  std::vector<std::map<std::filesystem::path, Seen>> seen_;  // per inbox: what the last look found
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ketamine::inbox
