// UDP echo guards seen from the wire, in a network namespace each test makes for itself (see
// udp_namespace_support.hpp): forged IPv4 and IPv6 sources sent through a raw socket, two echods
// that a forged datagram tries to pair into a loop, a host with two addresses on one interface,
// and broadcasts and multicasts that reach a wildcard bind.
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_data.hpp"
#include "udp_namespace_support.hpp"

namespace echod::test {
namespace {

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

}  // namespace
}  // namespace echod::test
