#include "udp/guard.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "sys/socket_address.hpp"

namespace echod::udp {
namespace {

constexpr bool is_ipv4_multicast(std::uint32_t a) { return (a & 0xf0000000U) == 0xe0000000U; }
constexpr bool is_ipv4_loopback(std::uint32_t a) { return (a >> 24) == 127; }
constexpr std::uint32_t kLimitedBroadcast = 0xffffffffU;

bool is_ipv6_multicast(const in6_addr& a) { return a.s6_addr[0] == 0xff; }

}  // namespace

std::vector<std::uint16_t> GuardConfig::default_deny_source_ports() {
  return {1900, 2049, 3702, 5353, 5683, 11211, 27960};
}

Guard::Guard(GuardConfig config) : config_(std::move(config)) {
  for (auto port : config_.deny_source_ports) denied_ports_.set(port);
  for (auto port : config_.own_ports) own_ports_.set(port);
}

std::optional<DropReason> Guard::check(const Arrival& arrival) const {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
  const sockaddr* source = arrival.source;
  if (source == nullptr) return DropReason::kBadSrcAddr;
  if (source->sa_family == AF_INET && arrival.source_length >= sizeof(sockaddr_in)) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(source);
    if (auto reason = check_port(ntohs(sin->sin_port))) return reason;
    if (auto reason = check_ipv4_source(ntohl(sin->sin_addr.s_addr), arrival.on_loopback)) {
      return reason;
    }
  } else if (source->sa_family == AF_INET6 && arrival.source_length >= sizeof(sockaddr_in6)) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(source);
    if (auto reason = check_port(ntohs(sin6->sin6_port))) return reason;
    if (auto reason = check_ipv6_source(sin6->sin6_addr, arrival.on_loopback)) return reason;
  } else {
    return DropReason::kBadSrcAddr;
  }
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  if (arrival.destination != nullptr && !is_unicast_destination(*arrival.destination)) {
    return DropReason::kNonUnicastDst;
  }
  if (!permits(source, arrival.source_length)) return DropReason::kAccessDenied;
  return std::nullopt;
}

std::optional<DropReason> Guard::check_port(std::uint16_t port) const {
  if (port == 0) return DropReason::kSrcPortZero;
  if (port < config_.min_source_port) return DropReason::kPrivilegedSrcPort;
  if (denied_ports_.test(port)) return DropReason::kDeniedSrcPort;
  if (own_ports_.test(port)) return DropReason::kOwnPort;
  return std::nullopt;
}

std::optional<DropReason> Guard::check_ipv4_source(std::uint32_t address, bool on_loopback) const {
  // 0/8 ("this network"), 224/4 (multicast), 240/4 (reserved, and 255.255.255.255): the kernel
  // drops most of these as martians already; checking costs three comparisons.
  if ((address >> 24) == 0 || is_ipv4_multicast(address) || (address >> 28) == 0xf) {
    return DropReason::kBadSrcAddr;
  }
  if (is_broadcast(address)) return DropReason::kBadSrcAddr;
  if (is_ipv4_loopback(address) && !on_loopback) return DropReason::kLoopbackSrcOffLo;
  return std::nullopt;
}

std::optional<DropReason> Guard::check_ipv6_source(const in6_addr& address, bool on_loopback) {
  if (IN6_IS_ADDR_UNSPECIFIED(&address) || is_ipv6_multicast(address)) {
    return DropReason::kBadSrcAddr;
  }
  // ::ffff:a.b.c.d and ::a.b.c.d: IPv4 in IPv6 clothes. echod's IPv6 sockets are IPv6-only,
  // so no real IPv4 client reaches them this way; an IPv4-mapped source on the wire is a
  // spoof meant to slip past IPv4 filters.
  if (IN6_IS_ADDR_V4MAPPED(&address)) return DropReason::kBadSrcAddr;
  if (IN6_IS_ADDR_LOOPBACK(&address)) {
    return on_loopback ? std::nullopt : std::optional(DropReason::kLoopbackSrcOffLo);
  }
  if (IN6_IS_ADDR_V4COMPAT(&address)) return DropReason::kBadSrcAddr;
  return std::nullopt;
}

bool Guard::is_broadcast(std::uint32_t address) const {
  if (address == kLimitedBroadcast) return true;
  return std::any_of(
      config_.broadcast_addresses.begin(), config_.broadcast_addresses.end(),
      [address](const in_addr& broadcast) { return ntohl(broadcast.s_addr) == address; });
}

bool Guard::is_unicast_destination(const PacketInfo& destination) const {
  if (destination.family == AF_INET) {
    std::uint32_t address = ntohl(destination.v4.s_addr);
    return !is_ipv4_multicast(address) && !is_broadcast(address) && address != 0;
  }
  if (destination.family == AF_INET6) return !is_ipv6_multicast(destination.v6);
  return true;  // no PKTINFO: nothing to judge by
}

bool Guard::permits(const sockaddr* source, socklen_t length) const {
  if (config_.allow.empty() && config_.deny.empty()) return true;
  // The same rule as TCP's AccessConfig::permits: deny wins, then allow (empty: everyone).
  const SocketAddress peer = SocketAddress::from_sockaddr(source, length);
  auto matches = [&peer](const Cidr& network) { return network.contains(peer); };
  if (std::any_of(config_.deny.begin(), config_.deny.end(), matches)) return false;
  return config_.allow.empty() || std::any_of(config_.allow.begin(), config_.allow.end(), matches);
}

}  // namespace echod::udp
