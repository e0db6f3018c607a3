// PROXY listeners (docs/configuration.md): who may send a header, how long echod waits for it,
// what is echoed after it, and which address the admission limits count.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "integration/metrics_support.hpp"
#include "support/client_binary.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"

namespace echod::test {
namespace {

// The balancer: a loopback address of its own, the only one trusted.
constexpr const char* kBalancer = "127.0.0.9";

// A configuration whose one listener is a PROXY listener trusting `trusted`.
std::string proxy_yaml(DaemonConfig config, const std::string& mode,
                       const std::string& header_timeout = "5s",
                       const std::string& trusted = "127.0.0.9/32") {
  std::string yaml = config.yaml();
  const std::string plain = "  - \"127.0.0.1:0\"\n";
  const std::string mapping = "  - {address: \"127.0.0.1:0\", proxy_protocol: " + mode +
                              ", trusted: [\"" + trusted +
                              "\"], header_timeout: " + header_timeout + "}\n";
  yaml.replace(yaml.find(plain), plain.size(), mapping);
  return yaml;
}

std::string v1_header(const std::string& source, std::uint16_t port = 40000) {
  return "PROXY TCP4 " + source + " 127.0.0.1 " + std::to_string(port) + " 7\r\n";
}

// v2 PROXY TCP4 from a.b.c.d:port to 127.0.0.1:7, or LOCAL without addresses.
std::string v2_header(std::array<std::uint8_t, 4> source, bool local = false) {
  std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
  if (local) return header + std::string("\x20\x00\x00\x00", 4);
  header += std::string("\x21\x11\x00\x0c", 4);
  for (const std::uint8_t byte : source) header.push_back(static_cast<char>(byte));
  header += std::string("\x7f\x00\x00\x01\x9c\x40\x00\x07", 8);
  return header;
}

// Sends `bytes` in one write, half-closes and reads to the end: what echod sent back.
std::string exchange(int fd, const std::string& bytes) {
  EXPECT_TRUE(send_all(fd, bytes));
  EXPECT_EQ(::shutdown(fd, SHUT_WR), 0);
  ReadResult result = read_until_eof(fd, std::chrono::seconds(10));
  EXPECT_TRUE(result.eof) << "error " << result.error;
  return result.data;
}

// The "refused" line of `echod --status` (empty when there is none).
std::string refused_line(const DaemonProcess& daemon) {
  CommandResult status =
      run_command({echod_binary(), "--control-socket", daemon.control_socket_path(), "--status"},
                  clean_environment(), std::chrono::seconds(40));
  EXPECT_EQ(status.exit_code, std::optional<int>(0)) << status.err;
  const auto at = status.out.find("\nrefused ");
  if (at == std::string::npos) return {};
  return status.out.substr(at + 1, status.out.find('\n', at + 1) - at - 1);
}

TEST(ProxyTest, PayloadInTheHeadersSegmentIsEchoedOnce) {
  DaemonConfig config;
  DaemonProcess daemon(proxy_yaml(config, "any"));
  ASSERT_TRUE(daemon.start_ready());
  // The payload starts like another header: it is data all the same.
  const std::string payload = "PROXY TCP4 6.6.6.6 6.6.6.6 1 1\r\nhello";
  UniqueFd v1 = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(v1.get(), v1_header("192.0.2.1") + payload), payload);
  UniqueFd v2 = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(v2.get(), v2_header({192, 0, 2, 1}) + payload), payload);
  UniqueFd local = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(local.get(), v2_header({}, true) + payload), payload);
}

TEST(ProxyTest, HeaderSplitIntoSingleBytesIsAccepted) {
  DaemonConfig config;
  DaemonProcess daemon(proxy_yaml(config, "v2"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd fd = connect_from(daemon, kBalancer);
  int one = 1;
  ASSERT_EQ(::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
  // A balancer that writes byte by byte (the pauses make separate segments likely, not certain;
  // the parser's own tests cover every split exactly).
  for (const char c : v2_header({198, 51, 100, 7})) {
    ASSERT_TRUE(send_all(fd.get(), std::string(1, c)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(exchange(fd.get(), "split"), "split");
}

TEST(ProxyTest, UntrustedPeerGetsNothingBackEvenWithAValidHeader) {
  DaemonConfig config;
  DaemonProcess daemon(proxy_yaml(config, "any"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd fd = connect_from(daemon, "127.0.0.2");
  ASSERT_TRUE(send_all(fd.get(), v1_header("192.0.2.1") + "hello"));
  EXPECT_TRUE(refused(fd.get()));
  EXPECT_TRUE(daemon.wait_for_log("closed a connection from 127.0.0.2:"));
  EXPECT_TRUE(daemon.wait_for_log("peer not in trusted networks"));
}

TEST(ProxyTest, TrustedPeerWithoutAHeaderIsClosed) {
  DaemonConfig config;
  DaemonProcess daemon(proxy_yaml(config, "v1"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd plain = connect_from(daemon, kBalancer);
  EXPECT_TRUE(refused(plain.get()));  // sends "are you there?": not a header
  EXPECT_TRUE(daemon.wait_for_log("not a PROXY protocol header"));
  // v2 on a v1 listener.
  UniqueFd v2 = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(v2.get(), v2_header({192, 0, 2, 1}) + "hello"));
  EXPECT_TRUE(refused(v2.get()));
  EXPECT_TRUE(daemon.wait_for_log("PROXY header version not accepted on this listener"));
}

// A balancer that connects and never completes its header is closed at header_timeout: not
// before (the lower bound is strict), and not much later (the upper bound only catches a hang).
TEST(ProxyTest, SlowOrSilentHeaderIsClosedAtHeaderTimeout) {
  DaemonConfig config;
  DaemonProcess daemon(proxy_yaml(config, "v1", "1s"));
  ASSERT_TRUE(daemon.start_ready());
  const auto silent_start = Clock::now();
  UniqueFd silent = connect_from(daemon, kBalancer);
  const auto slow_start = Clock::now();
  UniqueFd slow = connect_from(daemon, kBalancer);
  // The slow one sends a valid prefix, a byte at a time, for longer than the timeout.
  const std::string prefix = "PROXY TCP4 192.0.2.1 127.0.0.1 ";
  std::optional<Clock::time_point> slow_closed;
  for (std::size_t i = 0; i < prefix.size() && !slow_closed; ++i) {
    send_all(slow.get(), std::string(1, prefix[i]));  // fails once echod has closed it
    slow_closed = wait_peer_closed(slow.get(), Clock::now() + std::chrono::milliseconds(100));
  }
  if (!slow_closed) slow_closed = wait_peer_closed(slow.get(), Clock::now() + 10s);
  const auto silent_closed = wait_peer_closed(silent.get(), Clock::now() + 10s);
  ASSERT_TRUE(slow_closed.has_value());
  ASSERT_TRUE(silent_closed.has_value());
  EXPECT_GE(*silent_closed - silent_start, 1s);
  EXPECT_GE(*slow_closed - slow_start, 1s);
  EXPECT_LT(*silent_closed - silent_start, 10s);
  EXPECT_TRUE(daemon.wait_for_log_count("no PROXY header within header_timeout", 1));
}

// A connection waiting for its header holds a descriptor: it counts toward
// limits.max_connections, so a trusted balancer that connects and sends nothing cannot make
// echod hold more descriptors than that. One worker: connections are accepted in connect order.
TEST(ProxyTest, ConnectionsWaitingForTheirHeaderCountTowardMaxConnections) {
  DaemonConfig config;
  config.workers = 1;
  config.log_level = "debug";
  config.extra_limits.emplace_back("max_connections: 2");
  DaemonProcess daemon(proxy_yaml(config, "v2", "60s"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd first = connect_from(daemon, kBalancer);
  UniqueFd second = connect_from(daemon, kBalancer);
  // Both wait for their headers: the third is refused at once, header or not.
  UniqueFd third = connect_from(daemon, kBalancer);
  EXPECT_TRUE(refused(third.get()));
  UniqueFd fourth = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(fourth.get(), v2_header({192, 0, 2, 1})));
  EXPECT_TRUE(refused(fourth.get()));
  // The log says it once a second at most; the status counts every refusal.
  EXPECT_TRUE(
      daemon.wait_for_log("refused a connection from 127.0.0.9: max_connections (before "
                          "its PROXY header"));
  EXPECT_TRUE(eventually([&] {
    return refused_line(daemon) == "refused        2 max_connections (last 127.0.0.9)";
  })) << refused_line(daemon);

  // The first gives up: its unit comes back, and a new connection is served.
  first.reset();
  EXPECT_TRUE(daemon.wait_for_log("closed before the PROXY header was complete"));
  UniqueFd fifth = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(fifth.get(), v2_header({192, 0, 2, 2})));
  EXPECT_TRUE(echoes(fifth.get(), 100, 5));
  // The fifth (served) and the second (waiting) hold the two units.
  UniqueFd sixth = connect_from(daemon, kBalancer);
  EXPECT_TRUE(refused(sixth.get()));
  EXPECT_TRUE(eventually([&] {
    return refused_line(daemon) == "refused        3 max_connections (last 127.0.0.9)";
  })) << refused_line(daemon);
  // At the limit, the second's header still gets it served: it keeps the unit it waited with.
  EXPECT_EQ(exchange(second.get(), v2_header({192, 0, 2, 3}) + "second"), "second");
}

// The per-address limit counts the clients the headers name; the balancer, which carries all of
// them, is not limited.
TEST(ProxyTest, PerAddressLimitActsOnTheHeadersAddress) {
  DaemonConfig config;
  config.extra_limits.emplace_back("max_connections_per_ip: 2");
  DaemonProcess daemon(proxy_yaml(config, "v2"));
  ASSERT_TRUE(daemon.start_ready());
  std::vector<UniqueFd> served;
  for (int i = 0; i < 2; ++i) {
    served.push_back(connect_from(daemon, kBalancer));
    ASSERT_TRUE(send_all(served.back().get(), v2_header({192, 0, 2, 1})));
    EXPECT_TRUE(echoes(served.back().get(), 100, static_cast<std::uint64_t>(i)));
  }
  UniqueFd third = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(third.get(), v2_header({192, 0, 2, 1})));
  EXPECT_TRUE(refused(third.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 192.0.2.1: max_connections_per_ip"));
  // Another client through the same balancer: its own budget.
  for (int i = 0; i < 2; ++i) {
    served.push_back(connect_from(daemon, kBalancer));
    ASSERT_TRUE(send_all(served.back().get(), v2_header({192, 0, 2, 2})));
    EXPECT_TRUE(echoes(served.back().get(), 100, 10 + static_cast<std::uint64_t>(i)));
  }
}

// The access list sees the client the header names, including an IPv4 client behind an IPv6
// balancer (an IPv4-mapped address in a TCP6 header).
TEST(ProxyTest, AccessListActsOnTheHeadersAddress) {
  DaemonConfig config;
  config.extra_limits.emplace_back("access: {deny: [\"192.0.2.66/32\"]}");
  DaemonProcess daemon(proxy_yaml(config, "any"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd denied = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(denied.get(), v2_header({192, 0, 2, 66})));
  EXPECT_TRUE(refused(denied.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 192.0.2.66: access denied"));
  UniqueFd mapped = connect_from(daemon, kBalancer);
  ASSERT_TRUE(send_all(mapped.get(), "PROXY TCP6 ::ffff:192.0.2.66 ::1 5 7\r\n"));
  EXPECT_TRUE(refused(mapped.get()));
  UniqueFd allowed = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(allowed.get(), v1_header("192.0.2.67") + "ok"), "ok");
}

// Headers are counted by kind, refusals by reason.
TEST(ProxyTest, MetricsCountHeadersAndRefusals) {
  DaemonConfig config;
  config.metrics_listen = "127.0.0.1:0";
  DaemonProcess daemon(proxy_yaml(config, "any"));
  auto port = start_serving_metrics(daemon);
  ASSERT_TRUE(port.has_value());
  UniqueFd v1 = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(v1.get(), v1_header("192.0.2.1") + "a"), "a");
  UniqueFd local = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(local.get(), v2_header({}, true) + "b"), "b");
  UniqueFd untrusted = connect_from(daemon, "127.0.0.2");
  EXPECT_TRUE(refused(untrusted.get()));
  Scrape scraped = scrape_until(*port, [](const Scrape& s) {
    return s["echod_proxy_rejected_total{reason=\"untrusted\"}"] == 1;
  });
  EXPECT_EQ(scraped["echod_proxy_headers_total{kind=\"v1\"}"], 1);
  EXPECT_EQ(scraped["echod_proxy_headers_total{kind=\"v2\"}"], 0);
  EXPECT_EQ(scraped["echod_proxy_headers_total{kind=\"local\"}"], 1);
  EXPECT_EQ(scraped["echod_proxy_rejected_total{reason=\"untrusted\"}"], 1);
  // echod --status shows the same counts.
  CommandResult status =
      run_command({echod_binary(), "--control-socket", daemon.control_socket_path(), "--status"},
                  clean_environment(), std::chrono::seconds(40));
  ASSERT_EQ(status.exit_code, std::optional<int>(0)) << status.err;
  EXPECT_NE(status.out.find("proxy headers  1 local, 1 v1\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("proxy refused  1 untrusted\n"), std::string::npos) << status.out;
}

// echod-client bench --proxy: what a benchmark of a PROXY listener uses instead of a balancer.
TEST(ProxyTest, BenchSendsHeadersNamingTheChosenClient) {
  DaemonConfig config;
  config.log_level = "debug";
  DaemonProcess daemon(proxy_yaml(config, "any", "5s", "127.0.0.1/32"));
  ASSERT_TRUE(daemon.start_ready());
  for (const std::string version : {"v1", "v2"}) {
    CommandResult run = run_command(
        {client_binary(), "bench", daemon.endpoints().front().to_string(), "--proxy", version,
         "--proxy-source", "192.0.2.5", "--messages", "200", "--connections", "4", "--json"},
        clean_environment(), std::chrono::seconds(60));
    EXPECT_EQ(run.exit_code, std::optional<int>(0)) << version << ": " << run.out << run.err;
    EXPECT_NE(run.out.find("\"errors\":{\"total\":0,"), std::string::npos) << run.out;
  }
  EXPECT_TRUE(daemon.wait_for_log(" from 192.0.2.5:"));
  EXPECT_EQ(daemon.log_count("on PROXY listener"), 0U) << daemon.log_text();
}

// New options apply to new connections; the socket stays open (with port 0, a new socket would
// have another port) and connections already open keep echoing.
TEST(ProxyTest, ReloadTurnsProxyOnWithoutReopeningTheSocket) {
  DaemonConfig config;
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const std::uint16_t port = daemon.port();
  UniqueFd before = connect_from(daemon, kBalancer);
  EXPECT_TRUE(echoes(before.get(), 100, 1));

  ASSERT_TRUE(daemon.reload(proxy_yaml(config, "v1")).has_value());
  EXPECT_EQ(daemon.port(), port);
  EXPECT_TRUE(daemon.wait_for_log("new options apply to new connections"));
  UniqueFd headerless = connect_from(daemon, kBalancer);
  EXPECT_TRUE(refused(headerless.get()));
  UniqueFd proxied = connect_from(daemon, kBalancer);
  EXPECT_EQ(exchange(proxied.get(), v1_header("192.0.2.1") + "after"), "after");
  EXPECT_TRUE(echoes(before.get(), 100, 2));
}

}  // namespace
}  // namespace echod::test
