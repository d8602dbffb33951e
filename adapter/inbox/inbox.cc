#include "inbox/inbox.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>
#include <system_error>

#include "common/clock.h"
#include "common/file.h"
#include "common/issue.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "fhir/operation_outcome.h"

namespace ketamine::inbox {
namespace {

namespace fs = std::filesystem;

// A file the inbox takes: a regular *.csv (any case) that is not hidden (exporters often write a
// ".name.tmp" first and rename it when done).
bool Wanted(const fs::directory_entry& entry) {
  std::error_code ec;
  if (!entry.is_regular_file(ec)) return false;
  const std::string name = entry.path().filename().string();
  if (name.empty() || name[0] == '.') return false;
  std::string extension = entry.path().extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".csv";
}

// `folder`/`name`, or, when a file of that name is there already (the same export sent twice),
// the name with the time in milliseconds before its extension.
fs::path FreeName(const fs::path& folder, const fs::path& name) {
  std::error_code ec;
  fs::path target = folder / name;
  if (!fs::exists(target, ec)) return target;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::System().Now().time_since_epoch()).count();
  return folder / (name.stem().string() + "-" + std::to_string(ms) + name.extension().string());
}

}  // namespace

Inboxes::Inboxes(std::vector<InboxOptions> inboxes, Importer import)
    : inboxes_(std::move(inboxes)), import_(std::move(import)), seen_(inboxes_.size()) {
  for (size_t i = 0; i < inboxes_.size(); ++i) counters_.push_back(std::make_unique<InboxCounters>());
}

Result<std::unique_ptr<Inboxes>> Inboxes::Start(std::vector<InboxOptions> inboxes, Importer import, bool run) {
  for (const InboxOptions& box : inboxes) {
    for (const fs::path& folder : {box.folder, box.folder / "done", box.folder / "failed"}) {
      std::error_code ec;
      fs::create_directories(folder, ec);
      if (ec || !fs::is_directory(folder, ec)) return Unavailable("inbox " + box.name + ": cannot make the folder " + folder.string());
    }
  }
  std::unique_ptr<Inboxes> out(new Inboxes(std::move(inboxes), std::move(import)));
  for (const InboxOptions& box : out->inboxes_) {
    log::Info("inbox.started", {{"inbox", box.name}, {"layout", box.layout}, {"poll_ms", std::to_string(box.poll_ms)}});
  }
  if (run && !out->inboxes_.empty()) out->thread_ = std::thread([self = out.get()] { self->Loop(); });
  return out;
}

Inboxes::~Inboxes() { Stop(); }

void Inboxes::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Inboxes::Loop() {
  NameThisThread("kgw-inbox");
  using Steady = std::chrono::steady_clock;
  std::vector<Steady::time_point> due(inboxes_.size(), Steady::now());  // each inbox's next look
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    for (size_t i = 0; i < inboxes_.size(); ++i) {
      if (due[i] > Steady::now()) continue;
      Poll(i);
      due[i] = Steady::now() + std::chrono::milliseconds(inboxes_[i].poll_ms);
    }
    lock.lock();
    wake_.wait_until(lock, *std::min_element(due.begin(), due.end()), [this] { return stopping_; });
  }
}

void Inboxes::PollOnce() {
  for (size_t i = 0; i < inboxes_.size(); ++i) Poll(i);
}

void Inboxes::Poll(size_t index) {
  const InboxOptions& box = inboxes_[index];
  std::map<fs::path, Seen> now;
  std::error_code ec;
  for (fs::directory_iterator it(box.folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!Wanted(*it)) continue;
    std::error_code stat;
    Seen seen{it->file_size(stat), it->last_write_time(stat)};
    if (!stat) now[it->path()] = seen;
  }
  if (ec) log::Warn("inbox.unreadable", {{"inbox", box.name}, {"reason", ec.message()}});
  // In name order (exports named by date come in the order they were made); only what has not
  // changed since the last look, so that a file still being written is left for later.
  for (const auto& [path, seen] : now) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    auto before = seen_[index].find(path);
    if (before == seen_[index].end() || before->second.size != seen.size || before->second.time != seen.time) continue;
    Take(index, path);
  }
  seen_[index] = std::move(now);
}

void Inboxes::Take(size_t index, const fs::path& file) {
  const InboxOptions& box = inboxes_[index];
  InboxCounters& counters = *counters_[index];
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  ImportResult result;
  if (ec) return;  // gone since the look: nothing to do
  if (size > box.max_bytes) {
    // A refusal of the inbox's own, in the importer's shape (an OperationOutcome).
    Issues refused;
    refused.Error("too-large", Location(), "the file has " + std::to_string(size) + " bytes, over the inbox's max_bytes of " +
                                               std::to_string(box.max_bytes) + ": send it in parts");
    result = {Verdict::kRefused, fhir::OperationOutcomeJson(refused), 413};
  } else {
    auto bytes = ReadFile(file);
    if (!bytes.ok()) {
      log::Warn("inbox.unreadable", {{"inbox", box.name}, {"reason", "cannot read a file"}});
      return;
    }
    result = import_(box, std::move(*bytes));
  }
  if (result.verdict == Verdict::kRetry) {
    ++counters.retried;
    log::Warn("inbox.retry", {{"inbox", box.name}, {"status", std::to_string(result.status)}});
    return;
  }
  const bool stored = result.verdict == Verdict::kStored;
  const fs::path target = FreeName(box.folder / (stored ? "done" : "failed"), file.filename());
  // The answer first, then the file: a file in done/ or failed/ always has its outcome beside it.
  if (!result.outcome.empty()) {
    if (Status written = WriteFileDurably(target.string() + ".outcome.json", result.outcome); !written.ok()) {
      log::Warn("inbox.unwritable", {{"inbox", box.name}, {"reason", written.message()}});
    }
  }
  fs::rename(file, target, ec);
  if (ec) {
    // Stored but not moved: taking it again stores nothing new (the import is idempotent), so the
    // next look may; the operator sees the warning.
    log::Warn("inbox.unmovable", {{"inbox", box.name}, {"reason", ec.message()}});
    return;
  }
  ++(stored ? counters.stored : counters.refused);
  log::Info(stored ? "inbox.stored" : "inbox.refused", {{"inbox", box.name}, {"status", std::to_string(result.status)}});
}

std::string Inboxes::PrometheusText() const {
  std::ostringstream out;
  out << "# HELP ketamine_inbox_files_total Files taken from folder inboxes: stored (moved to done/), refused "
         "(failed/), retried (left for the next look).\n"
         "# TYPE ketamine_inbox_files_total counter\n";
  for (size_t i = 0; i < inboxes_.size(); ++i) {
    const InboxCounters& c = *counters_[i];
    for (const auto& [outcome, n] : {std::pair{"stored", c.stored.load()}, std::pair{"refused", c.refused.load()},
                                     std::pair{"retried", c.retried.load()}}) {
      out << "ketamine_inbox_files_total{inbox=\"" << inboxes_[i].name << "\",outcome=\"" << outcome << "\"} " << n << "\n";
    }
  }
  return out.str();
}

}  // namespace ketamine::inbox
