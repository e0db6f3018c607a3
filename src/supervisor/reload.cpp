#include "supervisor/reload.hpp"

#include <algorithm>
#include <filesystem>

namespace echod {
namespace {

bool contains(const std::vector<SocketAddress>& list, const SocketAddress& address) {
  return std::find(list.begin(), list.end(), address) != list.end();
}

std::string join_addresses(char sign, const std::vector<SocketAddress>& addresses) {
  std::string text;
  for (const SocketAddress& address : addresses) {
    if (!text.empty()) text += ' ';
    text += sign + address.to_string();
  }
  return text;
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
  for (const SocketAddress& address : after.listen) {
    if (!contains(before.listen, address)) changes.added_listeners.push_back(address);
  }
  for (const SocketAddress& address : before.listen) {
    if (!contains(after.listen, address)) changes.removed_listeners.push_back(address);
  }
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
  if (!added_listeners.empty()) lines.push_back("listen " + join_addresses('+', added_listeners));
  if (!removed_listeners.empty()) {
    lines.push_back("listen " + join_addresses('-', removed_listeners));
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
