#include "udp_namespace_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>

#include "support/child_process.hpp"
#include "support/network_namespace.hpp"

namespace echod::test {
namespace {

// The Internet checksum (RFC 1071) of `bytes`, folded, not yet complemented.
std::uint32_t ones_complement_sum(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    const std::uint32_t high = bytes[i];
    const std::uint32_t low = i + 1 < bytes.size() ? bytes[i + 1] : 0;
    sum += (high << 8) | low;
  }
  while ((sum >> 16) != 0) sum = (sum & 0xffffU) + (sum >> 16);
  return sum;
}

void put16(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint32_t value) {
  bytes[at] = static_cast<std::uint8_t>((value >> 8) & 0xffU);
  bytes[at + 1] = static_cast<std::uint8_t>(value & 0xffU);
}

// The address bytes (4 or 16, network order) and the port of `address`.
std::span<const std::uint8_t> address_bytes(const SocketAddress& address) {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
  if (address.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address.data());
    return {reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr), 16};
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(address.data());
  return {reinterpret_cast<const std::uint8_t*>(&v4->sin_addr), 4};
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
}

}  // namespace

std::vector<Endpoint> udp_endpoints(const DaemonProcess& daemon) {
  if (daemon.notifications().empty()) return {};
  return echod::test::udp_endpoints(
      notification_field(daemon.notifications().back(), "STATUS").value_or(""));
}

double reason_count(const Scrape& scrape, std::string_view reason) {
  const std::string label = "reason=\"" + std::string(reason) + "\"";
  double total = 0;
  for (const auto& [series, value] : scrape.samples) {
    if (series.starts_with(kDropped + "{") && series.find(label) != std::string::npos) {
      total += value;
    }
  }
  return total;
}

std::string daemon_config(const std::string& udp_section, unsigned workers) {
  DaemonConfig config;
  config.workers = workers;
  config.metrics_listen = "127.0.0.1:0";
  return config.yaml() + "udp:\n" + udp_section;
}

SocketAddress socket_address(const std::string& host, std::uint16_t port) {
  // echod's own parser, on the text form of the endpoint ("10.1.0.1:7", "[fd00:1::1]:7").
  const std::string text = Endpoint{host, port}.to_string();
  SocketAddress::ParseResult parsed = SocketAddress::parse(text);
  if (!parsed.address) {
    ADD_FAILURE() << "not an address: " << text << ": " << parsed.error;
    return {};
  }
  return *parsed.address;
}

UniqueFd bound_udp_socket(const std::string& host, std::uint16_t port) {
  const SocketAddress local = socket_address(host, port);
  UniqueFd fd(::socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return fd;
  }
  if (::bind(fd.get(), local.data(), local.length()) != 0) {
    ADD_FAILURE() << "bind " << local.to_string() << ": " << std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

std::optional<Datagram> receive_from(int fd, Clock::duration timeout) {
  pollfd ready{fd, POLLIN, 0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  if (::poll(&ready, 1, static_cast<int>(ms)) != 1) return std::nullopt;
  Datagram datagram;
  datagram.payload.resize(2048);
  sockaddr_storage source{};
  socklen_t length = sizeof(source);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_storage as sockaddr.
  auto* address = reinterpret_cast<sockaddr*>(&source);
  const ssize_t n = ::recvfrom(fd, datagram.payload.data(), datagram.payload.size(), MSG_DONTWAIT,
                               address, &length);
  if (n < 0) return std::nullopt;
  datagram.payload.resize(static_cast<std::size_t>(n));
  datagram.source = SocketAddress::from_sockaddr(address, length);
  return datagram;
}

bool has_datagram(int fd) {
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC) >= 0;
}

bool send_to(int fd, std::string_view payload, const std::string& host, std::uint16_t port) {
  const SocketAddress destination = socket_address(host, port);
  return ::sendto(fd, payload.data(), payload.size(), 0, destination.data(),
                  destination.length()) == static_cast<ssize_t>(payload.size());
}

std::vector<std::uint8_t> udp_packet(const SocketAddress& source, const SocketAddress& destination,
                                     std::string_view payload) {
  constexpr std::size_t kUdpHeader = 8;
  const bool v6 = source.family() == AF_INET6;
  const std::size_t ip_header = v6 ? 40 : 20;
  const std::size_t udp_length = kUdpHeader + payload.size();
  const auto from = address_bytes(source);
  const auto to = address_bytes(destination);
  std::vector<std::uint8_t> packet(ip_header + udp_length, 0);
  if (v6) {
    packet[0] = 0x60;  // version 6, traffic class and flow label 0
    put16(packet, 4, static_cast<std::uint32_t>(udp_length));
    packet[6] = IPPROTO_UDP;
    packet[7] = 64;  // hop limit
    std::memcpy(&packet[8], from.data(), 16);
    std::memcpy(&packet[24], to.data(), 16);
  } else {
    packet[0] = 0x45;  // version 4, 5 words of header
    put16(packet, 2, static_cast<std::uint32_t>(packet.size()));
    put16(packet, 4, 1);  // identification
    packet[8] = 64;       // TTL
    packet[9] = IPPROTO_UDP;
    std::memcpy(&packet[12], from.data(), 4);
    std::memcpy(&packet[16], to.data(), 4);
    put16(packet, 10, ~ones_complement_sum(std::span(packet).first(ip_header)) & 0xffffU);
  }
  put16(packet, ip_header, source.port());
  put16(packet, ip_header + 2, destination.port());
  put16(packet, ip_header + 4, static_cast<std::uint32_t>(udp_length));
  std::memcpy(&packet[ip_header + kUdpHeader], payload.data(), payload.size());
  // The pseudo-header: source, destination, then (IPv4) zero, protocol, UDP length or (IPv6)
  // the UDP length in 32 bits, three zeros, the next header.
  std::vector<std::uint8_t> pseudo(from.begin(), from.end());
  pseudo.insert(pseudo.end(), to.begin(), to.end());
  const std::size_t tail = pseudo.size();
  pseudo.resize(tail + (v6 ? 8 : 4), 0);
  pseudo[v6 ? tail + 7 : tail + 1] = IPPROTO_UDP;
  put16(pseudo, tail + 2, static_cast<std::uint32_t>(udp_length));
  const std::uint32_t partial = ones_complement_sum(pseudo);
  std::uint32_t checksum =
      ~ones_complement_sum(std::span(packet).subspan(ip_header), partial) & 0xffffU;
  if (checksum == 0) checksum = 0xffff;  // 0 means "no checksum" in UDP over IPv4
  put16(packet, ip_header + 6, checksum);
  return packet;
}

UniqueFd raw_sender(const std::string& device, int family) {
  UniqueFd fd(::socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!fd) {
    ADD_FAILURE() << "raw socket: " << std::strerror(errno);
    return fd;
  }
  if (!device.empty() && ::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, device.c_str(),
                                      static_cast<socklen_t>(device.size())) != 0) {
    ADD_FAILURE() << "SO_BINDTODEVICE " << device << ": " << std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

bool send_packet(int raw, const std::vector<std::uint8_t>& packet,
                 const SocketAddress& destination) {
  // A raw IPv6 socket reads sin6_port as a protocol number: 0 keeps the socket's own.
  SocketAddress to = destination;
  to.set_port(0);
  const ssize_t n = ::sendto(raw, packet.data(), packet.size(), 0, to.data(), to.length());
  return n == static_cast<ssize_t>(packet.size());
}

bool send_forged(int raw, const SocketAddress& source, const SocketAddress& destination,
                 std::string_view payload) {
  if (!send_packet(raw, udp_packet(source, destination, payload), destination)) {
    ADD_FAILURE() << "raw send " << source.to_string() << " -> " << destination.to_string() << ": "
                  << std::strerror(errno);
    return false;
  }
  return true;
}

void UdpNamespaceTest::SetUp() {
  original_ = UniqueFd(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  std::string why;
  if (!enter_private_network(why)) {
    GTEST_SKIP() << "no private network namespace: " << why;
  }
  entered_ = true;
  ip_ = find_program("ip");
  if (ip_.empty()) {
    GTEST_SKIP() << "no `ip` program to configure the namespace";
  }
  if (!ip({"link", "add", kInterface, "type", "veth", "peer", "name", kPeerInterface}, why)) {
    GTEST_SKIP() << "cannot create a veth pair: " << why;
  }
  created_ = true;
  for (const char* address : {"10.1.0.1/24", "10.1.0.2/24"}) {
    ASSERT_TRUE(ip({"addr", "add", address, "brd", "+", "dev", kInterface}, why)) << why;
  }
  ASSERT_TRUE(ip({"link", "set", kInterface, "up"}, why)) << why;
  ASSERT_TRUE(ip({"link", "set", kPeerInterface, "up"}, why)) << why;
}

void UdpNamespaceTest::TearDown() {
  std::string why;
  if (created_) {
    EXPECT_TRUE(ip({"link", "del", kInterface}, why)) << why;
  }
  if (entered_ && original_.valid() && ::setns(original_.get(), CLONE_NEWNET) != 0) {
    std::printf("note: cannot return to the original network namespace: %s\n",
                std::strerror(errno));
  }
}

bool UdpNamespaceTest::ip(std::vector<std::string> args, std::string& why) const {
  args.insert(args.begin(), ip_);
  CommandResult result = run_command(args, clean_environment(), 10s);
  if (result.exit_code == 0) return true;
  why = "ip";
  for (std::size_t i = 1; i < args.size(); ++i) why += " " + args[i];
  why += ": " + result.err;
  return false;
}

bool UdpNamespaceTest::add_ipv6_addresses(std::string& why) const {
  for (const std::string address : {"fd00:1::1/64", "fd00:1::2/64"}) {
    if (!ip({"-6", "addr", "add", address, "dev", kInterface, "nodad"}, why)) return false;
  }
  return true;
}

}  // namespace echod::test
