#include "supervisor/reload.hpp"

#include <algorithm>
#include <filesystem>

namespace echod {
namespace {

template <typename T>
bool contains(const std::vector<T>& list, const T& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

template <typename T>
std::string join_with_sign(char sign, const std::vector<T>& items) {
  std::string text;
  for (const T& item : items) {
    if (!text.empty()) text += ' ';
    text += sign + item.to_string();
  }
  return text;
}

// "+10.0.0.0/8 -127.0.0.0/8": the networks only in `after`, then those only in `before`.
std::string network_changes(const std::vector<Cidr>& before, const std::vector<Cidr>& after) {
  std::vector<Cidr> added;
  std::vector<Cidr> removed;
  for (const Cidr& network : after) {
    if (!contains(before, network)) added.push_back(network);
  }
  for (const Cidr& network : before) {
    if (!contains(after, network)) removed.push_back(network);
  }
  std::string text = join_with_sign('+', added);
  if (!text.empty() && !removed.empty()) text += ' ';
  return text + join_with_sign('-', removed);
}

}  // namespace

ConfigLoadResult load_effective_config(const CommandLine& command_line, bool& used_defaults) {
  used_defaults = false;
  ConfigLoadResult result;
  std::error_code ignored;
  if (!command_line.config_path_given &&
      !std::filesystem::exists(command_line.config_path, ignored)) {
    used_defaults = true;
    result.config = Config{};
  } else {
    result = load_config_file(command_line.config_path);
  }
  if (result.config) apply_overrides(command_line, *result.config);
  return result;
}

bool ConfigChanges::any() const {
  return !added_listeners.empty() || !removed_listeners.empty() || log_level || limits ||
         shutdown_timeout || metrics || workers || log_target;
}

ConfigChanges diff_configs(const Config& before, const Config& after) {
  ConfigChanges changes;
  // Whole values: a TCP and a UDP listener on one address are two listeners.
  changes.added_listeners = listeners_only_in(after.listen, before.listen);
  changes.removed_listeners = listeners_only_in(before.listen, after.listen);
  changes.log_level = before.log.level != after.log.level;
  changes.log_target = before.log.target != after.log.target;
  changes.limits = before.limits != after.limits;
  changes.shutdown_timeout = before.shutdown_timeout != after.shutdown_timeout;
  changes.workers = before.workers != after.workers;
  // An address given while the endpoint is off changes nothing.
  changes.metrics = before.metrics.enabled != after.metrics.enabled ||
                    (after.metrics.enabled && before.metrics.listen != after.metrics.listen);
  return changes;
}

std::vector<std::string> ConfigChanges::describe(const Config& before, const Config& after) const {
  std::vector<std::string> lines;
  if (!added_listeners.empty()) lines.push_back("listen " + join_with_sign('+', added_listeners));
  if (!removed_listeners.empty()) {
    lines.push_back("listen " + join_with_sign('-', removed_listeners));
  }
  if (log_level) {
    lines.push_back("log.level " + std::string(to_string(before.log.level)) + " -> " +
                    std::string(to_string(after.log.level)));
  }
  if (limits) {
    const LimitsConfig& a = before.limits;
    const LimitsConfig& b = after.limits;
    auto note = [&lines](const char* key, const std::string& from, const std::string& to) {
      if (from != to) lines.push_back(std::string("limits.") + key + " " + from + " -> " + to);
    };
    note("io_buffer", format_size(a.io_buffer), format_size(b.io_buffer));
    note("max_pending_output", format_size(a.max_pending_output),
         format_size(b.max_pending_output));
    note("max_connections", std::to_string(a.max_connections), std::to_string(b.max_connections));
    note("max_connections_per_ip", std::to_string(a.max_connections_per_ip),
         std::to_string(b.max_connections_per_ip));
    note("accept_rate_per_ip", std::to_string(a.accept_rate_per_ip),
         std::to_string(b.accept_rate_per_ip));
    note("accept_burst_per_ip", std::to_string(a.accept_burst_per_ip),
         std::to_string(b.accept_burst_per_ip));
    // Nothing to say when only the order changed: the same networks are exempt.
    if (std::string changed = network_changes(a.exempt, b.exempt); !changed.empty()) {
      lines.push_back("limits.exempt " + changed);
    }
    note("idle_timeout", format_duration(a.idle_timeout), format_duration(b.idle_timeout));
    note("send_stall_timeout", format_duration(a.send_stall_timeout),
         format_duration(b.send_stall_timeout));
    if (a.access != b.access) lines.emplace_back("limits.access changed");
  }
  if (shutdown_timeout) {
    lines.push_back("shutdown_timeout " + format_duration(before.shutdown_timeout) + " -> " +
                    format_duration(after.shutdown_timeout));
  }
  if (metrics) {
    auto state = [](const MetricsConfig& config) {
      return config.enabled ? config.listen.to_string() : std::string("off");
    };
    lines.push_back("metrics " + state(before.metrics) + " -> " + state(after.metrics));
  }
  return lines;
}

}  // namespace echod
