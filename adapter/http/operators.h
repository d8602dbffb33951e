// Operator authentication for the endpoints that change or reveal more than FHIR clients should:
// /admin (dead letters, replays, queues) and what is mounted beside /fhir (the Schedule III
// ledger). Operators present `Authorization: Bearer TOKEN`; the gateway keeps only SHA-256
// digests of the tokens, read at start-up from a file of "NAME TOKEN" lines (# comments), and
// compares digests in constant time. The NAME goes into the log of each operator write.
//   auto ops = http::LoadOperatorTokens("/etc/ketamine-gateway/operator-tokens");
//   if (auto who = ops->Authorize(request)) ... else 401
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "http/server.h"

namespace ketamine::http {

class OperatorTokens {
 public:
  // Tokens shorter than 32 characters, a line without a name, a name given twice or a file
  // without any token are refused (kInvalidInput naming the line).
  static Result<OperatorTokens> Parse(std::string_view text, const std::string& source);
  bool empty() const { return tokens_.empty(); }
  size_t size() const { return tokens_.size(); }
  // The operator's name when the request carries one of the tokens.
  std::optional<std::string> Authorize(const Request& request) const;

 private:
  struct Token {
    std::string name;
    Sha256::Digest digest;
  };
  std::vector<Token> tokens_;
};

Result<OperatorTokens> LoadOperatorTokens(const std::filesystem::path& file);

}  // namespace ketamine::http
