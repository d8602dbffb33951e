// The rules of one resource write, the same in every store. A conditional create that finds its
// identifier writes nothing (kExisting); a conditional update whose identifier belongs to another id
// is an identity conflict; a create on an id that exists is a version conflict unless it is the same
// request again (kExisting); an If-Match that does not match is a version conflict. kCreated or
// kUpdated: the caller writes it, as version `result.version`. An update whose JSON is the stored
// version's is kUnchanged: nothing to write, the stored version and time stand.
//   find(type, "system|value", found) -> Result<bool>: the resource holding that identifier
//   current(w) -> Result<CurrentVersion>: the stored version of w.type/w.id (0 when absent), and
//                 whether its JSON is w.json
#pragma once

#include <string>

#include "common/status.h"
#include "store/message_store.h"

namespace ketamine::store::internal {

// The outcomes the caller writes.
inline bool IsWrite(ResourceOutcome o) { return o == ResourceOutcome::kCreated || o == ResourceOutcome::kUpdated; }

// The outcomes after which the store holds what was asked for, written now or already there as
// it was: deliveries go out for them (not for a conditional create that found another resource).
inline bool IsStored(ResourceOutcome o) { return IsWrite(o) || o == ResourceOutcome::kUnchanged; }

struct CurrentVersion {
  int64_t version = 0;        // 0: absent
  std::string last_updated;   // when present
  bool same_json = false;     // the stored JSON is the one being written
};

inline bool IsConflict(ResourceOutcome o) {
  return o == ResourceOutcome::kVersionConflict || o == ResourceOutcome::kIdentityConflict;
}

template <typename Find, typename Current>
Result<ResourceResult> DecideWrite(const ResourceWrite& w, const std::string& now, Find find, Current current) {
  ResourceResult result;
  result.type = w.type;
  result.id = w.id;
  if (!w.unless_identifier.empty()) {
    KETAMINE_ASSIGN_OR_RETURN(bool exists, find(w.type, w.unless_identifier, result));
    if (exists) {
      result.outcome = ResourceOutcome::kExisting;
      return result;
    }
  }
  if (!w.match_identifier.empty()) {
    ResourceResult found;
    KETAMINE_ASSIGN_OR_RETURN(bool exists, find(w.type, w.match_identifier, found));
    if (exists && found.id != w.id) {
      result.outcome = ResourceOutcome::kIdentityConflict;
      result.id = found.id;
      return result;
    }
  }
  KETAMINE_ASSIGN_OR_RETURN(const CurrentVersion stored, current(w));
  const int64_t version = stored.version;
  if (version > 0 && !w.update && w.replay_existing) {
    result.outcome = ResourceOutcome::kExisting;
    result.version = version;
    return result;
  }
  if ((version > 0 && !w.update) || (w.if_match != 0 && w.if_match != version)) {
    result.outcome = ResourceOutcome::kVersionConflict;
    result.version = version;
    return result;
  }
  if (version > 0 && w.update && stored.same_json) {
    result.outcome = ResourceOutcome::kUnchanged;
    result.version = version;
    result.last_updated = stored.last_updated;
    return result;
  }
  result.version = version + 1;
  result.last_updated = now;
  result.outcome = version > 0 ? ResourceOutcome::kUpdated : ResourceOutcome::kCreated;
  return result;
}

}  // namespace ketamine::store::internal
