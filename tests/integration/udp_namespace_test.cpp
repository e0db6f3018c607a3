// UDP echo guards seen from the wire, in a network namespace each test makes for itself (see
// udp_namespace_support.hpp): forged IPv4 and IPv6 sources sent through a raw socket, two echods
// that a forged datagram tries to pair into a loop, a host with two addresses on one interface,
// and broadcasts and multicasts that reach a wildcard bind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_data.hpp"
#include "udp_namespace_support.hpp"

#include <net/if.h>

namespace echod::test {
namespace {

// The sum of the named counters of this thread's network namespace's IPv6 statistics
// (/proc/net/snmp6): how many IPv6 packets the kernel itself refused.
std::uint64_t ipv6_counters(const std::vector<std::string>& names) {
  std::ifstream in("/proc/thread-self/net/snmp6");
  std::uint64_t total = 0;
  std::string name;
  std::uint64_t value = 0;
  while (in >> name >> value) {
    if (std::find(names.begin(), names.end(), name) != names.end()) total += value;
  }
  return total;
}

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
  const SocketAddress server = socket_address(kServerAddress, port);
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
    ASSERT_TRUE(
        send_forged(raw.get(), socket_address(source.host, source.port), server, "from " + what));
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
    ASSERT_TRUE(
        send_forged(raw.get(), socket_address(kClientAddress, source_port), server, payload));
    ++count;
    auto reply = receive_from(receiver.get());
    ASSERT_TRUE(reply.has_value()) << "no reply to source port " << source_port;
    EXPECT_TRUE(same_bytes(payload, reply->payload));
    EXPECT_EQ(reply->source.to_string(), server.to_string());
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
  const SocketAddress loopback_server = socket_address("127.0.0.1", endpoints[1].port);
  ASSERT_TRUE(send_forged(loopback_raw.get(), socket_address("127.0.0.1", 40001), loopback_server,
                          "on lo"));
  auto reply = receive_from(traps.back().get());
  ASSERT_TRUE(reply.has_value()) << "no reply to a loopback source that arrived on loopback";
  EXPECT_EQ(reply->payload, "on lo");
  EXPECT_EQ(reply->source.to_string(), loopback_server.to_string());
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
    ASSERT_TRUE(send_forged(raw.get(), socket_address(link.from, link.port),
                            socket_address(link.to, link.port), "loop?"));
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
      EXPECT_EQ(reply->source.to_string(), socket_address(server_host, port).to_string())
          << payload;
    }
  }
}

// A broadcast to echod0's subnet, a limited broadcast and a multicast, each looped back to
// echod's wildcard (0.0.0.0) socket: the source is a valid client, but the destination is not
// one of this host's unicast addresses, and a reply would answer a whole network on its behalf.
// None gets a reply; each moves non_unicast_dst. A unicast from the same socket is answered.
TEST_F(UdpNamespaceTest, BroadcastsAndMulticastsToAWildcardBindGetNoReply) {
  // One worker, so that the datagrams are handled in the order they were sent; the kernel
  // gives a broadcast to every socket of the port, reuseport group or not.
  DaemonProcess daemon(daemon_config("  listen: [\"0.0.0.0:0\"]\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  const auto endpoints = udp_endpoints(daemon);
  ASSERT_EQ(endpoints.size(), 1U);
  const std::uint16_t port = endpoints[0].port;
  ASSERT_NE(port, 0);

  const unsigned ifindex = ::if_nametoindex(kInterface);
  ASSERT_NE(ifindex, 0U) << std::strerror(errno);
  // The sender: a client address on echod0, allowed to broadcast, multicasting out of echod0.
  // The kernel loops a broadcast or multicast it sends back to this host's sockets (for the
  // limited broadcast, out of the device of the bound address, echod0).
  UniqueFd sender = bound_udp_socket(kClientAddress, 0);
  ASSERT_TRUE(sender.valid());
  const int on = 1;
  ASSERT_EQ(::setsockopt(sender.get(), SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)), 0)
      << std::strerror(errno);
  ip_mreqn out_of{};
  out_of.imr_ifindex = static_cast<int>(ifindex);
  ASSERT_EQ(::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_IF, &out_of, sizeof(out_of)), 0)
      << std::strerror(errno);
  // A member of the group on echod0: the host then takes the group's datagrams in, and a
  // wildcard socket (IP_MULTICAST_ALL, on by default) receives them without joining itself.
  constexpr const char* kGroup = "239.1.2.3";
  UniqueFd member = bound_udp_socket(kClientAddress, 0);
  ASSERT_TRUE(member.valid());
  ip_mreqn join{};
  ASSERT_EQ(::inet_pton(AF_INET, kGroup, &join.imr_multiaddr), 1);
  join.imr_ifindex = static_cast<int>(ifindex);
  ASSERT_EQ(::setsockopt(member.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof(join)), 0)
      << std::strerror(errno);

  double count = 0;
  for (const std::string destination : {"10.1.0.255", "255.255.255.255", kGroup}) {
    ASSERT_TRUE(send_to(sender.get(), "to " + destination, destination, port))
        << destination << ": " << std::strerror(errno);
    ++count;
    Scrape scrape = scrape_until(*metrics, [&](const Scrape& s) {
      return s.sum(kReceived) == count && s.sum(kDropped) == count;
    });
    EXPECT_EQ(scrape.sum(kReceived), count) << destination << " did not reach echod";
    EXPECT_EQ(reason_count(scrape, "non_unicast_dst"), count) << destination;
    EXPECT_EQ(scrape.sum(kDropped), count) << destination;
    EXPECT_EQ(scrape.sum(kSent), 0) << destination;
  }
  EXPECT_TRUE(daemon.wait_for_log("reason non_unicast_dst"));

  // A reply to any of them would have come to the sender before this one.
  ASSERT_TRUE(send_to(sender.get(), "unicast", kServerAddress, port));
  auto reply = receive_from(sender.get());
  ASSERT_TRUE(reply.has_value()) << "no reply to a unicast datagram";
  EXPECT_EQ(reply->payload, "unicast") << "a broadcast or multicast was answered";
  EXPECT_EQ(reply->source.to_string(), socket_address(kServerAddress, port).to_string());
  EXPECT_FALSE(has_datagram(sender.get()));
}

// Forged IPv6 sources arriving on echod0: the unspecified address, a multicast source, an
// IPv4-mapped and an IPv4-compatible address, and ::1 (a loopback source off loopback) get no
// reply and move their own reason counters; a valid source with port 40000 gets exactly one
// reply, from the address it was sent to. The kernel itself refuses some of these (Linux drops
// a multicast or IPv4-mapped IPv6 source on input, counting it in Ip6InHdrErrors /
// Ip6InAddrErrors): such a packet never reaches echod, which is the same outcome.
TEST_F(UdpNamespaceTest, ForgedIpv6SourcesMeetTheirGuards) {
  std::string why;
  if (!add_ipv6_addresses(why)) GTEST_SKIP() << "no IPv6 in the namespace: " << why;
  DaemonProcess daemon(daemon_config("  listen: [\"[fd00:1::1]:0\", \"[::1]:0\"]\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  const auto endpoints = udp_endpoints(daemon);
  ASSERT_EQ(endpoints.size(), 2U);
  ASSERT_EQ(endpoints[0].host, kServerAddress6);
  ASSERT_EQ(endpoints[1].host, "::1");
  const std::uint16_t port = endpoints[0].port;
  const SocketAddress server = socket_address(kServerAddress6, port);
  UniqueFd raw = raw_sender(kInterface, AF_INET6);
  ASSERT_TRUE(raw.valid());
  // Where the reply to ::1 would go.
  UniqueFd trap = bound_udp_socket("::1", 40001);
  ASSERT_TRUE(trap.valid());

  struct Guarded {
    std::string host;
    std::string reason;
  };
  const std::vector<Guarded> guarded = {
      {"::", "bad_src_addr"},
      {"ff0e::1", "bad_src_addr"},          // ff00::/8, multicast
      {"::ffff:10.1.0.2", "bad_src_addr"},  // IPv4-mapped
      {"::10.1.0.2", "bad_src_addr"},       // IPv4-compatible
      {"::1", "loopback_src_off_lo"},
  };
  const std::vector<std::string> kernel_drops = {"Ip6InHdrErrors", "Ip6InAddrErrors"};
  std::map<std::string, double> expected;
  double reached = 0;  // datagrams echod received
  for (const Guarded& source : guarded) {
    const std::string what = "[" + source.host + "]:40001";
    const std::uint64_t refused_before = ipv6_counters(kernel_drops);
    ASSERT_TRUE(send_forged(raw.get(), socket_address(source.host, 40001), server, what));
    // Either echod received it, or the kernel refused it.
    Scrape scrape = scrape_until(*metrics, [&](const Scrape& s) {
      return (s.sum(kReceived) == reached + 1 && s.sum(kDropped) == reached + 1) ||
             ipv6_counters(kernel_drops) > refused_before;
    });
    if (scrape.sum(kReceived) == reached + 1) {
      ++reached;
      const double want = ++expected[source.reason];
      EXPECT_EQ(reason_count(scrape, source.reason), want) << what << " as " << source.reason;
    } else {
      EXPECT_GT(ipv6_counters(kernel_drops), refused_before)
          << what << " neither reached echod nor was refused by the kernel";
      std::printf("note: the kernel refused %s before echod saw it\n", what.c_str());
    }
    EXPECT_EQ(scrape.sum(kReceived), reached) << what;
    EXPECT_EQ(scrape.sum(kDropped), reached) << what;
    EXPECT_EQ(scrape.sum(kSent), 0) << what;
  }
  // These reach echod on any kernel, and only its guards stop them.
  EXPECT_EQ(reason_count(scrape(*metrics), "loopback_src_off_lo"), 1);
  EXPECT_GE(reason_count(scrape(*metrics), "bad_src_addr"), 2);  // :: and ::10.1.0.2
  EXPECT_TRUE(daemon.wait_for_log("reason loopback_src_off_lo"));

  // A valid source: a socket at the forged address receives the reply.
  UniqueFd receiver = bound_udp_socket(kClientAddress6, 40000);
  ASSERT_TRUE(receiver.valid());
  const std::string payload = random_bytes(100, 40000);
  ASSERT_TRUE(send_forged(raw.get(), socket_address(kClientAddress6, 40000), server, payload));
  auto reply = receive_from(receiver.get());
  ASSERT_TRUE(reply.has_value()) << "no reply to [fd00:1::2]:40000";
  EXPECT_TRUE(same_bytes(payload, reply->payload));
  EXPECT_EQ(reply->source.to_string(), server.to_string());
  Scrape last = scrape_until(*metrics, [&](const Scrape& s) {
    return s.sum(kReceived) == reached + 1 && s.sum(kSent) == 1;
  });
  EXPECT_EQ(last.sum(kSent), 1);
  EXPECT_EQ(last.sum(kDropped), reached);
  EXPECT_FALSE(has_datagram(receiver.get())) << "a second reply";
  EXPECT_FALSE(has_datagram(trap.get())) << "::1 arriving on echod0 was answered";

  // ::1 sent to ::1 arrives on loopback: answered.
  UniqueFd loopback_raw = raw_sender("", AF_INET6);
  ASSERT_TRUE(loopback_raw.valid());
  const SocketAddress loopback_server = socket_address("::1", endpoints[1].port);
  ASSERT_TRUE(
      send_forged(loopback_raw.get(), socket_address("::1", 40001), loopback_server, "on lo"));
  reply = receive_from(trap.get());
  ASSERT_TRUE(reply.has_value()) << "no reply to a loopback source that arrived on loopback";
  EXPECT_EQ(reply->payload, "on lo");
  EXPECT_EQ(reply->source.to_string(), loopback_server.to_string());
}

}  // namespace
}  // namespace echod::test
