#include "fhir/json_patch.h"

#include <rapidjson/pointer.h>

#include <string>
#include <string_view>

namespace ketamine::fhir {
namespace {

using rapidjson::Value;
using Token = rapidjson::Pointer::Token;

// The value the first `count` tokens lead to, or null when it is not there.
Value* Resolve(Value& root, const Token* tokens, size_t count) {
  Value* v = &root;
  for (size_t i = 0; i < count; ++i) {
    const Token& t = tokens[i];
    if (v->IsObject()) {
      auto m = v->FindMember(Value(rapidjson::StringRef(t.name, t.length)));
      if (m == v->MemberEnd()) return nullptr;
      v = &m->value;
    } else if (v->IsArray()) {
      if (t.index == rapidjson::kPointerInvalidIndex || t.index >= v->Size()) return nullptr;
      v = &(*v)[static_cast<rapidjson::SizeType>(t.index)];
    } else {
      return nullptr;
    }
  }
  return v;
}

class Patcher {
 public:
  explicit Patcher(rapidjson::Document& target) : target_(target), a_(target.GetAllocator()) {}

  Status Apply(const Value& op, size_t n) {
    if (!op.IsObject()) return InvalidInput("operation " + std::to_string(n) + " is not an object");
    const std::string name = Text(op, "op");
    const std::string path_text = Text(op, "path");
    label_ = "operation " + std::to_string(n) + " (" + (name.empty() ? "?" : name) + " " + path_text + ")";
    if (name.empty()) return InvalidInput(label_ + ": 'op' is missing or not a string");
    rapidjson::Pointer path;
    KETAMINE_RETURN_IF_ERROR(ReadPointer(op, "path", path));
    const bool takes_value = name == "add" || name == "replace" || name == "test";
    const bool takes_from = name == "move" || name == "copy";
    if (!takes_value && !takes_from && name != "remove") {
      return InvalidInput(label_ + ": unknown op (add, remove, replace, move, copy, test)");
    }
    const Value* value = nullptr;
    if (takes_value) {
      auto v = op.FindMember("value");
      if (v == op.MemberEnd()) return InvalidInput(label_ + ": 'value' is missing");
      value = &v->value;
    }
    rapidjson::Pointer from;
    if (takes_from) KETAMINE_RETURN_IF_ERROR(ReadPointer(op, "from", from));
    if (name == "add") return Add(path, Value(*value, a_));
    if (name == "replace") {
      Value* at = Resolve(target_, path.GetTokens(), path.GetTokenCount());
      if (at == nullptr) return Conflict(label_ + ": there is nothing at the path to replace");
      Value copy(*value, a_);
      *at = copy;
      return Status::Ok();
    }
    if (name == "test") {
      Value* at = Resolve(target_, path.GetTokens(), path.GetTokenCount());
      if (at == nullptr) return Conflict(label_ + ": there is nothing at the path to test");
      if (!(*at == *value)) return Conflict(label_ + ": the value at the path is not the one tested");
      return Status::Ok();
    }
    if (name == "remove") {
      Value removed;
      return Take(path, removed);
    }
    Value* source = Resolve(target_, from.GetTokens(), from.GetTokenCount());
    if (source == nullptr) return Conflict(label_ + ": there is nothing at 'from'");
    if (name == "copy") return Add(path, Value(*source, a_));
    // move: never into its own child (the value would contain itself).
    if (IsPrefix(from, path) && from.GetTokenCount() < path.GetTokenCount()) {
      return Conflict(label_ + ": a value cannot move into itself");
    }
    Value moved;
    KETAMINE_RETURN_IF_ERROR(Take(from, moved));
    return Add(path, std::move(moved));
  }

 private:
  static std::string Text(const Value& op, const char* member) {
    auto m = op.FindMember(member);
    return m != op.MemberEnd() && m->value.IsString() ? std::string(m->value.GetString(), m->value.GetStringLength())
                                                      : std::string();
  }

  Status ReadPointer(const Value& op, const char* member, rapidjson::Pointer& out) {
    auto m = op.FindMember(member);
    if (m == op.MemberEnd() || !m->value.IsString()) {
      return InvalidInput(label_ + ": '" + member + "' is missing or not a string");
    }
    const std::string_view text(m->value.GetString(), m->value.GetStringLength());
    if (!text.empty() && text[0] != '/') {
      return InvalidInput(label_ + ": '" + member + "' is not a JSON Pointer (it starts with '/')");
    }
    out = rapidjson::Pointer(m->value.GetString(), m->value.GetStringLength());
    if (!out.IsValid()) return InvalidInput(label_ + ": '" + member + "' is not a JSON Pointer");
    return Status::Ok();
  }

  static bool IsPrefix(const rapidjson::Pointer& prefix, const rapidjson::Pointer& p) {
    if (prefix.GetTokenCount() > p.GetTokenCount()) return false;
    for (size_t i = 0; i < prefix.GetTokenCount(); ++i) {
      const Token& x = prefix.GetTokens()[i];
      const Token& y = p.GetTokens()[i];
      if (std::string_view(x.name, x.length) != std::string_view(y.name, y.length)) return false;
    }
    return true;
  }

  // Puts `value` at `path`: a member set (replaced when there), or an array element inserted at the
  // index ("-": appended).
  Status Add(const rapidjson::Pointer& path, Value value) {
    const size_t n = path.GetTokenCount();
    if (n == 0) {  // the whole document: replaced
      static_cast<Value&>(target_) = value;
      return Status::Ok();
    }
    Value* parent = Resolve(target_, path.GetTokens(), n - 1);
    if (parent == nullptr) return Conflict(label_ + ": the path's parent is not there");
    const Token& last = path.GetTokens()[n - 1];
    if (parent->IsObject()) {
      auto m = parent->FindMember(Value(rapidjson::StringRef(last.name, last.length)));
      if (m != parent->MemberEnd()) {
        m->value = value;
      } else {
        parent->AddMember(Value(last.name, last.length, a_), value, a_);
      }
      return Status::Ok();
    }
    if (!parent->IsArray()) return Conflict(label_ + ": the path's parent is neither an object nor an array");
    if (std::string_view(last.name, last.length) == "-") {
      parent->PushBack(value, a_);
      return Status::Ok();
    }
    if (last.index == rapidjson::kPointerInvalidIndex || last.index > parent->Size()) {
      return Conflict(label_ + ": the array index is not one from 0 to the array's size");
    }
    parent->PushBack(Value(), a_);
    for (rapidjson::SizeType i = parent->Size() - 1; i > last.index; --i) (*parent)[i].Swap((*parent)[i - 1]);
    (*parent)[static_cast<rapidjson::SizeType>(last.index)] = value;
    return Status::Ok();
  }

  // Removes what is at `path`, moved into `out`.
  Status Take(const rapidjson::Pointer& path, Value& out) {
    const size_t n = path.GetTokenCount();
    if (n == 0) return Conflict(label_ + ": the whole document cannot be removed");
    Value* parent = Resolve(target_, path.GetTokens(), n - 1);
    const Token& last = path.GetTokens()[n - 1];
    if (parent != nullptr && parent->IsObject()) {
      auto m = parent->FindMember(Value(rapidjson::StringRef(last.name, last.length)));
      if (m != parent->MemberEnd()) {
        out = m->value;
        parent->EraseMember(m);  // keeps the order of the other members
        return Status::Ok();
      }
    } else if (parent != nullptr && parent->IsArray() && last.index != rapidjson::kPointerInvalidIndex &&
               last.index < parent->Size()) {
      out = (*parent)[static_cast<rapidjson::SizeType>(last.index)];
      parent->Erase(parent->Begin() + last.index);
      return Status::Ok();
    }
    return Conflict(label_ + ": there is nothing at the path to remove");
  }

  rapidjson::Document& target_;
  rapidjson::Document::AllocatorType& a_;
  std::string label_;
};

}  // namespace

Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& target) {
  if (!patch.IsArray()) return InvalidInput("a JSON Patch is an array of operations");
  Patcher patcher(target);
  size_t n = 0;
  for (const Value& op : patch.GetArray()) KETAMINE_RETURN_IF_ERROR(patcher.Apply(op, n++));
  return Status::Ok();
}

}  // namespace ketamine::fhir
