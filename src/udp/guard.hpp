#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <bitset>
#include <cstdint>
#include <optional>
#include <vector>

#include "sys/cidr.hpp"
#include "udp/drop_reason.hpp"
#include "udp/packet_info.hpp"

namespace echod::udp {

// What the guard is told. Built by the supervisor from the configuration and the host's
// interfaces; a change (a reload, an address added) builds a new Guard.
struct GuardConfig {
  // Source ports below this are other services' ports (DNS, NTP, chargen, echo itself...):
  // a datagram from one is a reflection or the start of a loop, never a client.
  std::uint16_t min_source_port = 1024;
  std::vector<std::uint16_t> deny_source_ports = default_deny_source_ports();
  // Every UDP port echod serves echo on, whatever the address: two echods on the same high
  // port would otherwise echo each other forever.
  std::vector<std::uint16_t> own_ports;
  // The broadcast addresses of the host's interfaces (e.g. 192.0.2.255 for 192.0.2.1/24).
  std::vector<in_addr> broadcast_addresses;
  // The access list, with TCP's limits.access semantics: a source in `deny` is refused;
  // otherwise, when `allow` is not empty, it must be in `allow`.
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;

  // Services at or above 1024 that answer a datagram with one (or many): a reply to one of them
  // starts a loop or amplifies a reflection. NFS 2049, SSDP 1900, WS-Discovery 3702, mDNS 5353,
  // CoAP 5683, memcached 11211, Quake 3 27960. Ports in Linux's ephemeral range (32768-60999)
  // are left out on purpose: real clients get them by chance.
  static std::vector<std::uint16_t> default_deny_source_ports();
};

// The arrival of one datagram, as the guard sees it.
struct Arrival {
  const sockaddr* source = nullptr;  // msg_name as recvmsg filled it
  socklen_t source_length = 0;
  const PacketInfo* destination = nullptr;  // from PKTINFO; nullptr skips the destination rule
  bool on_loopback = false;                 // arrived on a loopback interface
};

// Decides, for one datagram, whether it may be echoed at all (rate limits apart): the source
// port and address, the destination, the access list. Cheapest rules first; the first rule
// that refuses gives the reason. Pure: no system calls, no allocation, no shared state.
//
// Thread contract: immutable after construction; any number of workers may share one.
class Guard {
 public:
  explicit Guard(GuardConfig config);

  [[nodiscard]] std::optional<DropReason> check(const Arrival& arrival) const;

  [[nodiscard]] const GuardConfig& config() const { return config_; }

 private:
  [[nodiscard]] std::optional<DropReason> check_port(std::uint16_t port) const;
  [[nodiscard]] std::optional<DropReason> check_ipv4_source(std::uint32_t address,
                                                            bool on_loopback) const;
  static std::optional<DropReason> check_ipv6_source(const in6_addr& address, bool on_loopback);
  [[nodiscard]] bool is_broadcast(std::uint32_t address) const;
  [[nodiscard]] bool is_unicast_destination(const PacketInfo& destination) const;
  [[nodiscard]] bool permits(const sockaddr* source, socklen_t length) const;

  GuardConfig config_;
  std::bitset<65536> denied_ports_;  // deny_source_ports, for a lookup per datagram
  std::bitset<65536> own_ports_;
};

}  // namespace echod::udp
