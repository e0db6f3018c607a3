#include "config/config_diff.hpp"

#include <variant>

#include "config/config_keys.hpp"

namespace echod {

bool ConfigChanges::any() const {
  return !added_listeners.empty() || !removed_listeners.empty() || !changed_listeners.empty() ||
         log_level || limits || udp || shutdown_timeout || metrics || workers || log_target;
}

ConfigChanges diff_configs(const Config& before, const Config& after) {
  ConfigChanges changes;
  const std::vector<ListenerConfig> before_listeners = before.all_listeners();
  const std::vector<ListenerConfig> after_listeners = after.all_listeners();
  changes.added_listeners = listeners_only_in(after_listeners, before_listeners);
  changes.removed_listeners = listeners_only_in(before_listeners, after_listeners);
  changes.changed_listeners =
      take_option_changes(changes.removed_listeners, changes.added_listeners);
  changes.log_level = before.log.level != after.log.level;
  changes.log_target = before.log.target != after.log.target;
  changes.limits = before.limits != after.limits;
  UdpConfig before_udp = before.udp;
  before_udp.listen = after.udp.listen;
  changes.udp = before_udp != after.udp;
  changes.shutdown_timeout = before.shutdown_timeout != after.shutdown_timeout;
  changes.workers = before.workers != after.workers;
  // An address given while the endpoint is off changes nothing.
  changes.metrics = before.metrics.enabled != after.metrics.enabled ||
                    (after.metrics.enabled && before.metrics.listen != after.metrics.listen);
  return changes;
}

std::vector<std::string> ConfigChanges::describe(const Config& before, const Config& after) const {
  std::vector<std::string> lines;
  for (const ConfigKey& key : config_keys()) {
    switch (key.effect) {
      case ReloadEffect::kWorkers:
      case ReloadEffect::kRestart:
        continue;
      case ReloadEffect::kMetrics:
        // The supervisor drops the change when the endpoint already serves the new address.
        if (!metrics) continue;
        break;
      case ReloadEffect::kListeners:
      case ReloadEffect::kLive:
        break;
    }
    if (key.describe != nullptr) {
      key.describe(before, after, lines);
      continue;
    }
    const auto from = std::get<std::string>(key.format(before));
    const auto to = std::get<std::string>(key.format(after));
    if (from != to) lines.push_back(key.path().append(" ").append(from).append(" -> ").append(to));
  }
  return lines;
}

}  // namespace echod
