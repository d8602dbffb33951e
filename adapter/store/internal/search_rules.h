// What both stores decide the same way about a search condition.
#pragma once

#include "store/message_store.h"

namespace ketamine::store::internal {

// A condition the index also keeps by value (the partial indexes on identifiers and subjects): the
// search starts from the few resources it names instead of testing every resource of the type. The
// stores write its param as a literal in the SQL, which is what lets the partial index serve it.
inline bool SearchedByValue(const SearchCondition& c) {
  if (c.op != SearchCondition::Op::kEq || c.value.empty()) return false;
  return c.param == "subject" || (c.param == "identifier" && c.has_system);
}

}  // namespace ketamine::store::internal
