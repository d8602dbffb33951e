// How both stores put dead letters back in the queue (MessageStore::Replay): the same statements,
// in PostgreSQL's $N form, which SQLite reads as its parameters 1, 2, 3 in order of appearance.
#pragma once

#include <string>

#include "store/message_store.h"

namespace ketamine::store::internal {

// The dead letters a replay looks at, each as id, destination, partition: one by id ($1), every one
// of a destination ($1), or every one; oldest first.
inline constexpr char kDeadByIdSql[] = "SELECT id, destination, partition FROM outbox WHERE id = $1 AND state = 'dead'";
inline constexpr char kDeadOfDestinationSql[] =
    "SELECT id, destination, partition FROM outbox WHERE destination = $1 AND state = 'dead' ORDER BY id";
inline constexpr char kDeadEverywhereSql[] =
    "SELECT id, destination, partition FROM outbox WHERE state = 'dead' ORDER BY id";
// The one of those three a selection asks for (its one parameter, if any: the id or the destination).
inline const char* DeadLettersSql(const ReplaySelection& which) {
  return which.id > 0 ? kDeadByIdSql : which.destination.empty() ? kDeadEverywhereSql : kDeadOfDestinationSql;
}

// The first item of the same destination ($1) and partition ($3) queued after the dead letter ($2)
// that went out since (delivered, or on the wire now): replaying the dead letter would deliver the
// patient's messages out of order. An index range (destination, state, id) from the dead letter on.
inline constexpr char kSentAfterSql[] =
    "SELECT id FROM outbox WHERE destination = $1 AND state IN ('delivered', 'sending') AND id > $2 "
    "AND partition = $3 ORDER BY id LIMIT 1";

// Back to pending, due now, attempts from 0.
inline constexpr char kRequeueSql[] =
    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = 0 WHERE id = $1 AND state = 'dead'";

// kNotFound when a replay by id found no dead letter of that id.
inline Status FoundDeadLetter(const ReplaySelection& which, const ReplayOutcome& out) {
  if (which.id > 0 && out.replayed.empty() && out.held.empty()) {
    return NotFound("outbox item " + std::to_string(which.id) + " is not a dead letter");
  }
  return Status::Ok();
}

}  // namespace ketamine::store::internal
