// The SQLite store's search entries kept in the resource's own row. Only identifiers and subjects
// are looked up by value (conditional creates, searches by patient); every other entry (codes,
// categories, status, dates, names) is only ever tested against a candidate resource, so it
// travels in the resource row as one blob (`resources.terms`) instead of one index row each: a
// write then inserts one row instead of ~6, and a search tests a condition with the function
// kgw_terms() on the candidate row instead of a lookup per condition.
//   upsert.Blob(7, EncodeTerms(write.index));
//   ... WHERE kgw_terms(r.terms, 'code', 1, 'http://loinc.org', 0, '72514-3')
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/message_store.h"

namespace ketamine::store {

// The entries of `index` that the index does not keep by value (internal::IndexedByValue), each
// once, as the terms blob.
std::string EncodeTerms(const std::vector<IndexEntry>& index);

// Whether `terms` hold an entry matching the condition (param, system when `has_system`, and the
// value by `op`; kEq with an empty value asks only for the param).
bool TermsMatch(std::string_view terms, const SearchCondition& condition);

// The highest (or lowest) value of `param` in `terms`, or nullopt when it has none.
std::optional<std::string_view> TermsEdge(std::string_view terms, std::string_view param, bool highest);

// Registers kgw_terms(terms, param, has_system, system, op, value) on a connection, op being
// SearchCondition::Op as an integer, and kgw_terms_edge(terms, param, highest) (TermsEdge, NULL
// for none: a search sorted by a date).
int RegisterTermsFunction(sqlite3* db);

}  // namespace ketamine::store
