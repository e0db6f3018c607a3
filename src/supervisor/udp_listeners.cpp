// UDP echo on the supervisor's side: opening the UDP listeners, and building what the workers'
// UDP sockets run with (the guard, the rate limits) from the `udp:` section.
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "supervisor/supervisor.hpp"
#include "sys/system_error.hpp"

#include <net/if.h>

namespace echod {
namespace {

// The broadcast addresses of the host's IPv4 interfaces: a datagram "from" one is spoofed, and
// one sent to one reached a wildcard bind. Read at start and on every reload.
std::vector<in_addr> broadcast_addresses() {
  std::vector<in_addr> addresses;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    spdlog::warn(
        "UDP guard: cannot list the network interfaces ({}); only 255.255.255.255 is "
        "treated as a broadcast address",
        errno_text(errno));
    return addresses;
  }
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if ((entry->ifa_flags & IFF_BROADCAST) == 0 || entry->ifa_broadaddr == nullptr ||
        entry->ifa_broadaddr->sa_family != AF_INET) {
      continue;
    }
    sockaddr_in broadcast{};
    std::memcpy(&broadcast, entry->ifa_broadaddr, sizeof(broadcast));
    addresses.push_back(broadcast.sin_addr);
  }
  ::freeifaddrs(list);
  return addresses;
}

udp::RateLimits rate_limits(const UdpConfig& config) {
  udp::RateLimits limits;
  limits.datagrams_per_source = config.rate_per_source;
  limits.datagram_burst_per_source = config.burst_per_source;
  limits.bytes_per_source = static_cast<double>(config.bytes_per_source);
  limits.byte_burst_per_source = 2.0 * static_cast<double>(config.bytes_per_source);
  limits.datagrams_global = config.rate_global;
  limits.datagram_burst_global = 2.0 * config.rate_global;
  return limits;
}

}  // namespace

std::vector<std::vector<UdpSocket>> Supervisor::open_udp(
    const std::vector<ListenerConfig>& listeners, unsigned workers) {
  std::vector<std::vector<UdpSocket>> groups;
  groups.reserve(listeners.size());
  for (const ListenerConfig& listener : listeners) {
    groups.push_back(ListenerRegistry::open_udp(listener, workers));
  }
  return groups;
}

std::vector<Supervisor::Posted> Supervisor::hand_out_udp(const ListenerConfig& configured,
                                                         std::vector<UdpSocket> sockets) {
  const ListenerRegistry::Group& group =
      listeners_.add(configured, sockets.front().address(), sockets.size());
  assert(sockets.size() >= workers_.size());  // opened for the target count, before any growth
  std::vector<Posted> posted;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker& worker = *workers_[i].worker;
    posted.push_back(
        {&worker, worker.post(AddUdpSocket{group.id, std::move(sockets[i]), group.udp_stats})});
  }
  return posted;
}

std::vector<std::uint16_t> Supervisor::udp_ports_after(
    const std::vector<ListenerConfig>& removed,
    const std::vector<std::vector<UdpSocket>>& opened) const {
  std::vector<std::uint16_t> ports;
  for (const ListenerRegistry::Group& group : listeners_.groups()) {
    if (group.configured.protocol != ListenProtocol::kUdp ||
        std::find(removed.begin(), removed.end(), group.configured) != removed.end()) {
      continue;
    }
    ports.push_back(group.bound.port());
  }
  for (const std::vector<UdpSocket>& group : opened) {
    if (!group.empty()) ports.push_back(group.front().address().port());
  }
  return ports;
}

std::vector<Supervisor::Posted> Supervisor::apply_udp_settings(
    const UdpConfig& config, const std::vector<std::uint16_t>& own_ports) {
  if (!udp_rates_) {
    udp_rates_ =
        std::make_unique<udp::RateTable>(udp::RateTable::kDefaultCapacity, rate_limits(config));
  } else {
    udp_rates_->set_limits(rate_limits(config));
  }
  udp::GuardConfig guard;
  guard.min_source_port = static_cast<std::uint16_t>(config.min_source_port);
  guard.deny_source_ports = config.deny_source_ports;
  guard.own_ports = own_ports;
  guard.broadcast_addresses = broadcast_addresses();
  guard.allow = config.access.allow;
  guard.deny = config.access.deny;
  auto settings = std::make_shared<UdpEchoSettings>(UdpEchoSettings{
      udp::Guard(std::move(guard)),
      udp::RateExemption(config.rate_limit_exempt),
      udp_rates_.get(),
      config.max_datagram,
      1,
  });
  if (unsigned lo = ::if_nametoindex("lo"); lo != 0) settings->loopback_ifindex = lo;
  udp_settings_ = settings;
  return post_all([&settings] { return ApplyUdpSettings{settings}; });
}

void Supervisor::publish_metrics_udp() {
  std::vector<MetricsCollector::UdpListenerView> views;
  for (const ListenerRegistry::Group& group : listeners_.groups()) {
    if (group.udp_stats) views.push_back({group.bound.to_string(), group.udp_stats});
  }
  metrics_->set_udp(std::move(views), udp_rates_.get());
}

}  // namespace echod
