#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace echod {

// What differs between the running configuration and a newly loaded one, as the reload applies
// it. Listeners are compared as whole ListenerConfig values, except that one whose address and
// protocol stay and whose options change is `changed` (its socket stays open), not removed and
// added.
struct ConfigChanges {
  using ChangedListener = ListenerChange;
  std::vector<ListenerConfig> added_listeners;
  std::vector<ListenerConfig> removed_listeners;
  std::vector<ChangedListener> changed_listeners;
  bool log_level = false;
  bool limits = false;
  bool shutdown_timeout = false;
  bool udp = false;         // a `udp:` value other than `listen` (guards, rates, sizes)
  bool metrics = false;     // the endpoint is restarted on its new address (or stopped)
  bool workers = false;     // applied on reload (workers started or retired)
  bool log_target = false;  // needs a restart

  [[nodiscard]] bool any() const;
  // One phrase per change, for the log, in the order of the key table (config_keys.hpp):
  // "listen +[::1]:7", "limits.io_buffer 64KiB -> 128KiB". Changes of `workers` (the supervisor
  // reports the resolved counts) and of keys that need a restart are not described here.
  [[nodiscard]] std::vector<std::string> describe(const Config& before, const Config& after) const;
};

ConfigChanges diff_configs(const Config& before, const Config& after);

}  // namespace echod
