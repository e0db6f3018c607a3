#include "config/config_keys.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <utility>

#include "config/config_loader.hpp"
#include "config/text_util.hpp"
#include "config/units.hpp"
#include "sys/cidr.hpp"

namespace echod {
namespace {

// --- Reading values ---

// A value with a unit, min..max: "a size (1KiB-1MiB, e.g. 16KiB)".
template <typename T>
void read_in_range(ValueSource& value, std::string_view kind, std::string_view example, T min,
                   T max, std::optional<T> (*parse)(std::string_view, std::string&),
                   std::string (*format)(T), T& out) {
  const std::string range = format(min) + "-" + format(max);
  auto text =
      value.scalar(std::string(kind) + " (" + range + ", e.g. " + std::string(example) + ")");
  if (!text) return;
  std::string message;
  auto parsed = parse(*text, message);
  if (!parsed) {
    value.error(message);
  } else if (*parsed < min || *parsed > max) {
    value.error(excerpt(*text) + " is out of range " + range);
  } else {
    out = *parsed;
  }
}

void read_size(ValueSource& value, std::size_t min, std::size_t max, std::size_t& out) {
  read_in_range(value, "a size", "16KiB", min, max, parse_size, format_size, out);
}

void read_count(ValueSource& value, std::uint32_t min, std::uint32_t max, std::uint32_t& out) {
  auto text = value.scalar("a number " + std::to_string(min) + "-" + std::to_string(max));
  if (!text) return;
  std::string message;
  if (auto count = parse_count(*text, min, max, message)) {
    out = static_cast<std::uint32_t>(*count);
  } else {
    value.error(message);
  }
}

void read_duration(ValueSource& value, std::chrono::milliseconds max,
                   std::chrono::milliseconds& out) {
  read_in_range(value, "a duration", "10s", std::chrono::milliseconds(0), max, parse_duration,
                format_duration, out);
}

// A value that `parse` reads from its whole text, setting `message` when it cannot.
template <typename T, typename Parse>
void read_scalar(ValueSource& value, std::string_view expected, Parse parse, T& out) {
  auto text = value.scalar(expected);
  if (!text) return;
  std::string message;
  if (auto parsed = parse(*text, message)) {
    out = *parsed;
  } else {
    value.error(message);
  }
}

// A list of strings that `parse` turns into values, without duplicates. Returns nothing if the
// list or any item is invalid (every invalid item is reported).
template <typename T, typename Parse>
std::optional<std::vector<T>> read_list(ValueSource& value, const ListSpec& spec, Parse parse) {
  const std::optional<std::size_t> size = value.list_size(spec);
  if (!size) return std::nullopt;
  std::vector<T> values;
  std::unordered_map<std::string, std::string> paths;  // value as text -> where it was given
  bool valid = true;
  for (std::size_t index = 0; index < *size; ++index) {
    const std::optional<std::string> text = value.item(index, spec);
    if (!text) {
      valid = false;
      continue;
    }
    std::string message;
    if (std::optional<T> parsed = parse(*text, message)) {
      // The canonical text form identifies the value ("localhost:7" is "127.0.0.1:7").
      auto [first, added] = paths.try_emplace(parsed->to_string(), value.item_path(index));
      if (added) {
        values.push_back(*parsed);
        continue;
      }
      message = "duplicate " + std::string(spec.noun) + " " + first->first + " (also " +
                first->second + ")";
    }
    value.item_error(index, std::move(message));
    valid = false;
  }
  if (!valid) return std::nullopt;
  return values;
}

bool read_networks(ValueSource& value, std::vector<Cidr>& out);
void read_duration_between(ValueSource& value, std::chrono::milliseconds min,
                           std::chrono::milliseconds max, std::chrono::milliseconds& out) {
  read_in_range(value, "a duration", "5s", min, max, parse_duration, format_duration, out);
}

std::optional<ProxyProtocol> parse_proxy_protocol(const std::string& text, std::string& message) {
  for (const ProxyProtocol protocol :
       {ProxyProtocol::kOff, ProxyProtocol::kV1, ProxyProtocol::kV2, ProxyProtocol::kAny}) {
    if (text == to_string(protocol)) return protocol;
  }
  message = "'" + excerpt(text) + "' is not one of off, v1, v2, any";
  return std::nullopt;
}

// A listener written as a mapping: {address: "HOST:PORT", proxy_protocol: v2, trusted: [...],
// header_timeout: 5s}. Reports every problem; returns a listener only when there is none.
std::optional<ListenerConfig> read_listener_mapping(ValueSource& list, std::size_t index) {
  constexpr std::string_view kKeys = "address, proxy_protocol, trusted, header_timeout";
  std::vector<ItemField> fields = list.item_fields(index);
  ListenerConfig listener = ListenerConfig::tcp({});
  ListenerOptions& options = listener.options;
  bool valid = true;
  bool has_address = false;
  ValueSource* proxy_value = nullptr;
  ValueSource* trusted_value = nullptr;
  ValueSource* timeout_value = nullptr;
  for (ItemField& field : fields) {
    ValueSource& value = *field.value;
    if (field.name == "address") {
      auto text = value.scalar("a HOST:PORT string, e.g. \"0.0.0.0:7007\"");
      auto parsed = text ? SocketAddress::parse(*text) : SocketAddress::ParseResult{};
      if (parsed.address) {
        listener.address = *parsed.address;
        has_address = true;
      } else if (text) {
        value.error(parsed.error);
      }
      valid = valid && parsed.address.has_value();
      continue;
    }
    if (field.name == "proxy_protocol") {
      proxy_value = &value;
    } else if (field.name == "trusted") {
      trusted_value = &value;
    } else if (field.name == "header_timeout") {
      timeout_value = &value;
    } else {
      static constexpr std::array<std::string_view, 4> kNames{"address", "proxy_protocol",
                                                              "trusted", "header_timeout"};
      auto match = closest_match(field.name, kNames);
      value.key_error(match ? "unknown key; did you mean '" + std::string(*match) + "'?"
                            : "unknown key; expected one of " + std::string(kKeys));
      valid = false;
    }
  }
  if (proxy_value != nullptr) {
    auto text = proxy_value->scalar("one of off, v1, v2, any");
    std::string message;
    auto protocol = text ? parse_proxy_protocol(*text, message) : std::nullopt;
    if (!protocol) {
      if (text) proxy_value->error(message);
      return std::nullopt;  // whether trusted and header_timeout belong here is unknown
    }
    options.proxy_protocol = *protocol;
  }
  if (trusted_value != nullptr) {
    if (!read_networks(*trusted_value, options.trusted)) return std::nullopt;
    for (std::size_t i = 0; i < options.trusted.size(); ++i) {
      if (options.trusted[i].prefix_length() != 0) continue;
      trusted_value->item_warning(i, options.trusted[i].to_string() +
                                         " is every address: any host that can connect can "
                                         "claim to be any client; list the balancers' networks");
    }
  }
  if (timeout_value != nullptr) {
    read_duration_between(*timeout_value, kMinHeaderTimeout, kMaxHeaderTimeout,
                          options.header_timeout);
    if (options.header_timeout < std::chrono::seconds(3)) {
      timeout_value->warning("below 3s, a header delayed by one TCP retransmission is refused");
    }
  }
  if (!options.proxy()) {
    for (ValueSource* given : {trusted_value, timeout_value}) {
      if (given == nullptr) continue;
      given->key_error("only valid with proxy_protocol v1, v2 or any");
      valid = false;
    }
  } else if (trusted_value == nullptr) {
    proxy_value->error(
        "a PROXY listener needs 'trusted': the networks of the balancers allowed to connect and "
        "name a client, e.g. trusted: [\"10.0.0.0/24\"]");
    valid = false;
  } else if (options.trusted.empty()) {
    trusted_value->error(
        "the list is empty; a PROXY listener needs the networks of the balancers allowed to "
        "connect, e.g. [\"10.0.0.0/24\"]");
    valid = false;
  }
  if (!has_address && valid) {
    list.item_error(index, "missing 'address', e.g. {address: \"0.0.0.0:7007\"}");
  }
  if (!has_address) return std::nullopt;
  return valid ? std::optional(listener) : std::nullopt;
}

// `listen:` lists TCP listeners: "HOST:PORT" strings (no PROXY protocol), or mappings for
// listeners with options.
void read_listen(ValueSource& value, ConfigDraft& draft) {
  static constexpr ListSpec kSpec{"HOST:PORT string", "address", R"(["127.0.0.1:7", "[::1]:7"])",
                                  "; quote IPv6 addresses, e.g. \"[::1]:7\""};
  const std::optional<std::size_t> size = value.list_size(kSpec);
  if (!size) return;
  std::vector<ListenerConfig> listeners;
  std::unordered_map<std::string, std::string> paths;  // address as text -> where it was given
  bool valid = true;
  for (std::size_t index = 0; index < *size; ++index) {
    std::optional<ListenerConfig> listener;
    if (value.item_is_mapping(index)) {
      listener = read_listener_mapping(value, index);
    } else if (const std::optional<std::string> text = value.item(index, kSpec)) {
      auto parsed = SocketAddress::parse(*text);
      if (parsed.address) {
        listener = ListenerConfig::tcp(*parsed.address);
      } else {
        value.item_error(index, parsed.error);
      }
    }
    if (!listener) {
      valid = false;
      continue;
    }
    // The canonical text form identifies the address ("localhost:7" is "127.0.0.1:7").
    auto [first, added] = paths.try_emplace(listener->to_string(), value.item_path(index));
    if (!added) {
      value.item_error(index,
                       "duplicate address " + first->first + " (also " + first->second + ")");
      valid = false;
      continue;
    }
    listeners.push_back(std::move(*listener));
  }
  if (!valid) return;
  if (listeners.empty()) {
    value.error("the list is empty; echod needs at least one address to listen on");
    return;
  }
  draft.config.listen = std::move(listeners);
}

// An empty value is an empty list here: with every network commented out, nobody is allowed,
// denied or exempted by this list.
// False when the value is not a valid list (the problems are reported).
bool read_networks(ValueSource& value, std::vector<Cidr>& out) {
  if (value.is_null()) {
    out.clear();
    return true;
  }
  static constexpr ListSpec kSpec{"network string", "network", R"(["10.0.0.0/8", "2001:db8::/32"])",
                                  ""};
  auto networks = read_list<Cidr>(value, kSpec, [](const std::string& text, std::string& message) {
    auto parsed = Cidr::parse(text);
    message = parsed.error;
    return parsed.cidr;
  });
  if (!networks) return false;
  out = std::move(*networks);
  return true;
}

// --- The `udp:` section ---

// `udp.listen`: UDP listeners. Empty (or every address commented out) switches UDP off.
void read_udp_listen(ValueSource& value, ConfigDraft& draft) {
  if (value.is_null()) {
    draft.config.udp.listen.clear();
    return;
  }
  static constexpr ListSpec kSpec{"HOST:PORT string", "address", R"(["127.0.0.1:7", "[::1]:7"])",
                                  "; quote IPv6 addresses, e.g. \"[::1]:7\""};
  auto listeners =
      read_list<ListenerConfig>(value, kSpec, [](const std::string& text, std::string& message) {
        auto parsed = SocketAddress::parse(text);
        message = parsed.error;
        return parsed.address ? std::optional(ListenerConfig::udp(*parsed.address)) : std::nullopt;
      });
  if (listeners) draft.config.udp.listen = std::move(*listeners);
}

// A port number in a list (read_list() wants to_string() for its duplicate check).
struct PortNumber {
  std::uint16_t value;
  [[nodiscard]] std::string to_string() const { return std::to_string(value); }
};

void read_ports(ValueSource& value, std::vector<std::uint16_t>& out) {
  if (value.is_null()) {
    out.clear();
    return;
  }
  static constexpr ListSpec kSpec{"port number", "port", "[2049, 11211]", ""};
  auto ports =
      read_list<PortNumber>(value, kSpec, [](const std::string& text, std::string& message) {
        auto port = parse_count(text, 1, 65535, message);
        return port ? std::optional(PortNumber{static_cast<std::uint16_t>(*port)}) : std::nullopt;
      });
  if (!ports) return;
  out.clear();
  for (const PortNumber& port : *ports) out.push_back(port.value);
}

void read_bool(ValueSource& value, bool& out) {
  auto text = value.scalar("true or false");
  if (!text) return;
  if (*text == "true") {
    out = true;
  } else if (*text == "false") {
    out = false;
  } else {
    value.error("'" + excerpt(*text) + "' is not true or false");
  }
}

void read_metrics_enabled(ValueSource& value, ConfigDraft& draft) {
  auto text = value.scalar("true or false");
  if (!text) return;
  draft.metrics_enabled_given = true;
  if (*text == "true") {
    draft.config.metrics.enabled = true;
  } else if (*text == "false") {
    draft.config.metrics.enabled = false;
  } else {
    value.error("'" + excerpt(*text) + "' is not true or false");
  }
}

void read_metrics_listen(ValueSource& value, ConfigDraft& draft) {
  auto text = value.scalar("a HOST:PORT string, e.g. \"127.0.0.1:9707\"");
  if (!text) return;
  auto parsed = SocketAddress::parse(*text);
  if (!parsed.address) {
    value.error(parsed.error);
  } else if (parsed.address->family() != AF_INET) {
    // The embedded HTTP server binds IPv4 addresses only (docs/configuration.md).
    value.error("'" + excerpt(*text) +
                "': the metrics endpoint needs an IPv4 address, e.g. \"127.0.0.1:9707\"");
  } else {
    draft.config.metrics.listen = *parsed.address;
    draft.metrics_listen_given = true;
  }
}

// --- Formatting values ---

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

template <typename T>
std::vector<std::string> quoted_items(const std::vector<T>& values) {
  std::vector<std::string> items;
  items.reserve(values.size());
  for (const T& value : values) items.push_back(quoted(value.to_string()));
  return items;
}

std::vector<std::string> port_items(const std::vector<std::uint16_t>& ports) {
  std::vector<std::string> items;
  items.reserve(ports.size());
  for (std::uint16_t port : ports) items.push_back(std::to_string(port));
  return items;
}

// A listener as `listen:` takes it: "HOST:PORT", or a flow mapping for one with options.
std::string format_listener(const ListenerConfig& listener) {
  const ListenerOptions& options = listener.options;
  if (!options.proxy()) return quoted(listener.to_string());
  std::string text = "{address: " + quoted(listener.to_string()) +
                     ", proxy_protocol: " + std::string(to_string(options.proxy_protocol)) +
                     ", trusted: [";
  for (std::size_t i = 0; i < options.trusted.size(); ++i) {
    if (i > 0) text += ", ";
    text += quoted(options.trusted[i].to_string());
  }
  return text + "], header_timeout: " + format_duration(options.header_timeout) + "}";
}

std::vector<std::string> format_listen(const Config& config) {
  std::vector<std::string> items;
  items.reserve(config.listen.size());
  for (const ListenerConfig& listener : config.listen) items.push_back(format_listener(listener));
  return items;
}

// --- Describing changes ---

void add_once(std::vector<std::string>& lines, std::string phrase) {
  if (std::find(lines.begin(), lines.end(), phrase) == lines.end()) {
    lines.push_back(std::move(phrase));
  }
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

// "listen +[::1]:7 -127.0.0.1:8", and for a listener whose options changed (its socket stays
// open): "listen 0.0.0.0:7007 {...} -> {...}".
void describe_listen(const Config& before, const Config& after, std::vector<std::string>& lines) {
  std::vector<ListenerConfig> added = listeners_only_in(after.listen, before.listen);
  std::vector<ListenerConfig> removed = listeners_only_in(before.listen, after.listen);
  for (const ListenerChange& change : take_option_changes(removed, added)) {
    lines.push_back("listen " + change.before.to_string() + " " + format_listener(change.before) +
                    " -> " + format_listener(change.after));
  }
  if (!added.empty()) lines.push_back("listen " + join_with_sign('+', added));
  if (!removed.empty()) lines.push_back("listen " + join_with_sign('-', removed));
}

// "limits.exempt +10.0.0.0/8 -127.0.0.0/8": the networks only in `after`, then those only in
// `before`. Nothing when only the order changed: the same networks are exempt.
void describe_exempt(const Config& before, const Config& after, std::vector<std::string>& lines) {
  auto only_in = [](const std::vector<Cidr>& list, const std::vector<Cidr>& other) {
    std::vector<Cidr> result;
    for (const Cidr& network : list) {
      if (std::find(other.begin(), other.end(), network) == other.end()) result.push_back(network);
    }
    return result;
  };
  const std::vector<Cidr>& a = before.limits.exempt;
  const std::vector<Cidr>& b = after.limits.exempt;
  std::string text = join_with_sign('+', only_in(b, a));
  const std::vector<Cidr> removed = only_in(a, b);
  if (!text.empty() && !removed.empty()) text += ' ';
  text += join_with_sign('-', removed);
  if (!text.empty()) lines.push_back("limits.exempt " + text);
}

// One phrase for both lists.
void describe_access(const Config& before, const Config& after, std::vector<std::string>& lines) {
  if (before.limits.access != after.limits.access) add_once(lines, "limits.access changed");
}

void describe_udp_listen(const Config& before, const Config& after,
                         std::vector<std::string>& lines) {
  const auto added = listeners_only_in(after.udp.listen, before.udp.listen);
  const auto removed = listeners_only_in(before.udp.listen, after.udp.listen);
  if (!added.empty()) lines.push_back("udp.listen " + join_with_sign('+', added));
  if (!removed.empty()) lines.push_back("udp.listen " + join_with_sign('-', removed));
}

void describe_udp_lists(const Config& before, const Config& after,
                        std::vector<std::string>& lines) {
  const UdpConfig& a = before.udp;
  const UdpConfig& b = after.udp;
  if (a.deny_source_ports != b.deny_source_ports) {
    add_once(lines, "udp.deny_source_ports changed");
  }
  if (a.rate_limit_exempt != b.rate_limit_exempt) add_once(lines, "udp.rate_limit_exempt changed");
  if (a.access != b.access) add_once(lines, "udp.access changed");
}

// One phrase for the endpoint as a whole: "metrics off -> 127.0.0.1:9707".
void describe_metrics(const Config& before, const Config& after, std::vector<std::string>& lines) {
  auto state = [](const MetricsConfig& config) {
    return config.enabled ? config.listen.to_string() : std::string("off");
  };
  if (state(before.metrics) != state(after.metrics)) {
    add_once(lines, "metrics " + state(before.metrics) + " -> " + state(after.metrics));
  }
}

// The `limits:` values, by member.
template <std::size_t LimitsConfig::*Field, std::size_t Min, std::size_t Max>
void read_limit_size(ValueSource& value, ConfigDraft& draft) {
  read_size(value, Min, Max, draft.config.limits.*Field);
}
template <std::uint32_t LimitsConfig::*Field, std::uint32_t Min, std::uint32_t Max>
void read_limit_count(ValueSource& value, ConfigDraft& draft) {
  read_count(value, Min, Max, draft.config.limits.*Field);
}
template <std::chrono::milliseconds LimitsConfig::*Field>
void read_limit_timeout(ValueSource& value, ConfigDraft& draft) {
  read_duration(value, kMaxConnectionTimeout, draft.config.limits.*Field);
}

FormattedValue format_value(std::size_t bytes) { return format_size(bytes); }
FormattedValue format_value(std::uint32_t count) { return std::to_string(count); }
FormattedValue format_value(std::chrono::milliseconds duration) {
  return format_duration(duration);
}
template <auto Field>
FormattedValue format_limit(const Config& config) {
  return format_value(config.limits.*Field);
}

// The `udp:` scalars, by member.
template <std::uint32_t UdpConfig::*Field, std::uint32_t Min, std::uint32_t Max>
void read_udp_count(ValueSource& value, ConfigDraft& draft) {
  read_count(value, Min, Max, draft.config.udp.*Field);
}
template <std::size_t UdpConfig::*Field, std::size_t Min, std::size_t Max>
void read_udp_size(ValueSource& value, ConfigDraft& draft) {
  read_size(value, Min, Max, draft.config.udp.*Field);
}
template <auto Field>
FormattedValue format_udp(const Config& config) {
  return format_value(config.udp.*Field);
}

void read_workers(ValueSource& value, ConfigDraft& draft) {
  read_scalar(
      value, "'auto' or a number 1-" + std::to_string(WorkerCount::kMaxWorkers),
      [](const std::string& text, std::string& message) {
        return parse_worker_count(text, message);
      },
      draft.config.workers);
}

void read_log_level(ValueSource& value, ConfigDraft& draft) {
  read_scalar(
      value, "one of trace, debug, info, warn, error, critical, off",
      [](const std::string& text, std::string& message) { return parse_log_level(text, message); },
      draft.config.log.level);
}

void read_log_target(ValueSource& value, ConfigDraft& draft) {
  read_scalar(
      value, "one of auto, journal, stderr",
      [](const std::string& text, std::string& message) { return parse_log_target(text, message); },
      draft.config.log.target);
}

using enum ReloadEffect;
using L = LimitsConfig;

// Entries of `limits:` values, applied live and described as "BEFORE -> AFTER".
template <std::size_t L::*Field, std::size_t Min, std::size_t Max>
constexpr ConfigKey limit_size(std::string_view name, std::string_view example) {
  return {"limits", name, kLive, example, read_limit_size<Field, Min, Max>, format_limit<Field>,
          nullptr};
}
template <std::uint32_t L::*Field, std::uint32_t Min, std::uint32_t Max>
constexpr ConfigKey limit_count(std::string_view name, std::string_view example) {
  return {"limits", name, kLive, example, read_limit_count<Field, Min, Max>, format_limit<Field>,
          nullptr};
}
template <std::chrono::milliseconds L::*Field>
constexpr ConfigKey limit_timeout(std::string_view name, std::string_view example) {
  return {"limits", name, kLive, example, read_limit_timeout<Field>, format_limit<Field>, nullptr};
}

using U = UdpConfig;

template <std::uint32_t U::*Field, std::uint32_t Min, std::uint32_t Max>
constexpr ConfigKey udp_count(std::string_view name, std::string_view example) {
  return {"udp", name, kLive, example, read_udp_count<Field, Min, Max>, format_udp<Field>, nullptr};
}
template <std::size_t U::*Field, std::size_t Min, std::size_t Max>
constexpr ConfigKey udp_size(std::string_view name, std::string_view example) {
  return {"udp", name, kLive, example, read_udp_size<Field, Min, Max>, format_udp<Field>, nullptr};
}

// The table. Each entry: section, name, how a change applies, an example value, then how the
// key is read, written and described.
const auto kKeys = std::to_array<ConfigKey>({
    {"", "listen", kListeners,
     R"(["127.0.0.1:7007", {address: "127.0.0.1:7008", proxy_protocol: v2, )"
     R"(trusted: ["10.0.0.0/8"], header_timeout: 4s}])",
     read_listen, [](const Config& c) -> FormattedValue { return format_listen(c); },
     describe_listen},
    {"", "workers", kWorkers, "3", read_workers,
     [](const Config& c) -> FormattedValue { return format_worker_count(c.workers); }, nullptr},
    {"log", "level", kLive, "debug", read_log_level,
     [](const Config& c) -> FormattedValue { return std::string(to_string(c.log.level)); },
     nullptr},
    {"log", "target", kRestart, "stderr", read_log_target,
     [](const Config& c) -> FormattedValue { return std::string(to_string(c.log.target)); },
     nullptr},
    limit_size<&L::io_buffer, kMinIoBuffer, kMaxIoBuffer>("io_buffer", "16KiB"),
    limit_size<&L::max_pending_output, kMinMaxPendingOutput, kMaxMaxPendingOutput>(
        "max_pending_output", "1MiB"),
    limit_count<&L::max_connections, 1, kMaxConnectionsLimit>("max_connections", "500"),
    limit_count<&L::max_connections_per_ip, 0, kMaxConnectionsLimit>("max_connections_per_ip", "8"),
    limit_count<&L::accept_rate_per_ip, 0, kMaxAcceptRatePerIp>("accept_rate_per_ip", "50"),
    // A bucket of 0 tokens would refuse every connection; "no limit" is accept_rate_per_ip: 0.
    limit_count<&L::accept_burst_per_ip, 1, kMaxAcceptRatePerIp>("accept_burst_per_ip", "60"),
    {"limits", "exempt", kLive, R"(["10.0.0.0/8"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.limits.exempt); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.limits.exempt); },
     describe_exempt},
    limit_timeout<&L::idle_timeout>("idle_timeout", "5m"),
    limit_timeout<&L::send_stall_timeout>("send_stall_timeout", "10s"),
    {"limits.access", "allow", kLive, R"(["192.0.2.0/24"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.limits.access.allow); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.limits.access.allow); },
     describe_access},
    {"limits.access", "deny", kLive, R"(["198.51.100.0/24"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.limits.access.deny); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.limits.access.deny); },
     describe_access},
    {"metrics", "enabled", kMetrics, "true", read_metrics_enabled,
     [](const Config& c) -> FormattedValue {
       return std::string(c.metrics.enabled ? "true" : "false");
     },
     describe_metrics},
    {"metrics", "listen", kMetrics, R"("127.0.0.1:9100")", read_metrics_listen,
     [](const Config& c) -> FormattedValue { return quoted(c.metrics.listen.to_string()); },
     describe_metrics},
    {"udp", "listen", kListeners, R"(["127.0.0.1:7007"])", read_udp_listen,
     [](const Config& c) -> FormattedValue {
       std::vector<std::string> items;
       for (const ListenerConfig& l : c.udp.listen) items.push_back(quoted(l.address.to_string()));
       return items;
     },
     describe_udp_listen},
    udp_size<&U::max_datagram, 1, kMaxUdpDatagram>("max_datagram", "1472"),
    udp_count<&U::min_source_port, 1, 65535>("min_source_port", "2048"),
    {"udp", "deny_source_ports", kLive, "[11211]",
     [](ValueSource& v, ConfigDraft& d) { read_ports(v, d.config.udp.deny_source_ports); },
     [](const Config& c) -> FormattedValue { return port_items(c.udp.deny_source_ports); },
     describe_udp_lists},
    udp_count<&U::rate_per_source, 0, kMaxUdpRate>("rate_per_source", "50"),
    // A bucket of 0 tokens would drop every datagram; "no limit" is rate_per_source: 0.
    udp_count<&U::burst_per_source, 1, kMaxUdpRate>("burst_per_source", "100"),
    udp_size<&U::bytes_per_source, 0, kMaxUdpBytesPerSource>("bytes_per_source", "1MiB"),
    udp_count<&U::rate_global, 0, kMaxUdpRate>("rate_global", "5000"),
    {"udp", "rate_limit_exempt", kLive, R"(["10.0.0.0/8"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.udp.rate_limit_exempt); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.udp.rate_limit_exempt); },
     describe_udp_lists},
    {"udp", "allow_unlimited_public", kLive, "true",
     [](ValueSource& v, ConfigDraft& d) { read_bool(v, d.config.udp.allow_unlimited_public); },
     [](const Config& c) -> FormattedValue {
       return std::string(c.udp.allow_unlimited_public ? "true" : "false");
     },
     nullptr},
    {"udp.access", "allow", kLive, R"(["192.0.2.0/24"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.udp.access.allow); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.udp.access.allow); },
     describe_udp_lists},
    {"udp.access", "deny", kLive, R"(["198.51.100.0/24"])",
     [](ValueSource& v, ConfigDraft& d) { read_networks(v, d.config.udp.access.deny); },
     [](const Config& c) -> FormattedValue { return quoted_items(c.udp.access.deny); },
     describe_udp_lists},
    {"", "shutdown_timeout", kLive, "30s",
     [](ValueSource& v, ConfigDraft& d) {
       read_duration(v, kMaxShutdownTimeout, d.config.shutdown_timeout);
     },
     [](const Config& c) -> FormattedValue { return format_duration(c.shutdown_timeout); },
     nullptr},
});

}  // namespace

std::string ConfigKey::path() const {
  return section.empty() ? std::string(name) : std::string(section).append(".").append(name);
}

std::span<const ConfigKey> config_keys() { return kKeys; }

std::vector<KeyError> check_across_keys(ConfigDraft& draft) {
  std::vector<KeyError> errors;
  Config& config = draft.config;
  const LimitsConfig& limits = config.limits;
  if (draft.given.contains("limits.max_connections_per_ip") &&
      limits.max_connections_per_ip > limits.max_connections) {
    errors.push_back(
        {"limits.max_connections_per_ip", std::to_string(limits.max_connections_per_ip) +
                                              " is more than limits.max_connections (" +
                                              std::to_string(limits.max_connections) + ")"});
  }

  // An echo port open to other hosts without a rate limit is a reflector for spoofed sources.
  const UdpConfig& udp = config.udp;
  if (udp.unlimited() && !udp.allow_unlimited_public) {
    for (const ListenerConfig& listener : udp.listen) {
      if (listener.address.is_loopback()) continue;
      const char* which = udp.rate_per_source == 0    ? "udp.rate_per_source"
                          : udp.bytes_per_source == 0 ? "udp.bytes_per_source"
                                                      : "udp.rate_global";
      errors.push_back({"udp.listen", listener.address.to_string() +
                                          " is not a loopback address and " + which +
                                          " is 0 (no limit): anyone could use echod to reflect "
                                          "traffic; set a rate, or udp.allow_unlimited_public: "
                                          "true if that is intended"});
      break;
    }
  }

  // `enabled: false` keeps the endpoint off regardless of `listen`.
  if (draft.metrics_listen_given && !draft.metrics_enabled_given) config.metrics.enabled = true;
  if (!draft.metrics_listen_given || !config.metrics.enabled) return errors;
  const SocketAddress& address = config.metrics.listen;
  if (address.port() == 0) return errors;  // the kernel picks a free port
  for (const ListenerConfig& listener : config.listen) {
    const SocketAddress& echo = listener.address;
    // IPv6 listeners are IPv6-only (IPV6_V6ONLY): only IPv4 ones can overlap.
    if (listener.protocol == ListenProtocol::kTcp && echo.family() == AF_INET &&
        echo.port() == address.port() &&
        (echo == address || echo.is_wildcard() || address.is_wildcard())) {
      errors.push_back({"metrics.listen", address.to_string() + " overlaps listen address " +
                                              echo.to_string() + "; choose another port"});
      break;
    }
  }
  return errors;
}

}  // namespace echod
