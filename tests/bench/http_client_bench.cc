// The outbound FHIR client alone: POSTs of a transaction Bundle to a FHIR endpoint (for example
// tests/bench/fhir_sink.mjs) in batches through one kept-alive pool, as a delivery worker sends
// them. Prints requests/s for each number of requests in flight.
//   build/release/tests/http_client_bench http://127.0.0.1:PORT/fhir BUNDLE.json [SECONDS=5]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "http/client.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: http_client_bench URL BUNDLE.json [SECONDS]\n");
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const double seconds = argc > 3 ? std::atof(argv[3]) : 5;
  auto client = ketamine::http::Client::Make(argv[1], {});
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().message().c_str());
    return 1;
  }
  for (size_t in_flight : {1, 4, 8, 16, 32}) {
    std::vector<ketamine::http::OutgoingPost> posts(64, {text.str(), {{"Content-Type", "application/fhir+json"}}});
    size_t done = 0, failed = 0;
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds)) {
      for (const auto& r : (*client)->PostAll(posts, in_flight)) (r.ok() && r->status < 300 ? done : failed)++;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"in_flight\":%zu,\"requests_per_s\":%.0f,\"failed\":%zu,\"body_bytes\":%zu}\n", in_flight,
                static_cast<double>(done) / elapsed, failed, text.str().size());
  }
  return 0;
}
