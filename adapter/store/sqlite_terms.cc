#include "store/sqlite_terms.h"

#include "store/internal/search_rules.h"

#include <algorithm>
#include <cstdint>
#include <tuple>

namespace ketamine::store {
namespace {

// Each field: its length as a base-128 varint, then its bytes (any bytes, no separator to escape).
void PutField(std::string& out, std::string_view field) {
  uint64_t n = field.size();
  do {
    const auto low = static_cast<unsigned char>(n & 0x7f);
    n >>= 7;
    out.push_back(static_cast<char>(n != 0 ? (low | 0x80) : low));
  } while (n != 0);
  out.append(field);
}

// The next field, or false when the blob ends or is cut short.
bool TakeField(std::string_view& in, std::string_view& field) {
  uint64_t n = 0;
  for (int shift = 0;; shift += 7) {
    if (in.empty() || shift > 56) return false;
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    n |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (n > in.size()) return false;
  field = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

bool ValueMatches(std::string_view value, SearchCondition::Op op, std::string_view wanted) {
  switch (op) {
    case SearchCondition::Op::kEq: return value == wanted;
    case SearchCondition::Op::kGe: return value >= wanted;
    case SearchCondition::Op::kLe: return value <= wanted;
    case SearchCondition::Op::kGt: return value > wanted;
    case SearchCondition::Op::kLt: return value < wanted;
    case SearchCondition::Op::kPrefix: return value.substr(0, wanted.size()) == wanted;
  }
  return false;
}

// A blob argument as bytes ("" for NULL).
std::string_view BlobArg(sqlite3_value* v) {
  const auto* blob = static_cast<const char*>(sqlite3_value_blob(v));
  return blob == nullptr ? std::string_view() : std::string_view(blob, static_cast<size_t>(sqlite3_value_bytes(v)));
}

std::string_view TextArg(sqlite3_value* v) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(v));
  return text == nullptr ? std::string_view()
                         : std::string_view(text, static_cast<size_t>(sqlite3_value_bytes(v)));
}

// The condition's fields as views: a search calls this once per candidate row, without copies.
bool Matches(std::string_view terms, std::string_view wanted_param, bool has_system, std::string_view wanted_system,
             SearchCondition::Op op, std::string_view wanted_value) {
  std::string_view param, system, value;
  while (TakeField(terms, param) && TakeField(terms, system) && TakeField(terms, value)) {
    if (param != wanted_param || (has_system && system != wanted_system)) continue;
    if (op == SearchCondition::Op::kEq && wanted_value.empty()) return true;
    if (ValueMatches(value, op, wanted_value)) return true;
  }
  return false;
}

void TermsFunction(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const std::string_view terms = BlobArg(argv[0]);
  const int op = sqlite3_value_int(argv[4]);
  if (op < 0 || op > static_cast<int>(SearchCondition::Op::kPrefix)) {
    sqlite3_result_error(context, "kgw_terms: unknown operator", -1);
    return;
  }
  const bool match = Matches(terms, TextArg(argv[1]), sqlite3_value_int(argv[2]) != 0, TextArg(argv[3]),
                             static_cast<SearchCondition::Op>(op), TextArg(argv[5]));
  sqlite3_result_int(context, match ? 1 : 0);
}

void TermsEdgeFunction(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const std::optional<std::string_view> edge = TermsEdge(BlobArg(argv[0]), TextArg(argv[1]), sqlite3_value_int(argv[2]) != 0);
  if (!edge) return sqlite3_result_null(context);
  sqlite3_result_text(context, edge->data(), static_cast<int>(edge->size()), SQLITE_TRANSIENT);
}

}  // namespace

std::optional<std::string_view> TermsEdge(std::string_view terms, std::string_view wanted_param, bool highest) {
  std::optional<std::string_view> edge;
  std::string_view param, system, value;
  while (TakeField(terms, param) && TakeField(terms, system) && TakeField(terms, value)) {
    if (param == wanted_param && (!edge || (highest ? value > *edge : value < *edge))) edge = value;
  }
  return edge;
}

std::string EncodeTerms(const std::vector<IndexEntry>& index) {
  std::vector<const IndexEntry*> kept;
  for (const IndexEntry& e : index) {
    if (!internal::IndexedByValue(e.param)) kept.push_back(&e);
  }
  const auto key = [](const IndexEntry* e) { return std::tie(e->param, e->system, e->value); };
  std::sort(kept.begin(), kept.end(),
            [&](const IndexEntry* a, const IndexEntry* b) { return key(a) < key(b); });
  kept.erase(
      std::unique(kept.begin(), kept.end(),
                  [&](const IndexEntry* a, const IndexEntry* b) { return key(a) == key(b); }),
      kept.end());
  std::string out;
  for (const IndexEntry* e : kept) {
    PutField(out, e->param);
    PutField(out, e->system);
    PutField(out, e->value);
  }
  return out;
}

bool TermsMatch(std::string_view terms, const SearchCondition& c) {
  return Matches(terms, c.param, c.has_system, c.system, c.op, c.value);
}

int RegisterTermsFunction(sqlite3* db) {
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  const int rc = sqlite3_create_function_v2(db, "kgw_terms", 6, kFlags, nullptr, &TermsFunction, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_create_function_v2(db, "kgw_terms_edge", 3, kFlags, nullptr, &TermsEdgeFunction, nullptr, nullptr, nullptr);
}

}  // namespace ketamine::store
