#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.h"
#include "common/file.h"
#include "cli/commands.h"
#include "hl7v2/batch.h"
#include "mllp/client.h"

namespace ketamine::cli {
namespace {

constexpr const char* kSendHelp = R"(usage: ketamine-gateway mllp-send [OPTIONS] HOST:PORT FILE...

Sends the HL7 v2 messages in each FILE ('-' for standard input) over MLLP, one at a time, and
prints each ACK. A file may hold one message, several messages one after another, or an
FHS/BHS batch; segments may end in CR, LF or CR LF (they are sent with CR).

  --timeout-ms N     wait at most N ms for each ACK (default 30000); on a timeout the
                     connection is closed and the next message uses a new one
  --wait-app-ack     in enhanced mode, wait past the commit ACK (CA) for the application ACK
  --tls              use TLS (the server certificate is checked against --ca, or the system CAs)
  --ca FILE          CA bundle for the server certificate
  --cert FILE        client certificate for mutual TLS (with --key)
  --key FILE         private key of the client certificate
  --server-name NAME name the server certificate must carry (default: HOST)
  --quiet            print one summary line per message instead of the whole ACK

Exit codes: 0 every message got AA or CA, 1 some message got AE/AR/CE/CR or could not be read,
2 bad arguments, 3 the peer could not be reached or did not answer in time.
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ketamine-gateway mllp-send: %s\n", message.c_str());
  return code;
}


std::string WithCarriageReturns(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i] == '\n' ? '\r' : text[i];
  }
  if (!out.empty() && out.back() != '\r') out += '\r';
  return out;
}

std::string Printable(std::string text) {
  for (char& c : text) {
    if (c == '\r') c = '\n';
  }
  return text;
}

}  // namespace

int MllpSend(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"--timeout-ms", "--ca", "--cert", "--key", "--server-name"},
                               {"--help", "--wait-app-ack", "--tls", "--quiet"}});
  if (!args.ok()) return Fail(kExitUsage, args.status().message());
  if (args->Has("--help")) {
    std::fputs(kSendHelp, stdout);
    return kExitOk;
  }
  if (args->positional.size() < 2) return Fail(kExitUsage, "expected HOST:PORT and at least one FILE");
  auto target = mllp::ParseHostPort(args->positional[0]);
  if (!target.ok()) return Fail(kExitUsage, target.status().message());

  mllp::ClientOptions options;
  options.wait_for_application_ack = args->Has("--wait-app-ack");
  if (const std::string* t = args->Option("--timeout-ms")) {
    auto ms = ParsePositiveInt(*t, "--timeout-ms");
    if (!ms.ok()) return Fail(kExitUsage, ms.status().message());
    options.ack_timeout_ms = *ms;
  }
  bool tls = args->Has("--tls") || args->Option("--ca") || args->Option("--cert");
  if (tls) {
    mllp::TlsOptions t;
    if (const std::string* v = args->Option("--ca")) t.ca_file = *v;
    if (const std::string* v = args->Option("--cert")) t.certificate_file = *v;
    if (const std::string* v = args->Option("--key")) t.private_key_file = *v;
    if (const std::string* v = args->Option("--server-name")) t.server_name = *v;
    if (t.certificate_file.empty() != t.private_key_file.empty()) {
      return Fail(kExitUsage, "--cert and --key go together");
    }
    options.tls = t;
  }
  const bool quiet = args->Has("--quiet");

  std::unique_ptr<mllp::Client> client;
  int exit_code = kExitOk;
  for (size_t f = 1; f < args->positional.size(); ++f) {
    const std::string& name = args->positional[f];
    auto text = ReadFile(name);
    if (!text.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), text.status().message().c_str());
      exit_code = kExitRejected;
      continue;
    }
    auto batch = hl7v2::ParseBatch(*text);
    if (!batch.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), batch.status().ToString().c_str());
      exit_code = kExitRejected;
      continue;
    }
    for (size_t m = 0; m < batch->raw_messages.size(); ++m) {
      std::string message = WithCarriageReturns(batch->raw_messages[m]);
      if (!client || !client->connected()) {
        auto connected = mllp::Client::Connect(target->first, target->second, options);
        if (!connected.ok()) {
          return Fail(connected.status().code() == StatusCode::kInvalidInput ? kExitUsage
                                                                             : kExitUnavailable,
                      connected.status().message());
        }
        client = std::move(*connected);
      }
      auto result = client->Send(message);
      std::string label = name + "#" + std::to_string(m + 1) + " " +
                          std::string(batch->messages[m].ControlId());
      if (!result.ok()) {
        std::fprintf(stderr, "%s: %s\n", label.c_str(), result.status().message().c_str());
        if (result.status().code() == StatusCode::kInvalidInput) {
          exit_code = kExitRejected;
          continue;
        }
        return kExitUnavailable;
      }
      std::cout << label << " " << result->code << "\n";
      if (!quiet) {
        if (!result->accept_ack.empty()) std::cout << Printable(result->accept_ack);
        std::cout << Printable(result->ack) << "\n";
      }
      if (!result->Accepted()) exit_code = kExitRejected;
    }
  }
  std::cout.flush();
  return exit_code;
}

}  // namespace ketamine::cli
