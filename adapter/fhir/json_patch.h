// JSON Patch (RFC 6902): what a FHIR PATCH with Content-Type application/json-patch+json carries,
// applied to a parsed resource. Paths are JSON Pointers (RFC 6901) read by RapidJSON's Pointer.
//   auto patch = fhir::ParseJson(request.body);
//   Status s = fhir::ApplyJsonPatch(**patch, *resource);  // on error `resource` is part-patched
#pragma once

#include <rapidjson/document.h>

#include "common/status.h"

namespace ketamine::fhir {

// Applies every operation of `patch` (an array of {op, path, value | from}) to `target`, in order.
// kInvalidInput: `patch` is not a JSON Patch (not an array, an unknown op, a member missing, a path
// that is not a JSON Pointer). kConflict: an operation cannot apply to this document (a path that is
// not there, an array index past the end, a failed "test", a move into its own child). Messages
// name the operation ("operation 2 (replace /status): ..."). Stops at the first error, leaving
// `target` with the operations before it applied: patch a copy when all or nothing matters.
Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& target);

}  // namespace ketamine::fhir
