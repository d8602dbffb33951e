// A small command-line reader for the subcommands: "--name value", "--name=value", flags, and
// positional arguments. Unknown options are errors that name them.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace ketamine::cli {

struct ArgSpec {
  std::set<std::string> options;  // take a value: "--config"
  std::set<std::string> flags;    // no value: "--help"
  bool any_option = false;        // every other "--name" takes a value (the caller checks the names)
};

struct Args {
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  std::vector<std::string> positional;
  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
  const std::string* Option(const std::string& name) const;
};

[[nodiscard]] Result<Args> ParseArgs(const std::vector<std::string>& argv, const ArgSpec& spec);
// A port number 0..65535.
[[nodiscard]] Result<uint16_t> ParsePort(const std::string& text, const std::string& what);
[[nodiscard]] Result<int> ParsePositiveInt(const std::string& text, const std::string& what);

}  // namespace ketamine::cli
