// The yardstick of the REST benchmark: a trivial cpprestsdk handler on the same machine that reads
// the request body and answers 201, nothing else. Prints "listening http 127.0.0.1:PORT".
//   build/release/tests/http_trivial [PORT]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "http/server.h"

int main(int argc, char** argv) {
  ketamine::http::ServerOptions options;
  options.port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  auto server = ketamine::http::Server::Start(options, [](const ketamine::http::Request& r, ketamine::http::Responder respond) {
    respond({201, "application/fhir+json", {}, r.body.empty() ? "" : "{}"});
  });
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().message().c_str());
    return 3;
  }
  std::printf("listening http 127.0.0.1:%u\n", (*server)->port());
  std::fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int signal = 0;
  sigwait(&set, &signal);
  (*server)->Stop();
  return 0;
}
