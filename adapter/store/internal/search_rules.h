// What both stores decide the same way about a search condition.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "store/message_store.h"
#include "store/reference_paths.h"

namespace ketamine::store::internal {

// The params the index also keeps by value (the partial indexes on identifiers, subjects and an
// administration's order); the SQLite store keeps only these in its index rows and the rest in the
// resource's row.
inline bool IndexedByValue(std::string_view param) {
  return param == "subject" || param == "identifier" || param == "request";
}
// The same params as an SQL list, for statements that pick index rows by them (the version 7
// migration).
inline constexpr char kIndexedByValueSql[] = "('subject', 'identifier', 'request')";

// The administrations' orders (MedicationAdministration.request) into the index of a store that
// kept administrations before it indexed their orders: `reference` is the store's SQL reading
// $.request.reference from a resources row's json (NULL when it has none). The same for both stores.
inline std::string IndexRequestsSql(const std::string& reference) {
  return "INSERT INTO resource_index (type, id, param, system, value) SELECT type, id, 'request', '', reference "
         "FROM (SELECT type, id, " + reference + " AS reference FROM resources WHERE type = 'MedicationAdministration') r "
         "WHERE reference IS NOT NULL AND reference <> '' AND NOT EXISTS (SELECT 1 FROM resource_index i "
         "WHERE i.type = r.type AND i.id = r.id AND i.param = 'request')";
}

// A condition that can start from those indexes: the search starts from the few resources it names
// instead of testing every resource of the type. The stores write its param as a literal in the
// SQL, which is what lets the partial index serve it.
inline bool SearchedByValue(const SearchCondition& c) {
  if (c.op != SearchCondition::Op::kEq || c.value.empty() || !IndexedByValue(c.param)) return false;
  return c.param != "identifier" || c.has_system;  // an identifier's value alone is not its index's key
}

// A resource's kept versions, newest first; the type, the id, and a version > 0 to pick one (0: all).
// The current version is in resources, those its updates replaced in resource_history (both stores'
// schema). One text for both: PostgreSQL's $N are SQLite's parameters 1 to 3 too (numbered in the
// order they first appear), and the CAST tells PostgreSQL the third's type.
// Each row ends with the message type of the record that wrote the version (StoredResource::written_by).
inline constexpr char kResourceVersionsSql[] =
    "SELECT v.version, v.last_updated, v.json, coalesce(m.message_type, '') FROM ("
    "SELECT version, last_updated, json, message_id FROM resources WHERE type = $1 AND id = $2 "
    "AND (CAST($3 AS BIGINT) = 0 OR version = CAST($3 AS BIGINT)) "
    "UNION ALL SELECT version, last_updated, json, message_id FROM resource_history WHERE type = $1 AND id = $2 "
    "AND (CAST($3 AS BIGINT) = 0 OR version = CAST($3 AS BIGINT))) v "
    "LEFT JOIN inbound_messages m ON m.id = v.message_id ORDER BY v.version DESC";

// After a store's own columns of inbound_messages: the messages that wrote a version of the resource
// $1/$2 (current or replaced), newest first, at most $3. The same text for both stores.
inline constexpr char kMessagesOfResourceSql[] =
    "WHERE id IN (SELECT message_id FROM resources WHERE type = $1 AND id = $2 "
    "UNION SELECT message_id FROM resource_history WHERE type = $1 AND id = $2) ORDER BY id DESC LIMIT $3";

// The identifiers of a type ($1) that `count` (system, value) pairs ($2 and $3, $4 and $5, ...) name,
// with their owners: one SELECT per pair, each a probe of the partial index on identifiers (SQLite
// does not turn an OR of such pairs into probes: it would read every identifier of the type). The
// same text for both stores (SQLite numbers $N parameters in order of appearance).
inline std::string IdsByIdentifierSql(size_t count) {
  std::string sql;
  for (size_t i = 0; i < count; ++i) {
    sql += std::string(i == 0 ? "" : " UNION ALL ") +
           "SELECT system, value, id FROM resource_index WHERE param = 'identifier' AND type = $1 AND system = $" +
           std::to_string(2 + 2 * i) + " AND value = $" + std::to_string(3 + 2 * i);
  }
  return sql;
}

// Splits "system|value" at its first bar.
inline std::pair<std::string, std::string> SplitIdentifier(const std::string& token) {
  const size_t bar = token.find('|');
  return {token.substr(0, bar), bar == std::string::npos ? std::string() : token.substr(bar + 1)};
}

// The kept versions of a type's resources (or every type's) last updated at or after a time, for a
// type-level or system-level history: $1 the type ("" for all), $2 the time ("" for all), $3 the
// latest update taken ("" for no bound: a history's next links pin what the first page saw). With
// `count`, their number; else a page of them, newest first, one row more than asked. `collate`
// makes PostgreSQL order the instants as SQLite does, byte by byte. The same text for both stores.
inline std::string HistorySql(bool count, const SearchRange& range, const char* collate) {
  const std::string c = collate;
  std::string versions;
  for (const char* table : {"resources", "resource_history"}) {
    versions += std::string(versions.empty() ? "" : " UNION ALL ") +
                "SELECT type, id, version, last_updated, json, message_id FROM " + table +
                " WHERE (CAST($1 AS TEXT) = '' OR type = $1) AND last_updated" + c + " >= CAST($2 AS TEXT)" +
                " AND (CAST($3 AS TEXT) = '' OR last_updated" + c + " <= CAST($3 AS TEXT))";
  }
  if (count) return "SELECT count(*) FROM (" + versions + ") h";
  // The page first, then the message type of each of its rows (StoredResource::written_by).
  return "SELECT p.type, p.id, p.version, p.last_updated, p.json, coalesce(m.message_type, '') FROM (SELECT * FROM (" +
         versions + ") h ORDER BY last_updated" + c + " DESC, type" + c + ", id" + c + ", version DESC LIMIT " +
         std::to_string(range.count + 1) + " OFFSET " + std::to_string(range.offset) +
         ") p LEFT JOIN inbound_messages m ON m.id = p.message_id ORDER BY p.last_updated" + c + " DESC, p.type" + c +
         ", p.id" + c + ", p.version DESC";
}

// The SQL comparison of an op (" >= "); kPrefix is each store's own (LIKE, starts_with).
inline const char* ComparisonSql(SearchCondition::Op op) {
  switch (op) {
    case SearchCondition::Op::kGe: return " >= ";
    case SearchCondition::Op::kLe: return " <= ";
    case SearchCondition::Op::kGt: return " > ";
    case SearchCondition::Op::kLt: return " < ";
    case SearchCondition::Op::kEq:
    case SearchCondition::Op::kPrefix: break;
  }
  return " = ";
}

// The stored resources' own column a param compares, or nullptr when it is looked up in the index.
inline const char* ResourceColumn(std::string_view param) {
  if (param == "_id") return "r.id";
  if (param == "_lastUpdated") return "r.last_updated";
  return nullptr;
}

// A condition that asks only whether a resource has the param (":missing"): no value, no system.
inline bool AsksPresence(const SearchCondition& c) {
  return c.op == SearchCondition::Op::kEq && c.value.empty() && !c.has_system;
}

// "= $n" for one value, "IN ($n, $m, ...)" for more, each bound with `bind`.
template <typename Bind>
std::string OneOf(const std::vector<std::string>& values, Bind bind) {
  if (values.size() == 1) return "= " + bind(values[0]);
  std::string sql = "IN (";
  for (size_t i = 0; i < values.size(); ++i) sql += (i == 0 ? "" : ", ") + bind(values[i]);
  return sql + ")";
}

// How a reference read from the JSON is compared with `values`: one of them, or, for the one empty
// value of AsksPresence, any reference at all.
template <typename Bind>
std::string ReferenceValuesSql(const std::vector<std::string>& values, Bind bind) {
  if (values.size() == 1 && values[0].empty()) return "<> ''";
  return OneOf(values, bind);
}

// The resources of type `type` (its placeholder) whose index holds `param` by value with any of
// `values` (each bound with `bind`), and with that system when `system` is not null: one probe of
// the partial index per value.
template <typename Bind>
std::string IndexValuesPredicate(const std::string& param, const std::vector<std::string>& values, const char* type,
                                 Bind bind, const std::string* system = nullptr) {
  return std::string("r.id IN (SELECT i.id FROM resource_index i WHERE i.type = ") + type + " AND i.param = '" + param +
         "'" + (system != nullptr ? " AND i.system = " + bind(*system) : std::string()) + " AND i.value " +
         OneOf(values, bind) + ")";
}

// The predicate of a condition the index answers, the same in both stores but for how values are
// bound (`bind(value)` gives the placeholder) and compared (`compare(lhs, c)`, the op's SQL and its
// value bound); `type` is the placeholder of the searched type ("?1", "$1"). A condition that can
// start from the index by value names the resources it holds; any other is tested per candidate.
template <typename Bind, typename Compare>
std::string IndexPredicate(const SearchCondition& c, const char* type, Bind bind, Compare compare) {
  if (SearchedByValue(c)) return IndexValuesPredicate(c.param, {c.value}, type, bind, c.has_system ? &c.system : nullptr);
  std::string sql = "EXISTS (SELECT 1 FROM resource_index i WHERE i.type = r.type AND i.id = r.id AND i.param = " +
                    bind(c.param);
  if (c.has_system) sql += " AND i.system = " + bind(c.system);
  if (!c.value.empty() || c.op != SearchCondition::Op::kEq) sql += " AND " + compare("i.value", c);
  return sql + ")";
}

// A reference param read from the candidate's JSON rather than kept in the index (who ordered, who
// gave or observed: left out of the index so that writes do not pay for them, and found in what was
// stored before the param existed): the array its elements are in ("" when the reference is a
// top-level element) and the path from there to the reference's text (store/reference_paths.h).
struct JsonReference {
  const char* array;
  std::vector<const char*> path;
};
inline std::optional<JsonReference> JsonReferenceOf(std::string_view type, std::string_view param) {
  if (param != "requester" && param != "performer") return std::nullopt;
  const ReferencePath* where = FindReferencePath(type, param);
  if (where == nullptr) return std::nullopt;
  JsonReference held{where->array, where->steps};
  held.path.push_back("reference");
  return held;
}

// The conditions of a search as SQL (" AND ..." for each), from each one's predicate (`predicate(c)`,
// SQL without a leading AND): conditions of one or_group (> 0) are alternatives, any of which
// holds; a negated one holds when its predicate does not. A group of values of one param the index
// keeps by value (patient=a,b; a chain's patients; the matches a _revinclude looks for) is one list
// of probes: an OR of lookups would make SQLite test every resource of the type against each. So
// is a group of references read from the JSON (`json_reference(where, values)`, the store's SQL
// for "the reference at `where` is one of `values`"): one read of each candidate, not one per value.
// `type` and `bind` as for IndexPredicate; `type_name` the searched type.
template <typename Bind, typename Predicate, typename JsonReferenceSql>
std::string JoinConditions(const std::vector<SearchCondition>& conditions, std::string_view type_name,
                           const char* type, Bind bind, Predicate predicate, JsonReferenceSql json_reference) {
  auto alone = [&](const SearchCondition& c) {
    const std::string sql = predicate(c);
    return c.negated ? "NOT (" + sql + ")" : sql;
  };
  std::string where;
  std::map<int, std::vector<const SearchCondition*>> groups;  // or_group -> its alternatives
  for (const SearchCondition& c : conditions) {
    if (c.or_group == 0) {
      where += " AND " + alone(c);
    } else {
      groups[c.or_group].push_back(&c);
    }
  }
  for (const auto& [number, group] : groups) {
    const std::string& param = group.front()->param;
    const std::optional<JsonReference> held = JsonReferenceOf(type_name, param);
    const bool one_list = std::all_of(group.begin(), group.end(), [&](const SearchCondition* c) {
      return (SearchedByValue(*c) || (held && c->op == SearchCondition::Op::kEq)) && !c->has_system && !c->negated &&
             c->param == param;
    });
    if (one_list) {
      std::vector<std::string> values;
      for (const SearchCondition* c : group) values.push_back(c->value);
      where += " AND " + (held ? json_reference(*held, values) : IndexValuesPredicate(param, values, type, bind));
      continue;
    }
    std::string alternatives;
    for (const SearchCondition* c : group) alternatives += (alternatives.empty() ? "" : " OR ") + alone(*c);
    where += " AND (" + alternatives + ")";
  }
  return where;
}

// An Observation's value compared as a number (the "value-quantity" param): not kept in the index
// but read from the candidate's JSON, so resources stored before the param existed are found too.
// Its value is valueQuantity.value, or valueInteger (the pain score's 0-10, which R4's parameter
// does not reach). With `has_system`, c.system is "system|code": the unit's system and code must
// match (an empty system: the code, or the unit as written). `number_at(path)` and `text_at(path)`
// are the store's SQL for the number and the text at a JSON path ({"valueQuantity", "value"}).
inline constexpr char kValueQuantity[] = "value-quantity";

template <typename Bind, typename NumberAt, typename TextAt>
std::string QuantityPredicate(const SearchCondition& c, Bind bind, NumberAt number_at, TextAt text_at,
                              const char* number_type) {
  const std::string value = "coalesce(" + number_at({"valueQuantity", "value"}) + ", " + number_at({"valueInteger"}) + ")";
  if (AsksPresence(c)) return value + " IS NOT NULL";
  std::string sql = value + ComparisonSql(c.op) + "CAST(" + bind(c.value) + " AS " + number_type + ")";
  if (!c.has_system) return sql;
  const size_t bar = c.system.find('|');
  const std::string system = c.system.substr(0, bar);
  const std::string code = bar == std::string::npos ? std::string() : c.system.substr(bar + 1);
  if (!system.empty()) sql += " AND " + text_at({"valueQuantity", "system"}) + " = " + bind(system);
  if (!code.empty()) {
    const std::string b = bind(code);
    sql += system.empty() ? " AND (" + text_at({"valueQuantity", "code"}) + " = " + b + " OR " +
                                text_at({"valueQuantity", "unit"}) + " = " + b + ")"
                          : " AND " + text_at({"valueQuantity", "code"}) + " = " + b;
  }
  return sql;
}

// The ORDER BY and LIMIT of a page: one row more than asked, to tell whether more follow. With
// range.sort_param, first by that param's value: `sort_value(param, highest)` is the store's SQL for
// the candidate's highest (or lowest) value of it, NULL when it has none (sorted last either way);
// the name is checked to be letters, '-' and '_', so the store may write it as a literal ('date').
template <typename SortValue>
std::string PageSql(const SearchRange& range, const char* collate, SortValue sort_value) {
  const std::string c = collate;
  const char* direction = range.oldest_first ? "" : " DESC";
  std::string order;
  const bool named = std::all_of(range.sort_param.begin(), range.sort_param.end(),
                                 [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '_'; });
  if (!range.sort_param.empty() && named) {
    // '~' sorts after every date and number, '' before them.
    order = "coalesce(" + sort_value(range.sort_param, !range.oldest_first) + ", '" +
            (range.oldest_first ? "~" : "") + "')" + c + direction + ", ";
  }
  return " ORDER BY " + order + "r.last_updated" + c + direction + ", r.id" + c + " LIMIT " +
         std::to_string(range.count + 1) + " OFFSET " + std::to_string(range.offset);
}

// The highest (or lowest) value of `param` (a name PageSql checked) in the candidate's index rows,
// compared in `collate` as the page is sorted.
inline std::string IndexEdgeSql(const std::string& param, bool highest, const char* collate) {
  return std::string("(SELECT ") + (highest ? "max" : "min") + "(i.value" + collate +
         ") FROM resource_index i WHERE i.type = r.type AND i.id = r.id AND i.param = '" + param + "')";
}

}  // namespace ketamine::store::internal
