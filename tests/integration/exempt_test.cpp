// limits.exempt seen from clients: exempt addresses skip the per-address connection limit and
// accept rate, while max_connections and the access list still hold them; a SIGHUP that changes
// the list applies to new connections, and every connection gives back exactly the per-address
// slot it took. Clients appear as different addresses by binding to 127.0.0.x before connect().
// Every admission is proven by an echo and every refusal by the connection ending unechoed.
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"

namespace echod::test {
namespace {

// `count` connections from `source`, opened one after another; the test fails if one cannot
// be opened at all.
std::vector<UniqueFd> open_from(const DaemonProcess& daemon, const std::string& source,
                                std::size_t count) {
  std::vector<UniqueFd> fds;
  for (std::size_t i = 0; i < count; ++i) {
    UniqueFd fd = connect_from(daemon, source);
    if (!fd) break;
    fds.push_back(std::move(fd));
  }
  EXPECT_EQ(fds.size(), count) << "connections from " << source;
  return fds;
}

std::vector<int> raw(const std::vector<UniqueFd>& fds) {
  std::vector<int> result;
  for (const UniqueFd& fd : fds) result.push_back(fd.get());
  return result;
}

// Splits `fds` into the connections echod serves (they echo) and those it refused (they end
// without echo); a connection that does neither fails the test.
struct Outcome {
  std::vector<UniqueFd> admitted;
  std::size_t refused = 0;
};
Outcome sort_out(std::vector<UniqueFd> fds, std::uint64_t seed) {
  Outcome outcome;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (echoes(fds[i].get(), 100, seed + i)) {
      outcome.admitted.push_back(std::move(fds[i]));
    } else {
      EXPECT_TRUE(refused(fds[i].get())) << "connection #" << i << " neither echoed nor ended";
      ++outcome.refused;
    }
  }
  return outcome;
}

// The client half-closes; echod's FIN comes after it has closed its side, which is after it
// gave the connection's admission back. No waiting is needed before the next connect().
void close_gracefully(UniqueFd& fd) {
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
  ASSERT_TRUE(wait_peer_closed(fd.get(), Clock::now() + 5s)) << "echod did not close";
  fd.reset();
}

// The built-in list (loopback): 100 connections from 127.0.0.2 against a per-address limit of
// 32 and a bucket of one token a second are all admitted and echo.
TEST(ExemptTest, DefaultListExemptsLoopbackFromThePerAddressLimits) {
  DaemonConfig config;
  config.exempt = std::nullopt;
  config.extra_limits = {"max_connections_per_ip: 32", "accept_rate_per_ip: 1",
                         "accept_burst_per_ip: 1"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  std::vector<UniqueFd> fds = open_from(daemon, "127.0.0.2", 100);
  ASSERT_EQ(fds.size(), 100U);
  EXPECT_EQ(count_echoing(raw(fds), 1), 100U);
  EXPECT_EQ(daemon.log_count("refused a connection"), 0U) << daemon.log_text();
}

// An explicit list replaces the default: 127.0.0.2 is unlimited, 127.0.0.3 (loopback too, but
// not listed) is still held to max_connections_per_ip.
TEST(ExemptTest, ListedAddressIsUnlimitedWhileOthersKeepTheirLimit) {
  DaemonConfig config;
  config.exempt = std::vector<std::string>{"127.0.0.2/32"};
  config.extra_limits = {"max_connections_per_ip: 32"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  std::vector<UniqueFd> exempt = open_from(daemon, "127.0.0.2", 100);
  ASSERT_EQ(exempt.size(), 100U);
  EXPECT_EQ(count_echoing(raw(exempt), 1), 100U);

  Outcome limited = sort_out(open_from(daemon, "127.0.0.3", 100), 1000);
  EXPECT_EQ(limited.admitted.size(), 32U);
  EXPECT_EQ(limited.refused, 68U);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.3: max_connections_per_ip ("));
  EXPECT_EQ(daemon.log_count("refused a connection from 127.0.0.2"), 0U);
  // The exempt connections are all still served.
  EXPECT_EQ(count_echoing(raw(exempt), 2), 100U);
}

// Exempt addresses still count against max_connections, and a freed slot is usable again.
TEST(ExemptTest, MaxConnectionsStillHoldsExemptAddresses) {
  DaemonConfig config;
  config.exempt = std::nullopt;
  config.extra_limits = {"max_connections: 40", "max_connections_per_ip: 32"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  Outcome outcome = sort_out(open_from(daemon, "127.0.0.2", 50), 1);
  EXPECT_EQ(outcome.admitted.size(), 40U);
  EXPECT_EQ(outcome.refused, 10U);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.2: max_connections ("));

  ASSERT_FALSE(outcome.admitted.empty());
  close_gracefully(outcome.admitted.front());
  UniqueFd newcomer = connect_from(daemon, "127.0.0.2");
  ASSERT_TRUE(newcomer.valid());
  EXPECT_TRUE(echoes(newcomer.get(), 100, 100));
  UniqueFd one_too_many = connect_from(daemon, "127.0.0.2");
  ASSERT_TRUE(one_too_many.valid());
  EXPECT_TRUE(refused(one_too_many.get()));
}

// The access list is checked before the exemption: a denied exempt address is refused.
TEST(ExemptTest, AccessListStillHoldsExemptAddresses) {
  DaemonConfig config;
  config.exempt = std::nullopt;
  config.extra_limits = {R"(access: {deny: ["127.0.0.6/32"]})"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd denied = connect_from(daemon, "127.0.0.6");
  ASSERT_TRUE(denied.valid());
  EXPECT_TRUE(refused(denied.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.6: access denied ("));
  UniqueFd other = connect_from(daemon, "127.0.0.7");
  ASSERT_TRUE(other.valid());
  EXPECT_TRUE(echoes(other.get(), 100, 1));
}

// The list changed by SIGHUP applies to new connections. A connection keeps the standing it was
// admitted with: one opened while its address was exempt never holds a per-address slot, one
// opened while it was limited gives its slot back when it closes, whatever the list says then.
TEST(ExemptTest, SighupChangesTheListForNewConnections) {
  DaemonConfig config;
  config.exempt = std::vector<std::string>{"127.0.0.2/32"};
  config.extra_limits = {"max_connections_per_ip: 2", "accept_rate_per_ip: 0"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  // 127.0.0.2 exempt: 5 admitted. 127.0.0.3 limited: 2 admitted, the third refused.
  std::vector<UniqueFd> two_exempt = open_from(daemon, "127.0.0.2", 5);
  ASSERT_EQ(count_echoing(raw(two_exempt), 1), 5U);
  Outcome three_limited = sort_out(open_from(daemon, "127.0.0.3", 3), 10);
  ASSERT_EQ(three_limited.admitted.size(), 2U);

  // Swap: 127.0.0.3 exempt, 127.0.0.2 limited.
  config.exempt = std::vector<std::string>{"127.0.0.3/32"};
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.exempt +127.0.0.3/32 -127.0.0.2/32"));
  std::vector<UniqueFd> three_exempt = open_from(daemon, "127.0.0.3", 5);
  EXPECT_EQ(count_echoing(raw(three_exempt), 20), 5U) << "127.0.0.3 is exempt now";
  // The 5 open from 127.0.0.2 hold no slot: it gets its 2, no more.
  Outcome two_limited = sort_out(open_from(daemon, "127.0.0.2", 3), 30);
  EXPECT_EQ(two_limited.admitted.size(), 2U);
  EXPECT_EQ(two_limited.refused, 1U);
  // Everything admitted before the reload is still served.
  EXPECT_EQ(count_echoing(raw(two_exempt), 40), 5U);
  EXPECT_EQ(count_echoing(raw(three_limited.admitted), 41), 2U);

  // Closing 127.0.0.2's exempt-era connections frees none of its 2 slots.
  for (UniqueFd& fd : two_exempt) close_gracefully(fd);
  UniqueFd still_full = connect_from(daemon, "127.0.0.2");
  ASSERT_TRUE(still_full.valid());
  EXPECT_TRUE(refused(still_full.get()));

  // Nobody exempt. 127.0.0.3's connections close: the 2 counted before the reload give their
  // slots back (it was exempt when they closed), the 5 exempt ones give none; so it gets
  // exactly 2 again.
  config.exempt = std::vector<std::string>{};
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.exempt -127.0.0.3/32"));
  for (UniqueFd& fd : three_limited.admitted) close_gracefully(fd);
  for (UniqueFd& fd : three_exempt) close_gracefully(fd);
  Outcome again = sort_out(open_from(daemon, "127.0.0.3", 3), 50);
  EXPECT_EQ(again.admitted.size(), 2U);
  EXPECT_EQ(again.refused, 1U);
  // And 127.0.0.2's counted connections give theirs back too.
  for (UniqueFd& fd : two_limited.admitted) close_gracefully(fd);
  Outcome two_again = sort_out(open_from(daemon, "127.0.0.2", 3), 60);
  EXPECT_EQ(two_again.admitted.size(), 2U);
  EXPECT_EQ(two_again.refused, 1U);
}

}  // namespace
}  // namespace echod::test
