// Text made fit for JSON output. What the gateway echoes back (a request's path, a header, an error
// a destination answered) may hold bytes that are not UTF-8; JSON text must be UTF-8, and a client
// or log shipper that checks refuses the whole document. Each byte that does not begin a
// well-formed UTF-8 sequence becomes U+FFFD; the rest is kept as it is.
//   std::string shown = ValidUtf8(request.path);
#pragma once

#include <string>
#include <string_view>

namespace ketamine {

bool IsValidUtf8(std::string_view text);
std::string ValidUtf8(std::string_view text);

}  // namespace ketamine
