#include "http/operators.h"

#include <openssl/crypto.h>

#include <cctype>
#include <set>

#include "common/file.h"

namespace ketamine::http {
namespace {

constexpr size_t kMinTokenLength = 32;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

Sha256::Digest DigestOf(std::string_view token) {
  Sha256 hash;
  hash.Update(token);
  return hash.Final();
}

}  // namespace

Result<OperatorTokens> OperatorTokens::Parse(std::string_view text, const std::string& source) {
  OperatorTokens out;
  std::set<std::string> names;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = source + " line " + std::to_string(line_no);
    size_t gap = 0;
    while (gap < line.size() && std::isspace(static_cast<unsigned char>(line[gap])) == 0) ++gap;
    const std::string_view name = line.substr(0, gap);
    const std::string_view token = Trim(line.substr(gap));
    if (token.empty()) return InvalidInput(where + ": is NAME TOKEN");
    if (token.size() < kMinTokenLength || token.find_first_of(" \t") != std::string_view::npos) {
      return InvalidInput(where + ": the token of '" + std::string(name) + "' must be one word of at least " +
                          std::to_string(kMinTokenLength) + " characters");
    }
    if (!names.insert(std::string(name)).second) {
      return InvalidInput(where + ": '" + std::string(name) + "' is named twice");
    }
    out.tokens_.push_back({std::string(name), DigestOf(token)});
  }
  if (out.tokens_.empty()) return InvalidInput(source + ": no operator token in it");
  return out;
}

std::optional<std::string> OperatorTokens::Authorize(const Request& request) const {
  const std::string* header = request.Header("authorization");
  if (header == nullptr || header->size() < 7) return std::nullopt;
  std::string scheme = header->substr(0, 7);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return std::nullopt;
  const Sha256::Digest presented = DigestOf(Trim(std::string_view(*header).substr(7)));
  std::optional<std::string> who;
  for (const Token& t : tokens_) {  // every digest compared, in constant time each
    if (CRYPTO_memcmp(t.digest.data(), presented.data(), presented.size()) == 0) who = t.name;
  }
  return who;
}

Result<OperatorTokens> LoadOperatorTokens(const std::filesystem::path& file) {
  // A file of a few lines: never standard input, a device or a pipe, never megabytes.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return InvalidInput("cannot read " + file.string() + " (not a file)");
  if (std::filesystem::file_size(file, ec) > (1u << 20) || ec) return InvalidInput(file.string() + " is larger than 1 MiB");
  auto text = ReadFile(file);
  if (!text.ok()) return InvalidInput("cannot read " + file.string());
  return OperatorTokens::Parse(*text, file.string());
}

}  // namespace ketamine::http
