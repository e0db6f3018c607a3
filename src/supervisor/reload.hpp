#pragma once

#include <string>
#include <vector>

#include "cli/command_line.hpp"
#include "config/config.hpp"
#include "config/config_loader.hpp"

namespace echod {

// Loads the configuration the daemon should run with: the file named on the command line (or
// the default file, or built-in defaults when the default file does not exist), with the
// command line's overrides applied on top. `used_defaults` tells whether the file was missing.
ConfigLoadResult load_effective_config(const CommandLine& command_line, bool& used_defaults);

// What differs between the running configuration and a newly loaded one.
struct ConfigChanges {
  std::vector<ListenerConfig> added_listeners;  // compared as whole values
  std::vector<ListenerConfig> removed_listeners;
  bool log_level = false;
  bool limits = false;
  bool shutdown_timeout = false;
  bool metrics = false;     // the endpoint is restarted on its new address (or stopped)
  bool workers = false;     // applied on reload (workers started or retired)
  bool log_target = false;  // needs a restart

  [[nodiscard]] bool any() const;
  // One phrase per change, for the log: "limits.io_buffer 64KiB -> 128KiB", "listen +[::1]:7".
  [[nodiscard]] std::vector<std::string> describe(const Config& before, const Config& after) const;
};

ConfigChanges diff_configs(const Config& before, const Config& after);

}  // namespace echod
