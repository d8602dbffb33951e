// Text made fit for JSON output. What the gateway echoes back (a request's path, a header, an error
// a destination answered) may hold bytes that are not UTF-8; JSON text must be UTF-8, and a client
// or log shipper that checks refuses the whole document. Each byte that does not begin a
// well-formed UTF-8 sequence becomes U+FFFD; the rest is kept as it is.
//   std::string shown = ValidUtf8(request.path);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ketamine {

bool IsValidUtf8(std::string_view text);
std::string ValidUtf8(std::string_view text);
// The offset of the first byte that does not begin a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points past U+10FFFF are not), or npos; ASCII is checked 8 bytes at a time.
size_t FirstInvalidUtf8(std::string_view text);

// `bytes` in the character set glibc's iconv names `charset` ("ISO-8859-1", "WINDOWS-1252", ...) as
// UTF-8. kUnsupported for a name iconv does not know; kInvalidInput naming the offset of a byte
// that is not of that set.
[[nodiscard]] Result<std::string> IconvToUtf8(std::string_view bytes, const std::string& charset);

}  // namespace ketamine
