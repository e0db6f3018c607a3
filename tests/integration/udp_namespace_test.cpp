// UDP echo guards seen from the wire, in a network namespace each test makes for itself: forged
// sources sent through a raw socket, two echods that a forged datagram tries to pair into a
// loop, and a host with two addresses on one interface. The namespace has a veth pair (echod0,
// echod1) with 10.1.0.1/24 and 10.1.0.2/24 on echod0; a raw socket bound to echod0 hands echod
// a datagram that, to it, arrived on echod0 and not on loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metrics_support.hpp"
#include "support/child_process.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/network_namespace.hpp"
#include "support/test_data.hpp"
#include "sys/unique_fd.hpp"

namespace echod::test {
namespace {

constexpr auto kReplyTimeout = 5s;
constexpr const char* kInterface = "echod0";
constexpr const char* kPeerInterface = "echod1";
constexpr const char* kServerAddress = "10.1.0.1";
constexpr const char* kClientAddress = "10.1.0.2";

const std::string kReceived = "echod_udp_datagrams_received_total";
const std::string kSent = "echod_udp_datagrams_sent_total";
const std::string kDropped = "echod_udp_datagrams_dropped_total";

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

sockaddr_in ipv4(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ADD_FAILURE() << "not an IPv4 address: " << host;
  }
  return address;
}

std::string to_string(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof(text));
  return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

// An ordinary UDP socket bound to `host`:`port` (0: an ephemeral port), not connected.
UniqueFd bound_udp_socket(const std::string& host, std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return fd;
  }
  const sockaddr_in local = ipv4(host, port);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_in as sockaddr.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    ADD_FAILURE() << "bind " << host << ":" << port << ": " << std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

struct Datagram {
  std::string payload;
  sockaddr_in source{};
};

// The next datagram on `fd` and where it came from, or nullopt when none comes in `timeout`.
std::optional<Datagram> receive_from(int fd, Clock::duration timeout = kReplyTimeout) {
  pollfd ready{fd, POLLIN, 0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  if (::poll(&ready, 1, static_cast<int>(ms)) != 1) return std::nullopt;
  Datagram datagram;
  datagram.payload.resize(2048);
  socklen_t length = sizeof(datagram.source);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_in as sockaddr.
  auto* source = reinterpret_cast<sockaddr*>(&datagram.source);
  const ssize_t n = ::recvfrom(fd, datagram.payload.data(), datagram.payload.size(), MSG_DONTWAIT,
                               source, &length);
  if (n < 0) return std::nullopt;
  datagram.payload.resize(static_cast<std::size_t>(n));
  return datagram;
}

// Whether a datagram waits on `fd` now (no wait).
bool has_datagram(int fd) {
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC) >= 0;
}

bool send_to(int fd, const std::string& payload, const std::string& host, std::uint16_t port) {
  const sockaddr_in destination = ipv4(host, port);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_in as sockaddr.
  const auto* address = reinterpret_cast<const sockaddr*>(&destination);
  return ::sendto(fd, payload.data(), payload.size(), 0, address, sizeof(destination)) ==
         static_cast<ssize_t>(payload.size());
}

// The Internet checksum (RFC 1071) of `bytes`, folded, not yet complemented.
std::uint32_t ones_complement_sum(const std::vector<std::uint8_t>& bytes, std::uint32_t sum = 0) {
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

// An IPv4 packet holding one UDP datagram from `source` to `destination`, with correct IP and
// UDP checksums, for a raw socket with IP_HDRINCL.
std::vector<std::uint8_t> udp_packet(const sockaddr_in& source, const sockaddr_in& destination,
                                     const std::string& payload) {
  constexpr std::size_t kIpHeader = 20;
  constexpr std::size_t kUdpHeader = 8;
  const std::size_t udp_length = kUdpHeader + payload.size();
  std::vector<std::uint8_t> packet(kIpHeader + udp_length, 0);
  packet[0] = 0x45;  // version 4, 5 words of header
  put16(packet, 2, static_cast<std::uint32_t>(packet.size()));
  put16(packet, 4, 1);  // identification
  packet[8] = 64;       // TTL
  packet[9] = IPPROTO_UDP;
  std::memcpy(&packet[12], &source.sin_addr, 4);
  std::memcpy(&packet[16], &destination.sin_addr, 4);
  put16(packet, 10, ~ones_complement_sum({packet.begin(), packet.begin() + kIpHeader}) & 0xffffU);

  std::memcpy(&packet[kIpHeader], &source.sin_port, 2);
  std::memcpy(&packet[kIpHeader + 2], &destination.sin_port, 2);
  put16(packet, kIpHeader + 4, static_cast<std::uint32_t>(udp_length));
  std::memcpy(&packet[kIpHeader + kUdpHeader], payload.data(), payload.size());
  // The pseudo-header: source, destination, protocol, UDP length.
  std::vector<std::uint8_t> pseudo(12, 0);
  std::memcpy(&pseudo[0], &source.sin_addr, 4);
  std::memcpy(&pseudo[4], &destination.sin_addr, 4);
  pseudo[9] = IPPROTO_UDP;
  put16(pseudo, 10, static_cast<std::uint32_t>(udp_length));
  const std::uint32_t partial = ones_complement_sum(pseudo);
  std::uint32_t checksum =
      ~ones_complement_sum({packet.begin() + kIpHeader, packet.end()}, partial) & 0xffffU;
  if (checksum == 0) checksum = 0xffff;  // 0 means "no checksum" in UDP over IPv4
  put16(packet, kIpHeader + 6, checksum);
  return packet;
}

// A raw IPv4 socket that sends packets whose headers it writes itself (IPPROTO_RAW implies
// IP_HDRINCL), bound to `device`: the kernel delivers a packet for a local address through
// loopback, but reports (IP_PKTINFO) the device the sender is bound to as the one it arrived on.
UniqueFd raw_sender(const std::string& device) {
  UniqueFd fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
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

// Sends a forged datagram from `source` to `destination` through `raw`.
bool send_forged(int raw, const sockaddr_in& source, const sockaddr_in& destination,
                 const std::string& payload) {
  const std::vector<std::uint8_t> packet = udp_packet(source, destination, payload);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_in as sockaddr.
  const auto* address = reinterpret_cast<const sockaddr*>(&destination);
  const ssize_t n = ::sendto(raw, packet.data(), packet.size(), 0, address, sizeof(destination));
  if (n != static_cast<ssize_t>(packet.size())) {
    ADD_FAILURE() << "raw send " << to_string(source) << " -> " << to_string(destination) << ": "
                  << (n < 0 ? std::strerror(errno) : "short write");
    return false;
  }
  return true;
}

std::string daemon_config(const std::string& udp_section, unsigned workers) {
  DaemonConfig config;
  config.workers = workers;
  config.metrics_listen = "127.0.0.1:0";
  return config.yaml() + "udp:\n" + udp_section;
}

// Each test in a network namespace of its own, with the veth pair and addresses above; skipped
// when the machine allows no namespace, or has no `ip` or veth. The pair is deleted and the
// thread goes back to its original namespace afterwards (the namespace goes with its last
// process).
class UdpNamespaceTest : public testing::Test {
 protected:
  void SetUp() override {
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

  void TearDown() override {
    std::string why;
    if (created_) {
      EXPECT_TRUE(ip({"link", "del", kInterface}, why)) << why;
    }
    if (entered_ && original_.valid() && ::setns(original_.get(), CLONE_NEWNET) != 0) {
      std::printf("note: cannot return to the original network namespace: %s\n",
                  std::strerror(errno));
    }
  }

  bool ip(std::vector<std::string> args, std::string& why) const {
    args.insert(args.begin(), ip_);
    CommandResult result = run_command(args, clean_environment(), 10s);
    if (result.exit_code == 0) return true;
    why = "ip";
    for (std::size_t i = 1; i < args.size(); ++i) why += " " + args[i];
    why += ": " + result.err;
    return false;
  }

 private:
  UniqueFd original_;
  bool entered_ = false;
  bool created_ = false;
  std::string ip_;
};

// Forged sources, each arriving on echod0 (not loopback): every guarded one gets no reply and
// moves its own reason counter; source ports 1024 and 40000 from a valid address get exactly
// one reply each, from the address they were sent to.
TEST_F(UdpNamespaceTest, ForgedSourcesMeetTheirGuards) {
  // One worker: datagrams are handled in the order they were sent.
  DaemonProcess daemon(daemon_config("  listen: [\"10.1.0.1:0\", \"127.0.0.1:0\"]\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  const auto endpoints = udp_endpoints(daemon);
  ASSERT_EQ(endpoints.size(), 2U);
  ASSERT_EQ(endpoints[0].host, kServerAddress);
  ASSERT_EQ(endpoints[1].host, "127.0.0.1");
  const std::uint16_t port = endpoints[0].port;
  const sockaddr_in server = ipv4(kServerAddress, port);
  UniqueFd raw = raw_sender(kInterface);
  ASSERT_TRUE(raw.valid());

  struct Guarded {
    std::string host;
    std::uint16_t port;
    std::string reason;
  };
  const std::vector<Guarded> guarded = {
      {kClientAddress, 0, "src_port_zero"},
      {kClientAddress, 1023, "privileged_src_port"},
      {kClientAddress, 2049, "denied_src_port"},  // NFS, on the default deny list
      {kClientAddress, port, "own_port"},
      {"0.1.2.3", 40001, "bad_src_addr"},  // 0/8 (the kernel fills in a source of 0.0.0.0)
      {"240.0.0.1", 40001, "bad_src_addr"},
      {"224.0.0.1", 40001, "bad_src_addr"},
      {"255.255.255.255", 40001, "bad_src_addr"},
      {"10.1.0.255", 40001, "bad_src_addr"},  // echod0's broadcast address
      {"127.0.0.1", 40001, "loopback_src_off_lo"},
  };
  // Where a reply to a guarded source could be received, a socket waits for it.
  std::vector<UniqueFd> traps;
  for (std::uint16_t trap_port : {std::uint16_t{1023}, std::uint16_t{2049}, port}) {
    traps.push_back(bound_udp_socket(kClientAddress, trap_port));
    ASSERT_TRUE(traps.back().valid());
  }
  traps.push_back(bound_udp_socket("127.0.0.1", 40001));
  ASSERT_TRUE(traps.back().valid());

  std::map<std::string, double> expected;
  double count = 0;
  for (const Guarded& source : guarded) {
    const std::string what = source.host + ":" + std::to_string(source.port);
    ASSERT_TRUE(send_forged(raw.get(), ipv4(source.host, source.port), server, "from " + what));
    ++count;
    const double want = ++expected[source.reason];
    Scrape scrape = scrape_until(*metrics, [&](const Scrape& s) {
      return s.sum(kReceived) == count && s.sum(kDropped) == count;
    });
    EXPECT_EQ(scrape.sum(kReceived), count) << what;
    EXPECT_EQ(reason_count(scrape, source.reason), want) << what << " as " << source.reason;
    EXPECT_EQ(scrape.sum(kDropped), count) << what;
    EXPECT_EQ(scrape.sum(kSent), 0) << what;
  }
  EXPECT_TRUE(daemon.wait_for_log("reason loopback_src_off_lo"));

  // Valid sources: a socket at each forged address receives the reply.
  for (std::uint16_t source_port : {std::uint16_t{1024}, std::uint16_t{40000}}) {
    UniqueFd receiver = bound_udp_socket(kClientAddress, source_port);
    ASSERT_TRUE(receiver.valid());
    const std::string payload = random_bytes(100, source_port);
    ASSERT_TRUE(send_forged(raw.get(), ipv4(kClientAddress, source_port), server, payload));
    ++count;
    auto reply = receive_from(receiver.get());
    ASSERT_TRUE(reply.has_value()) << "no reply to source port " << source_port;
    EXPECT_TRUE(same_bytes(payload, reply->payload));
    EXPECT_EQ(to_string(reply->source), to_string(server));
    // echod counts a reply once it is sent: the count settles at one per valid source, so
    // nothing else was sent, and nothing more is queued for this socket.
    const double replies = source_port == 1024 ? 1 : 2;
    Scrape scrape = scrape_until(*metrics, [&](const Scrape& s) {
      return s.sum(kReceived) == count && s.sum(kSent) == replies;
    });
    EXPECT_EQ(scrape.sum(kSent), replies) << "source port " << source_port;
    EXPECT_EQ(scrape.sum(kDropped), static_cast<double>(guarded.size()));
    EXPECT_FALSE(has_datagram(receiver.get())) << "a second reply to " << source_port;
  }
  for (const UniqueFd& trap : traps) {
    EXPECT_FALSE(has_datagram(trap.get()))
        << "a guarded source got a reply on port " << local_port(trap.get());
  }

  // The same loopback source sent to a loopback address arrives on loopback: answered.
  UniqueFd loopback_raw = raw_sender("");
  ASSERT_TRUE(loopback_raw.valid());
  const sockaddr_in loopback_server = ipv4("127.0.0.1", endpoints[1].port);
  ASSERT_TRUE(send_forged(loopback_raw.get(), ipv4("127.0.0.1", 40001), loopback_server, "on lo"));
  auto reply = receive_from(traps.back().get());
  ASSERT_TRUE(reply.has_value()) << "no reply to a loopback source that arrived on loopback";
  EXPECT_EQ(reply->payload, "on lo");
  EXPECT_EQ(to_string(reply->source), to_string(loopback_server));
}

// Two echods on 10.1.0.1 and 10.1.0.2, each on port 7 and on one same high port. A datagram
// forged to come from one echod to the other, in both directions and on both ports, could start
// an endless echo between them; it gets at most one reply in total (the guards drop it at once,
// so none).
TEST_F(UdpNamespaceTest, ADatagramForgedFromAnotherEchodStartsNoLoop) {
  constexpr std::uint16_t kHighPort = 40007;  // the namespace is the test's own: no collision
  DaemonProcess first(daemon_config(
      "  listen: [\"10.1.0.1:7\", \"10.1.0.1:" + std::to_string(kHighPort) + "\"]\n", 1));
  DaemonProcess second(daemon_config(
      "  listen: [\"10.1.0.2:7\", \"10.1.0.2:" + std::to_string(kHighPort) + "\"]\n", 1));
  auto first_metrics = start_serving_metrics(first);
  ASSERT_TRUE(first_metrics.has_value());
  auto second_metrics = start_serving_metrics(second);
  ASSERT_TRUE(second_metrics.has_value());
  ASSERT_EQ(udp_endpoints(first).size(), 2U);
  ASSERT_EQ(udp_endpoints(second).size(), 2U);

  // Both serve: an ordinary client gets its echo from each listener.
  UniqueFd client = bound_udp_socket(kClientAddress, 0);
  ASSERT_TRUE(client.valid());
  double probes = 0;
  for (const char* host : {kServerAddress, kClientAddress}) {
    for (std::uint16_t port : {std::uint16_t{7}, kHighPort}) {
      ASSERT_TRUE(send_to(client.get(), "probe", host, port));
      auto reply = receive_from(client.get());
      ASSERT_TRUE(reply.has_value()) << host << ":" << port;
      EXPECT_EQ(reply->payload, "probe");
      ++probes;
    }
  }
  auto totals = [&](const Scrape& a, const Scrape& b, const std::string& metric) {
    return a.sum(metric) + b.sum(metric);
  };
  // echod counts an echo just after sending it: wait until both count every probe.
  const auto counted = [&](std::uint16_t metrics_port) {
    return scrape_until(metrics_port,
                        [](const Scrape& s) { return s.sum(kReceived) == 2 && s.sum(kSent) == 2; });
  };
  ASSERT_EQ(counted(*first_metrics).sum(kSent), 2);
  ASSERT_EQ(counted(*second_metrics).sum(kSent), 2);

  UniqueFd raw = raw_sender(kInterface);
  ASSERT_TRUE(raw.valid());
  struct Link {
    const char* from;
    const char* to;
    std::uint16_t port;
  };
  double forged = 0;
  for (const Link& link :
       {Link{kClientAddress, kServerAddress, 7}, Link{kServerAddress, kClientAddress, 7},
        Link{kClientAddress, kServerAddress, kHighPort},
        Link{kServerAddress, kClientAddress, kHighPort}}) {
    const std::string what =
        std::string(link.from) + " -> " + link.to + " port " + std::to_string(link.port);
    ASSERT_TRUE(
        send_forged(raw.get(), ipv4(link.from, link.port), ipv4(link.to, link.port), "loop?"));
    ++forged;
    // Settled: the forged datagram was received, both daemons have handled all they received,
    // and every reply one sent (to the other) was received. A loop never settles: the wait then
    // ends at its bound and the counts below show it.
    Scrape a;
    Scrape b;
    auto settled = [&] {
      a = scrape(*first_metrics);
      b = scrape(*second_metrics);
      const double received = totals(a, b, kReceived);
      const double sent = totals(a, b, kSent);
      return a.ok && b.ok && received >= probes + forged &&
             received == probes + forged + (sent - probes) &&
             received == sent + totals(a, b, kDropped);
    };
    EXPECT_TRUE(eventually(settled)) << what;
    const double replies = totals(a, b, kSent) - probes;
    EXPECT_LE(replies, 1) << what;
    EXPECT_EQ(replies, 0) << what << ": the guards drop a datagram from an echo port";
    EXPECT_EQ(totals(a, b, kReceived), probes + forged) << what;
  }
  const Scrape a = scrape(*first_metrics);
  const Scrape b = scrape(*second_metrics);
  EXPECT_EQ(reason_count(a, "privileged_src_port") + reason_count(b, "privileged_src_port"), 2);
  EXPECT_EQ(reason_count(a, "own_port") + reason_count(b, "own_port"), 2);
}

// echod on 0.0.0.0 with two addresses on one interface: a request to either address is answered
// from that address, whichever address the client itself has.
TEST_F(UdpNamespaceTest, ARequestIsAnsweredFromTheAddressItWasSentTo) {
  DaemonProcess daemon(daemon_config("  listen: [\"0.0.0.0:0\"]\n", 2));
  ASSERT_TRUE(daemon.start_ready());
  const auto endpoints = udp_endpoints(daemon);
  ASSERT_EQ(endpoints.size(), 1U);
  const std::uint16_t port = endpoints[0].port;
  ASSERT_NE(port, 0);

  for (const char* client_host : {kServerAddress, kClientAddress}) {
    UniqueFd client = bound_udp_socket(client_host, 0);
    ASSERT_TRUE(client.valid());
    // A reply whose source the routing table picked would come from echod0's primary address
    // (10.1.0.1) every time: the requests to 10.1.0.2 tell the difference.
    for (const char* server_host : {kServerAddress, kClientAddress}) {
      const std::string payload = std::string("to ") + server_host + " from " + client_host;
      ASSERT_TRUE(send_to(client.get(), payload, server_host, port));
      auto reply = receive_from(client.get());
      ASSERT_TRUE(reply.has_value()) << payload;
      EXPECT_EQ(reply->payload, payload);
      EXPECT_EQ(to_string(reply->source), to_string(ipv4(server_host, port))) << payload;
    }
  }
}

}  // namespace
}  // namespace echod::test
