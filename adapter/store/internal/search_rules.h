// What both stores decide the same way about a search condition.
#pragma once

#include <string_view>

#include "store/message_store.h"

namespace ketamine::store::internal {

// The params the index also keeps by value (the partial indexes on identifiers and subjects); the
// SQLite store keeps only these in its index rows and the rest in the resource's row.
inline bool IndexedByValue(std::string_view param) { return param == "subject" || param == "identifier"; }
// The same params as an SQL list, for statements that pick index rows by them (the version 7
// migration).
inline constexpr char kIndexedByValueSql[] = "('subject', 'identifier')";

// A condition that can start from those indexes: the search starts from the few resources it names
// instead of testing every resource of the type. The stores write its param as a literal in the
// SQL, which is what lets the partial index serve it.
inline bool SearchedByValue(const SearchCondition& c) {
  if (c.op != SearchCondition::Op::kEq || c.value.empty() || !IndexedByValue(c.param)) return false;
  return c.param == "subject" || c.has_system;  // an identifier's value alone is not its index's key
}

}  // namespace ketamine::store::internal
