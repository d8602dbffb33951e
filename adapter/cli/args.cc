#include "cli/args.h"

#include <charconv>

namespace ketamine::cli {

const std::string* Args::Option(const std::string& name) const {
  auto it = options.find(name);
  return it == options.end() ? nullptr : &it->second;
}

Result<Args> ParseArgs(const std::vector<std::string>& argv, const ArgSpec& spec) {
  Args args;
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_positional || arg.size() < 2 || arg.rfind("--", 0) != 0) {
      if (!only_positional && arg.size() > 1 && arg[0] == '-' && arg != "-") {
        return InvalidInput("unknown option " + arg);
      }
      args.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    std::string name = arg;
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (spec.flags.count(name)) {
      if (has_value) return InvalidInput("option " + name + " takes no value");
      args.flags.insert(name);
    } else if (spec.options.count(name) || spec.any_option) {
      if (!has_value) {
        if (i + 1 >= argv.size()) return InvalidInput("option " + name + " needs a value");
        value = argv[++i];
      }
      if (!args.options.emplace(name, value).second) return InvalidInput("option " + name + " given twice");
    } else {
      return InvalidInput("unknown option " + name);
    }
  }
  return args;
}

Result<uint16_t> ParsePort(const std::string& text, const std::string& what) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535) {
    return InvalidInput(what + " must be a port number from 0 to 65535, got '" + text + "'");
  }
  return static_cast<uint16_t>(value);
}

Result<int> ParsePositiveInt(const std::string& text, const std::string& what) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value <= 0) {
    return InvalidInput(what + " must be a positive whole number, got '" + text + "'");
  }
  return value;
}

}  // namespace ketamine::cli
