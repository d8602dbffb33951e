#include "mapping/fhir_writer.h"

#include <charconv>

namespace ketamine::mapping {

Result<std::vector<PathStep>> ParseFhirPath(std::string_view path) {
  std::vector<PathStep> steps;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    std::string_view part = path.substr(pos, dot == std::string_view::npos ? path.size() - pos : dot - pos);
    if (part.empty()) return InvalidInput("bad FHIR path '" + std::string(path) + "'");
    PathStep step;
    size_t bracket = part.find('[');
    step.name = std::string(part.substr(0, bracket));
    if (bracket != std::string_view::npos) {
      if (part.back() != ']') return InvalidInput("bad FHIR path '" + std::string(path) + "'");
      std::string_view inside = part.substr(bracket + 1, part.size() - bracket - 2);
      if (inside == "+") {
        step.append = true;
      } else {
        auto [ptr, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), step.index);
        if (ec != std::errc() || ptr != inside.data() + inside.size() || step.index < 0 || step.index > 1000) {
          return InvalidInput("bad index in FHIR path '" + std::string(path) + "'");
        }
      }
    }
    if (step.name.empty()) return InvalidInput("bad FHIR path '" + std::string(path) + "'");
    steps.push_back(std::move(step));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return steps;
}

void SetAt(rapidjson::Value& root, const std::vector<PathStep>& steps, rapidjson::Value value,
           rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value* node = &root;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PathStep& step = steps[i];
    const bool last = i + 1 == steps.size();
    if (!node->IsObject()) node->SetObject();
    auto member = node->FindMember(rapidjson::StringRef(step.name.data(), step.name.size()));
    if (member == node->MemberEnd()) {
      rapidjson::Value fresh;
      if (step.index >= 0 || step.append) fresh.SetArray();
      node->AddMember(rapidjson::Value(step.name.c_str(), allocator), fresh, allocator);
      member = node->FindMember(rapidjson::StringRef(step.name.data(), step.name.size()));
    }
    rapidjson::Value* target = &member->value;
    if (step.index >= 0 || step.append) {
      if (!target->IsArray()) target->SetArray();
      size_t index = step.append ? target->Size() : static_cast<size_t>(step.index);
      while (target->Size() <= index) target->PushBack(rapidjson::Value(rapidjson::kObjectType), allocator);
      target = &(*target)[static_cast<rapidjson::SizeType>(index)];
    }
    if (last) {
      *target = value;  // moves
      return;
    }
    node = target;
  }
}

}  // namespace ketamine::mapping
