// UDP echo seen from the wire, in a network namespace each test makes for itself
// (udp_namespace_test, udp_source_spray_test): the namespace fixture, plain and raw sockets of
// either family, and forged datagrams.
//
// The namespace has a veth pair (echod0, echod1) with 10.1.0.1/24 and 10.1.0.2/24 on echod0
// (and, for the tests that add them, fd00:1::1/64 and fd00:1::2/64). A raw socket bound to
// echod0 hands echod a datagram that, to it, arrived on echod0 and not on loopback.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "metrics_support.hpp"
#include "support/daemon_process.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace echod::test {

inline constexpr auto kReplyTimeout = 5s;
inline constexpr const char* kInterface = "echod0";
inline constexpr const char* kPeerInterface = "echod1";
inline constexpr const char* kServerAddress = "10.1.0.1";
inline constexpr const char* kClientAddress = "10.1.0.2";
inline constexpr const char* kServerAddress6 = "fd00:1::1";
inline constexpr const char* kClientAddress6 = "fd00:1::2";

inline const std::string kReceived = "echod_udp_datagrams_received_total";
inline const std::string kSent = "echod_udp_datagrams_sent_total";
inline const std::string kDropped = "echod_udp_datagrams_dropped_total";

// The UDP addresses of the daemon's last notification's STATUS=.
std::vector<Endpoint> udp_endpoints(const DaemonProcess& daemon);
// The datagrams dropped for `reason` (a `reason` label of echod_udp_datagrams_dropped_total).
double reason_count(const Scrape& scrape, std::string_view reason);
// A configuration with metrics on 127.0.0.1:0, `workers` workers and `udp_section` (lines
// indented under `udp:`).
std::string daemon_config(const std::string& udp_section, unsigned workers);

// An IPv4 or IPv6 socket address (IPv6 when `host` holds a ':'), for any numeric address
// (multicast, broadcast, mapped... included).
SocketAddress socket_address(const std::string& host, std::uint16_t port);

// An ordinary UDP socket bound to `host`:`port` (0: an ephemeral port), not connected.
UniqueFd bound_udp_socket(const std::string& host, std::uint16_t port);

struct Datagram {
  std::string payload;
  SocketAddress source;
};
// The next datagram on `fd` and where it came from, or nullopt when none comes in `timeout`.
std::optional<Datagram> receive_from(int fd, Clock::duration timeout = kReplyTimeout);
// Whether a datagram waits on `fd` now (no wait).
bool has_datagram(int fd);
bool send_to(int fd, std::string_view payload, const std::string& host, std::uint16_t port);

// An IP packet (IPv4 or IPv6, as the addresses are) holding one UDP datagram from `source` to
// `destination`, checksums included, for a raw socket that writes its own headers.
std::vector<std::uint8_t> udp_packet(const SocketAddress& source, const SocketAddress& destination,
                                     std::string_view payload);

// A raw socket of `family` that sends packets whose headers it writes itself (IPPROTO_RAW
// implies IP_HDRINCL / IPV6_HDRINCL), bound to `device` unless it is empty. The kernel delivers
// a packet for a local address through loopback, but reports (IP_PKTINFO, IPV6_PKTINFO) the
// device the address is on (IPv4: the device the sender is bound to) as the one it arrived on.
UniqueFd raw_sender(const std::string& device, int family = AF_INET);
// Sends a forged datagram from `source` to `destination` through `raw`; fails the test if the
// kernel refuses it.
bool send_forged(int raw, const SocketAddress& source, const SocketAddress& destination,
                 std::string_view payload);
// Sends a prepared packet (see udp_packet()) to `destination` through `raw`.
bool send_packet(int raw, const std::vector<std::uint8_t>& packet,
                 const SocketAddress& destination);

// Each test in a network namespace of its own, with the veth pair and IPv4 addresses above;
// skipped when the machine allows no namespace, or has no `ip` or veth. The pair is deleted and
// the thread goes back to its original namespace afterwards (the namespace goes with its last
// process).
class UdpNamespaceTest : public testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs `ip args...`; on failure, `why` says what failed.
  bool ip(std::vector<std::string> args, std::string& why) const;
  // Adds fd00:1::1/64 and fd00:1::2/64 to echod0 (without duplicate address detection, so that
  // they are usable at once); false, with `why`, when the namespace has no IPv6.
  bool add_ipv6_addresses(std::string& why) const;

 private:
  UniqueFd original_;
  bool entered_ = false;
  bool created_ = false;
  std::string ip_;
};

}  // namespace echod::test
