// Fuzzes the FHIR REST facade (http/facade.h) end to end on a real SQLite store in a scratch
// folder: routing of paths and methods, query parameters and search, conditional headers, bodies
// for create, update, transaction and batch Bundles, $validate and $convert-data. The input reads
// like an HTTP request, already decoded as the listener hands it over:
//   METHOD PATH?name=value&name=value
//   header-name: value
//   (an empty line)
//   body
// Properties: no crash, no hang; exactly one answer per request, never a 5xx (the store is
// healthy); an error answer (4xx) is an OperationOutcome that parses, and so is every JSON answer.
// The store keeps what earlier inputs wrote, so reads, updates and conditional creates meet
// existing resources.
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "common/check.h"
#include "fhir/json.h"
#include "http/facade.h"
#include "scratch_gateway.h"

namespace {

using ketamine::http::Request;
using ketamine::http::Response;

struct Gateway {
  ScratchGateway parts{"kgw-rest-fuzz"};
  std::shared_ptr<ketamine::http::Facade> facade = std::make_shared<ketamine::http::Facade>(
      parts.store, parts.validator, parts.converter, ketamine::http::FacadeOptions{});
};

std::string_view NextLine(std::string_view& rest) {
  const size_t end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Request ReadRequest(std::string_view in) {
  Request request;
  std::string_view first = NextLine(in);
  const size_t space = first.find(' ');
  request.method = std::string(first.substr(0, space));
  std::string_view target =
      space == std::string_view::npos ? std::string_view("/fhir") : first.substr(space + 1);
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      request.query.emplace_back(
          std::string(pair.substr(0, eq)),
          eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1)));
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    }
  }
  while (!in.empty()) {
    std::string_view line = NextLine(in);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers[name] = std::string(value);
  }
  request.body = std::string(in);
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Gateway gateway;
  const Request request = ReadRequest({reinterpret_cast<const char*>(data), size});
  auto answered = std::make_shared<std::promise<Response>>();
  auto answers = std::make_shared<std::atomic<int>>(0);
  gateway.facade->Handle(request, [answered, answers](Response r) {
    // A second answer to one request is a defect of its own: checked before the promise throws.
    KETAMINE_CHECK(answers->fetch_add(1) == 0);
    answered->set_value(std::move(r));
  });
  const Response response = answered->get_future().get();
  KETAMINE_CHECK(response.status >= 200 && response.status < 500);
  const bool json = response.content_type == "application/fhir+json" ||
                    response.content_type == "application/json";
  if (response.status >= 400) KETAMINE_CHECK(json);
  if (json && !response.body.empty()) {
    auto doc = ketamine::fhir::ParseJson(response.body);
    KETAMINE_CHECK(doc.ok());
    if (response.status >= 400) {
      KETAMINE_CHECK(ketamine::fhir::StringMemberView(**doc, "resourceType") == "OperationOutcome");
    }
  }
  return 0;
}
