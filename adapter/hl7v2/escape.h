// HL7 v2 escape sequences (v2.8 section 2.7), written here with "E" for the escape character.
// Unescape turns a raw value into text: EFE ESE ETE ERE EEE (and EPE, the v2.7 truncation
// character) become the delimiters; EXhh..E becomes the bytes it names; formatting (E.brE,
// E.spE, EHE, ENE ...), charset switches (EC..E, EM..E) and local EZ..E escapes are kept as
// text, so nothing is lost on the way to FHIR and back.
// Escape does the reverse for text we put into messages, including line breaks.
#pragma once

#include <string>
#include <string_view>

#include "hl7v2/parser.h"

namespace ketamine::hl7v2 {

std::string Unescape(std::string_view raw, const Delimiters& d);
std::string Escape(std::string_view text, const Delimiters& d);

}  // namespace ketamine::hl7v2
