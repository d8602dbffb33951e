// LZ4 for the large blobs the SQLite store keeps (a message's raw bytes, an outbox item's payload):
// a 2 KB HL7 message and its 5.6 KB transaction Bundle take ~1.4 and ~2.5 KB, so a message fills
// about half the database pages it did, and the writer writes half as many (WAL and checkpoint).
// Packed form: the original length as 4 bytes little-endian, then one LZ4 block.
//   std::string stored = store::Lz4Pack(json);      // empty when packing would not save space
//   auto json = store::Lz4Unpack(stored);           // kInternal when the bytes are not a packed form
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine::store {

// The packed form, or "" when it would not be at least an eighth smaller (the caller keeps the
// original, marked as not packed).
std::string Lz4Pack(std::string_view plain);
// The original bytes; an error for a damaged or foreign blob, never a crash or an overlong read.
Result<std::string> Lz4Unpack(std::string_view packed);

}  // namespace ketamine::store
