#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace echod {

unsigned WorkerCount::resolve() const {
  if (!automatic) return count;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) return 1;
  if (cpus > static_cast<long>(kMaxWorkers)) return kMaxWorkers;
  return static_cast<unsigned>(cpus);
}

bool AccessConfig::permits(const SocketAddress& peer) const {
  auto matches = [&peer](const Cidr& network) { return network.contains(peer); };
  if (std::any_of(deny.begin(), deny.end(), matches)) return false;
  return allow.empty() || std::any_of(allow.begin(), allow.end(), matches);
}

std::vector<Cidr> LimitsConfig::default_exempt() {
  return {*Cidr::parse("127.0.0.0/8").cidr, *Cidr::parse("::1/128").cidr};
}

bool LimitsConfig::is_exempt(const SocketAddress& peer) const {
  return std::any_of(exempt.begin(), exempt.end(),
                     [&peer](const Cidr& network) { return network.contains(peer); });
}

std::string_view to_string(ProxyProtocol protocol) {
  switch (protocol) {
    case ProxyProtocol::kOff:
      return "off";
    case ProxyProtocol::kV1:
      return "v1";
    case ProxyProtocol::kV2:
      return "v2";
    case ProxyProtocol::kAny:
      return "any";
  }
  return "?";
}

ListenerConfig ListenerConfig::tcp(const SocketAddress& address) {
  return ListenerConfig{address, ListenProtocol::kTcp, {}};
}

ListenerConfig ListenerConfig::udp(const SocketAddress& address) {
  return ListenerConfig{address, ListenProtocol::kUdp, {}};
}

std::string ListenerConfig::to_string() const {
  return protocol == ListenProtocol::kUdp ? address.to_string() + "/udp" : address.to_string();
}

std::size_t ListenerConfigHash::operator()(const ListenerConfig& listener) const {
  // Listeners of one configuration differ in their address far more often than in the rest.
  return std::hash<std::string>{}(listener.address.to_string()) ^
         static_cast<std::size_t>(listener.protocol);
}

std::vector<ListenerChange> take_option_changes(std::vector<ListenerConfig>& removed,
                                                std::vector<ListenerConfig>& added) {
  std::vector<ListenerChange> changes;
  for (auto was = removed.begin(); was != removed.end();) {
    auto now = std::find_if(added.begin(), added.end(), [&](const ListenerConfig& listener) {
      return listener.address == was->address && listener.protocol == was->protocol;
    });
    if (now == added.end()) {
      ++was;
      continue;
    }
    changes.push_back({*was, *now});
    added.erase(now);
    was = removed.erase(was);
  }
  return changes;
}

std::vector<ListenerConfig> listeners_only_in(const std::vector<ListenerConfig>& list,
                                              const std::vector<ListenerConfig>& other) {
  const std::unordered_set<ListenerConfig, ListenerConfigHash> known(other.begin(), other.end());
  std::vector<ListenerConfig> result;
  for (const ListenerConfig& listener : list) {
    if (!known.contains(listener)) result.push_back(listener);
  }
  return result;
}

std::vector<ListenerConfig> Config::default_listen() {
  return {ListenerConfig::tcp(*SocketAddress::parse("127.0.0.1:7").address),
          ListenerConfig::tcp(*SocketAddress::parse("[::1]:7").address)};
}

std::vector<ListenerConfig> Config::all_listeners() const {
  std::vector<ListenerConfig> all = listen;
  all.insert(all.end(), udp.listen.begin(), udp.listen.end());
  return all;
}

std::vector<std::uint16_t> UdpConfig::default_deny_source_ports() {
  return {1900, 2049, 3702, 5353, 5683, 11211, 27960};
}

SocketAddress MetricsConfig::default_listen() {
  return *SocketAddress::parse("127.0.0.1:9707").address;
}

}  // namespace echod
