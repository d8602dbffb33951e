// Durable ACK under a crash: the gateway is killed with SIGKILL while clients are sending. After a
// restart every message that was ACKed is in the store exactly once, and the senders' retries
// of the unacknowledged ones are taken exactly once too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "mllp/client.h"
#include "store/sqlite_store.h"

namespace ketamine {
namespace {

struct Gateway {
  pid_t pid = -1;
  uint16_t port = 0;
};

// Starts `ketamine-gateway serve` on port 0 and reads the port from its first stdout line.
Gateway StartGateway(const std::filesystem::path& data_dir) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(KGW_BIN, KGW_BIN, "serve", "--data-dir", data_dir.c_str(), "--mllp-port", "0", "--http-port", "0",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  Gateway gw{pid, 0};
  size_t colon = line.rfind(':');
  if (line.rfind("listening mllp ", 0) == 0 && colon != std::string::npos) {
    gw.port = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }
  EXPECT_NE(gw.port, 0) << "gateway did not start: '" << line << "'";
  return gw;
}

int Stop(const Gateway& gw, int signal) {
  kill(gw.pid, signal);
  int status = 0;
  waitpid(gw.pid, &status, 0);
  return status;
}

std::string Message(const std::string& control_id) {
  // A complete ketamine administration: it converts and validates cleanly, so it gets AA.
  return "MSH|^~\\&|PUMP|ICU|GW|HOSP|20261123||RAS^O17^RAS_O17|" + control_id +
         "|P|2.5.1\rPID|1||MRN1^^^HOSP^MR||Doe^Jane\rORC|RE|ORD-1^EHR\rRXA|0|1|20261123090000-0500|"
         "20261123130000-0500|238082^ketamine 10 MG/ML^RXNORM|112|mg^mg^UCUM|||RN1^Lee^Sam|||||LOT1|"
         "20270630||||CP|A\rRXR|IV\r";
}

TEST(CrashTest, EveryAckedMessageSurvivesSigkillExactlyOnce) {
  auto dir = std::filesystem::temp_directory_path() / ("kgw-crash-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::set<std::string> acked;
  std::set<std::string> sent;
  std::mutex mutex;
  constexpr int kRounds = 3;
  constexpr int kClients = 8;
  for (int round = 0; round < kRounds; ++round) {
    Gateway gw = StartGateway(dir);
    ASSERT_NE(gw.port, 0);
    std::atomic<bool> stop{false};
    std::atomic<int> acked_this_round{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        mllp::ClientOptions options;
        options.ack_timeout_ms = 5000;
        auto client = mllp::Client::Connect("127.0.0.1", gw.port, options);
        if (!client.ok()) return;
        for (int i = 0; !stop; ++i) {
          std::string id = "R" + std::to_string(round) + "-C" + std::to_string(c) + "-" + std::to_string(i);
          {
            std::lock_guard lock(mutex);
            sent.insert(id);
          }
          auto r = (*client)->Send(Message(id));
          if (!r.ok()) return;  // the gateway died under us
          if (r->code == "AA") {
            std::lock_guard lock(mutex);
            acked.insert(id);
            ++acked_this_round;
          }
        }
      });
    }
    // Kill in the middle of traffic, after some messages were acknowledged.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (acked_this_round < 500 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const bool enough = acked_this_round >= 500;
    int status = Stop(gw, SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    stop = true;
    for (auto& t : clients) t.join();
    ASSERT_TRUE(enough) << "the gateway did not acknowledge (AA) the test messages";
  }

  // Restart: the store must open (WAL recovery) and take the senders' retries of whatever was
  // not acknowledged; the ones stored just before the crash come back as duplicates with AA.
  Gateway gw = StartGateway(dir);
  ASSERT_NE(gw.port, 0);
  auto client = mllp::Client::Connect("127.0.0.1", gw.port);
  ASSERT_TRUE(client.ok());
  int retried = 0;
  for (const auto& id : sent) {
    if (acked.count(id)) continue;
    auto r = (*client)->Send(Message(id));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->code, "AA") << id;
    ++retried;
  }
  client->reset();
  EXPECT_EQ(WEXITSTATUS(Stop(gw, SIGTERM)), 0);

  auto store = store::SqliteStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::map<std::string, int> copies;
  int64_t after = 0;
  while (true) {
    auto page = (*store)->List(after, 5000);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const auto& m : *page) {
      after = m.id;
      if (m.record.listener != "mllp") continue;  // the sandbox's seeded examples came in over HTTP
      ++copies[m.record.control_id];
    }
  }
  EXPECT_GE(acked.size(), static_cast<size_t>(kRounds * 500));
  for (const auto& id : acked) EXPECT_EQ(copies[id], 1) << id << " was ACKed";
  for (const auto& id : sent) EXPECT_EQ(copies[id], 1) << id << " after the retry";
  EXPECT_EQ(copies.size(), sent.size());
  std::printf("crash test: %zu sent, %zu acked before the kills, %d retried after restart\n",
              sent.size(), acked.size(), retried);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ketamine
