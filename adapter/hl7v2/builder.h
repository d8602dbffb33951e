// Builds HL7 v2 messages we generate (ACKs, outbound orders). Values given as text are escaped;
// SetRaw takes a value already encoded with this builder's delimiters (a field copied from a
// parsed message that uses the same delimiters).
//   MessageBuilder b;
//   b.Set("MSH-9", "ACK"); b.Set("MSA-1", "AA"); std::string wire = b.Build();
// Segments come out in the order they were first set; "ERR[2]-3.1" adds the second ERR.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hl7v2/parser.h"
#include "hl7v2/path.h"

namespace ketamine::hl7v2 {

class MessageBuilder {
 public:
  explicit MessageBuilder(Delimiters delimiters = {});

  // Sets the text at a path (escaped). The segment occurrence may be at most one past the
  // last one of that name, which appends it. MSH-1 and MSH-2 come from the delimiters.
  Status Set(std::string_view path, std::string_view text);
  Status SetRaw(std::string_view path, std::string_view raw);
  Status Set(const Path& path, std::string_view text);
  Status SetRaw(const Path& path, std::string_view raw);

  // Appends a segment named `name` (3 characters) and returns its occurrence number.
  int AddSegment(std::string_view name);

  // The message with "\r" after every segment.
  std::string Build() const;
  const Delimiters& delimiters() const { return delimiters_; }

 private:
  using Components = std::vector<std::vector<std::string>>;  // [component][subcomponent]
  using Field = std::vector<Components>;                     // [repetition]
  struct Segment {
    std::string name;
    std::vector<Field> fields;  // fields[0] is field 1
  };
  Result<Segment*> Resolve(const Path& path);
  void AppendField(const Field& field, std::string& out) const;

  Delimiters delimiters_;
  std::vector<Segment> segments_;
};

}  // namespace ketamine::hl7v2
