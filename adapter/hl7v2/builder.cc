#include "hl7v2/builder.h"

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

void TrimTrailingEmpty(std::vector<std::string>& parts) {
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
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

std::string MessageBuilder::JoinField(const Field& field) const {
  std::vector<std::string> reps;
  for (const Components& rep : field) {
    std::vector<std::string> comps;
    for (const auto& component : rep) {
      std::vector<std::string> subs(component);
      TrimTrailingEmpty(subs);
      std::string joined;
      for (size_t i = 0; i < subs.size(); ++i) {
        if (i > 0) joined += delimiters_.subcomponent;
        joined += subs[i];
      }
      comps.push_back(std::move(joined));
    }
    TrimTrailingEmpty(comps);
    std::string joined;
    for (size_t i = 0; i < comps.size(); ++i) {
      if (i > 0) joined += delimiters_.component;
      joined += comps[i];
    }
    reps.push_back(std::move(joined));
  }
  TrimTrailingEmpty(reps);
  std::string out;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (i > 0) out += delimiters_.repetition;
    out += reps[i];
  }
  return out;
}

std::string MessageBuilder::Build() const {
  std::string out;
  for (const auto& segment : segments_) {
    out += segment.name;
    std::vector<std::string> fields;
    size_t first = 0;
    if (segment.name == "MSH") {
      out += delimiters_.field;
      out += delimiters_.EncodingCharacters();
      first = 2;  // fields[0] and [1] stand for MSH-1 and MSH-2
    }
    for (size_t i = first; i < segment.fields.size(); ++i) {
      fields.push_back(JoinField(segment.fields[i]));
    }
    TrimTrailingEmpty(fields);
    for (const auto& field : fields) {
      out += delimiters_.field;
      out += field;
    }
    out += '\r';
  }
  return out;
}

}  // namespace ketamine::hl7v2
