// The subcommands of ketamine-gateway. Each takes its arguments after the subcommand name and
// returns the process exit code (see kExit*).
#pragma once

#include <string>
#include <vector>

namespace ketamine::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;     // a message or file was refused (AE/AR, invalid data)
inline constexpr int kExitUsage = 2;        // bad arguments or configuration
inline constexpr int kExitUnavailable = 3;  // a peer or the store could not be reached

int Serve(const std::vector<std::string>& args);
int MllpSend(const std::vector<std::string>& args);
int Validate(const std::vector<std::string>& args);
int Convert(const std::vector<std::string>& args);
int Outbox(const std::vector<std::string>& args);
int Ledger(const std::vector<std::string>& args);

}  // namespace ketamine::cli
