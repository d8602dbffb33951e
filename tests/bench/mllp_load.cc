// MLLP load generator: N connections, each sending one message at a time and waiting for its
// ACK (as MLLP senders do), for a fixed time. Prints messages/s and ACK latency percentiles.
//   mllp_load 127.0.0.1:2575 --connections 16 --seconds 10 --message RDE_O11-bench.hl7 [--patients 1000]
// --patients N gives each message one of N patient identifiers (PID-3's first id), as a clinic's
// traffic is spread over its patients (deliveries are ordered per patient), and an order number of
// its own (ORC-2, ORC-3).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mllp/client.h"

namespace {

struct Settings {
  std::string host;
  uint16_t port = 0;
  int connections = 16;
  double seconds = 10;
  std::string message;
  int patients = 0;  // 0: the message's own PID-3
};

int Usage() {
  std::fprintf(stderr, "usage: mllp_load HOST:PORT [--connections N] [--seconds S] [--patients N] --message FILE\n");
  return 2;
}

// Replaces the first component of field SEG-`field` (up to its first component separator), in the
// first such segment; MSH counts its field separator as MSH-1, as HL7 does.
std::string WithFirstComponent(const std::string& message, const std::string& segment, int field, const std::string& value) {
  size_t pos = message.rfind(segment + "|", 0) == 0 ? 0 : message.find("\r" + segment + "|");
  if (pos == std::string::npos) return message;
  if (pos > 0) ++pos;  // past the CR
  for (int i = 0; i < (segment == "MSH" ? field - 1 : field); ++i) {
    pos = message.find('|', pos);
    if (pos == std::string::npos) return message;
    ++pos;
  }
  size_t end = message.find_first_of("^~|\r", pos);
  return message.substr(0, pos) + value + message.substr(end);
}

// One of the clinic's patients (PID-3's first identifier), and an order of its own (ORC-2 and
// ORC-3): every message is a new order, as in a clinic's traffic.
std::string WithPatientAndOrder(const std::string& message, int patient, const std::string& order) {
  std::string out = WithFirstComponent(message, "PID", 3, "LOADPT-" + std::to_string(patient));
  out = WithFirstComponent(out, "ORC", 2, "P" + order);
  return WithFirstComponent(out, "ORC", 3, "F" + order);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  Settings s;
  auto target = ketamine::mllp::ParseHostPort(argv[1]);
  if (!target.ok()) return Usage();
  s.host = target->first;
  s.port = target->second;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string opt = argv[i];
    if (opt == "--connections") s.connections = std::stoi(argv[i + 1]);
    else if (opt == "--seconds") s.seconds = std::stod(argv[i + 1]);
    else if (opt == "--patients") s.patients = std::stoi(argv[i + 1]);
    else if (opt == "--message") {
      std::ifstream in(argv[i + 1], std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      s.message = text.str();
    } else {
      return Usage();
    }
  }
  if (s.message.empty()) return Usage();

  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(s.connections));
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  const auto stop = start + std::chrono::duration<double>(s.seconds);
  for (int c = 0; c < s.connections; ++c) {
    threads.emplace_back([&, c] {
      auto client = ketamine::mllp::Client::Connect(s.host, s.port);
      if (!client.ok()) {
        std::fprintf(stderr, "connect: %s\n", client.status().message().c_str());
        failed = true;
        return;
      }
      auto& mine = latencies[static_cast<size_t>(c)];
      mine.reserve(200000);
      std::string prefix = "LOAD-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
                           "-" + std::to_string(c) + "-";
      for (uint64_t i = 0; std::chrono::steady_clock::now() < stop; ++i) {
        // A new MSH-10 every time: every message is new to the gateway (no duplicate short-cut).
        std::string msg = WithFirstComponent(s.message, "MSH", 10, prefix + std::to_string(i));
        if (s.patients > 0) {
          msg = WithPatientAndOrder(msg, static_cast<int>((i * 7919 + static_cast<uint64_t>(c)) % static_cast<uint64_t>(s.patients)),
                                    prefix + std::to_string(i));
        }
        auto t0 = std::chrono::steady_clock::now();
        auto r = (*client)->Send(msg);
        auto t1 = std::chrono::steady_clock::now();
        if (!r.ok() || !r->Accepted()) {
          std::fprintf(stderr, "send: %s\n", r.ok() ? r->code.c_str() : r.status().message().c_str());
          failed = true;
          return;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  std::printf("{\"connections\":%d,\"seconds\":%.2f,\"messages\":%zu,\"messages_per_second\":%.0f,"
              "\"ack_latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
              "\"message_bytes\":%zu,\"errors\":%s}\n",
              s.connections, elapsed, all.size(), static_cast<double>(all.size()) / elapsed, pct(0.5), pct(0.9),
              pct(0.99), pct(0.999), all.empty() ? 0.0 : all.back(), s.message.size(),
              failed ? "true" : "false");
  return failed ? 1 : 0;
}
