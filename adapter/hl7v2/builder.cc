#include "hl7v2/builder.h"

#include <algorithm>

#include "hl7v2/escape.h"

namespace ketamine::hl7v2 {
namespace {

constexpr int kMaxBuilderIndex = 1000;

template <typename T>
T& Grow(std::vector<T>& items, int one_based) {
  size_t index = static_cast<size_t>(one_based - 1);
  if (items.size() <= index) items.resize(index + 1);
  return items[index];
}

}  // namespace

MessageBuilder::MessageBuilder(Delimiters delimiters) : delimiters_(delimiters) {}

int MessageBuilder::AddSegment(std::string_view name) {
  segments_.push_back(Segment{std::string(name), {}});
  int occurrence = 0;
  for (const auto& segment : segments_) occurrence += segment.name == name ? 1 : 0;
  return occurrence;
}

Result<MessageBuilder::Segment*> MessageBuilder::Resolve(const Path& path) {
  if (path.field < 1 || path.field > kMaxBuilderIndex || path.repetition > kMaxBuilderIndex ||
      path.component > kMaxBuilderIndex || path.subcomponent > kMaxBuilderIndex) {
    return InvalidInput("path " + path.ToString() + " does not name a field");
  }
  if (path.segment == "MSH" && path.field <= 2) {
    return InvalidInput("MSH-1 and MSH-2 come from the builder's delimiters");
  }
  int seen = 0;
  for (auto& segment : segments_) {
    if (segment.name == path.segment && ++seen == path.occurrence) return &segment;
  }
  if (path.occurrence != seen + 1) {
    return InvalidInput("path " + path.ToString() + " skips a segment occurrence");
  }
  AddSegment(path.segment);
  return &segments_.back();
}

Status MessageBuilder::Set(std::string_view path, std::string_view text) {
  KETAMINE_ASSIGN_OR_RETURN(Path parsed, ParsePath(path));
  return Set(parsed, text);
}

Status MessageBuilder::SetRaw(std::string_view path, std::string_view raw) {
  KETAMINE_ASSIGN_OR_RETURN(Path parsed, ParsePath(path));
  return SetRaw(parsed, raw);
}

Status MessageBuilder::Set(const Path& path, std::string_view text) {
  return SetRaw(path, Escape(text, delimiters_));
}

Status MessageBuilder::SetRaw(const Path& path, std::string_view raw) {
  KETAMINE_ASSIGN_OR_RETURN(Segment * segment, Resolve(path));
  // MSH-3 is the first field after MSH-2: keep fields[] numbered as the standard numbers them.
  Field& field = Grow(segment->fields, path.field);
  if (path.repetition == 0 && path.component == 0) {
    // A whole field: store it as one component so that its own delimiters pass through.
    field.assign(1, Components{{std::string(raw)}});
    return Status::Ok();
  }
  Components& rep = Grow(field, path.repetition == 0 ? 1 : path.repetition);
  if (path.component == 0) {
    rep.assign(1, {std::string(raw)});
    return Status::Ok();
  }
  std::vector<std::string>& component = Grow(rep, path.component);
  if (path.subcomponent == 0) {
    component.assign(1, std::string(raw));
    return Status::Ok();
  }
  Grow(component, path.subcomponent) = std::string(raw);
  return Status::Ok();
}

// Empty repetitions, components and subcomponents at the end of a field are left out, as if
// never set: "A^^" is written "A". Written straight into the message, nothing joined apart.
namespace {

bool Blank(const std::string& text) { return text.empty(); }

template <typename T>
bool Blank(const std::vector<T>& parts) {
  return std::all_of(parts.begin(), parts.end(), [](const T& part) { return Blank(part); });
}

// How many of `parts` are written: those up to the last that is not blank (at least `first`).
template <typename T>
size_t Written(const std::vector<T>& parts, size_t first = 0) {
  size_t n = parts.size();
  while (n > first && Blank(parts[n - 1])) --n;
  return n;
}

}  // namespace

void MessageBuilder::AppendField(const Field& field, std::string& out) const {
  const size_t reps = Written(field);
  for (size_t r = 0; r < reps; ++r) {
    if (r > 0) out += delimiters_.repetition;
    const Components& rep = field[r];
    const size_t components = Written(rep);
    for (size_t c = 0; c < components; ++c) {
      if (c > 0) out += delimiters_.component;
      const std::vector<std::string>& subs = rep[c];
      const size_t subcomponents = Written(subs);
      for (size_t i = 0; i < subcomponents; ++i) {
        if (i > 0) out += delimiters_.subcomponent;
        out += subs[i];
      }
    }
  }
}

std::string MessageBuilder::Build() const {
  std::string out;
  out.reserve(256);
  for (const auto& segment : segments_) {
    out += segment.name;
    size_t first = 0;
    if (segment.name == "MSH") {
      out += delimiters_.field;
      out += delimiters_.EncodingCharacters();
      first = 2;  // fields[0] and [1] stand for MSH-1 and MSH-2
    }
    const size_t last = Written(segment.fields, first);
    for (size_t i = first; i < last; ++i) {
      out += delimiters_.field;
      AppendField(segment.fields[i], out);
    }
    out += '\r';
  }
  return out;
}

}  // namespace ketamine::hl7v2
