#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace echod {

struct CommandLine {
  // kStatus and kReload talk to a running daemon over its control socket.
  enum class Action { kRun, kCheckConfig, kHelp, kVersion, kStatus, kReload };

  Action action = Action::kRun;
  std::string config_path;         // the default path when not given
  bool config_path_given = false;  // an explicitly named file must exist; the default may not
  // Overrides applied on top of the file (and on every reload), when given:
  // --listen, repeatable (TCP listeners); replaces the file's listen list.
  std::vector<ListenerConfig> listen;
  std::optional<WorkerCount> workers;
  std::optional<LogLevel> log_level;
  // The control socket the daemon creates (kRun) or that --status/--reload talk to; "none"
  // disables it.
  std::string control_socket;
  bool json = false;  // --status --json
};

struct CommandLineResult {
  std::optional<CommandLine> command_line;
  std::string error;  // one line, e.g. "unrecognised option '--frob'"; set when parsing failed
};

// Parses argv (GNU style, Boost.Program_options): "--config PATH", "--config=PATH", "-c PATH",
// "-cPATH"; long options are not abbreviated. Never prints and never exits. When several of
// --help, --version and --check-config are given, the first of them in that order wins.
CommandLineResult parse_command_line(int argc, const char* const argv[],
                                     const std::string& default_config_path);

// --help text, naming the configuration file read when --config is not given. The overload
// without an argument names the build's default (build_info::kDefaultConfigPath).
std::string usage_text(const std::string& default_config_path);
std::string usage_text();

// Applies the overrides given on the command line to a loaded configuration.
void apply_overrides(const CommandLine& command_line, Config& config);

}  // namespace echod
