// Admission limits seen from clients: the total connection cap, connections and accept rate per
// client address, the access lists, and all of them changed by SIGHUP. Clients appear as
// different addresses by binding to 127.0.0.x before connect().
//
// Timeout and slow-client limits: slow_clients_test.cpp. Fd exhaustion: fd_exhaustion_test.cpp.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

// The bound on other addresses' connect + echo p99 during a flood. Sanitizer builds run the
// daemon several times slower, so there it only guards against starvation.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr auto kBystanderP99 = std::chrono::milliseconds(100);
#else
constexpr auto kBystanderP99 = std::chrono::milliseconds(10);
#endif

// 150 clients against max_connections 100: 100 are served, and each of the other 50 is closed
// at once instead of waiting in the accept queue. A slot that frees up is usable at once.
TEST(LimitsTest, MaxConnectionsServesTheCapAndClosesTheRestAtOnce) {
  constexpr std::size_t kMax = 100;
  constexpr std::size_t kClients = 150;
  DaemonConfig config;
  config.unlimited_clients();
  config.extra_limits.emplace_back("max_connections: 100");
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  auto connections = connect_and_watch(daemon, "127.0.0.1", kClients, 300ms);
  ASSERT_EQ(connections.size(), kClients);
  std::vector<std::size_t> admitted;
  std::size_t closed = 0;
  for (std::size_t i = 0; i < connections.size(); ++i) {
    const WatchedConnection& c = connections[i];
    if (!c.closed_at) {
      admitted.push_back(i);
      continue;
    }
    ++closed;
    EXPECT_LE(*c.closed_at - c.connected_at, 100ms)
        << "connection #" << i << " was closed only after " << to_ms(*c.closed_at - c.connected_at);
  }
  EXPECT_EQ(closed, kClients - kMax);
  ASSERT_EQ(admitted.size(), kMax);
  std::vector<int> fds;
  for (std::size_t i : admitted) fds.push_back(connections[i].fd.get());
  EXPECT_EQ(count_echoing(fds, 1), kMax);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: max_connections ("));

  // Ten clients leave. Each sees echod's FIN only after echod closed its side and returned the
  // slot, so no waiting is needed before the next clients come.
  for (std::size_t k = 0; k < 10; ++k) {
    int fd = connections[admitted[k]].fd.get();
    ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
    ASSERT_TRUE(wait_peer_closed(fd, Clock::now() + 2s)) << "echod did not close #" << k;
    connections[admitted[k]].fd.reset();
  }
  std::vector<UniqueFd> newcomers;
  for (std::size_t k = 0; k < 10; ++k) {
    newcomers.push_back(daemon.connect());
    ASSERT_TRUE(newcomers.back().valid());
    EXPECT_TRUE(echoes(newcomers.back().get(), 100, 10 + k)) << "newcomer #" << k;
  }
  UniqueFd one_too_many = daemon.connect();
  ASSERT_TRUE(one_too_many.valid());
  EXPECT_TRUE(refused(one_too_many.get()));
  // Everyone admitted earlier is still served.
  fds.clear();
  for (std::size_t k = 10; k < admitted.size(); ++k) {
    fds.push_back(connections[admitted[k]].fd.get());
  }
  EXPECT_EQ(count_echoing(fds, 2), kMax - 10);
}

// 100 connections from one address get max_connections_per_ip of them; another address on the
// same machine is not affected.
TEST(LimitsTest, ConnectionsPerIpAreCountedPerClientAddress) {
  constexpr std::size_t kPerIp = 32;
  DaemonConfig config;
  config.extra_limits = {"max_connections_per_ip: 32"};  // accept rate: the default 100/s, 200
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  auto greedy = connect_and_watch(daemon, "127.0.0.2", 100, 300ms);
  ASSERT_EQ(greedy.size(), 100U);
  std::vector<int> admitted;
  for (const WatchedConnection& c : greedy) {
    if (!c.closed_at) admitted.push_back(c.fd.get());
  }
  EXPECT_EQ(admitted.size(), kPerIp);
  EXPECT_EQ(count_echoing(admitted, 1), kPerIp);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.2: max_connections_per_ip ("));

  // 127.0.0.3 gets its own 32, while 127.0.0.2 still holds its share.
  auto neighbour = connect_and_watch(daemon, "127.0.0.3", kPerIp, 300ms);
  ASSERT_EQ(neighbour.size(), kPerIp);
  std::vector<int> neighbour_fds;
  for (const WatchedConnection& c : neighbour) {
    EXPECT_FALSE(c.closed_at) << "a connection from 127.0.0.3 was refused";
    neighbour_fds.push_back(c.fd.get());
  }
  EXPECT_EQ(count_echoing(neighbour_fds, 2), kPerIp);
  EXPECT_EQ(count_echoing(admitted, 3), kPerIp);
}

// One address connects about 5,000 times a second for a second. The token bucket admits at most
// its burst plus its rate times the time taken, and not much fewer; meanwhile other
// addresses connect and get their echo quickly.
TEST(LimitsTest, AcceptRatePerIpIsATokenBucketAndSparesOtherAddresses) {
  constexpr double kRate = 100;
  constexpr double kBurst = 200;
  constexpr std::size_t kMaxAttempts = 5000;
  constexpr auto kInterval = std::chrono::microseconds(200);  // 5,000 per second
  constexpr auto kFloodTime = 1s;
  DaemonConfig config;
  config.extra_limits = {"max_connections_per_ip: 0", "accept_rate_per_ip: 100",
                         "accept_burst_per_ip: 200"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const Endpoint to = daemon.endpoints().front();

  // The bystanders: a fresh connection every 4 ms, from 127.0.0.5, .15 and .25 in turn (each
  // address stays under its own 100/s), timed from connect() to its first echoed byte. About
  // 250 samples make the p99 more than the single worst one.
  static constexpr const char* kBystanders[] = {"127.0.0.5", "127.0.0.15", "127.0.0.25"};
  std::atomic<bool> flooding{true};
  std::vector<Clock::duration> bystander;
  std::size_t bystander_failures = 0;
  std::thread prober([&] {
    for (std::size_t i = 0; flooding.load(); ++i) {
      auto start = Clock::now();
      UniqueFd fd = connect_tcp_from(kBystanders[i % 3], to.host, to.port, {}, 2s);
      if (fd && ping_pong(fd.get(), 1, 1, 2s).size() == 1) {
        bystander.push_back(Clock::now() - start);
      } else {
        ++bystander_failures;
      }
      set_reset_on_close(fd.get());      // no TIME_WAIT left behind
      std::this_thread::sleep_for(4ms);  // the pace of the probes, not a wait for an event
    }
  });

  // The flood: every connection sends one byte. An admitted one echoes it; a refused one ends
  // (EOF, or a reset when echod closed it with the byte unread).
  std::vector<UniqueFd> pending;
  std::size_t attempts = 0;
  std::size_t connect_failures = 0;
  std::size_t admitted = 0;
  std::size_t refused_count = 0;
  std::vector<pollfd> fds;
  auto resolve = [&](int timeout_ms) {
    fds.clear();
    for (const UniqueFd& fd : pending) fds.push_back(pollfd{fd.get(), POLLIN | POLLRDHUP, 0});
    if (fds.empty() || ::poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
    std::vector<UniqueFd> still_pending;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        still_pending.push_back(std::move(pending[i]));
        continue;
      }
      char byte = 0;
      ssize_t r = ::recv(fds[i].fd, &byte, 1, MSG_DONTWAIT);
      if (r == 1 && byte == 'x') {
        ++admitted;
        set_reset_on_close(fds[i].fd);
      } else if (r < 0 && errno == EAGAIN) {
        still_pending.push_back(std::move(pending[i]));
      } else {
        ++refused_count;
      }
    }
    pending = std::move(still_pending);
  };
  auto start = Clock::now();
  auto last_connect = start;
  while (attempts < kMaxAttempts && Clock::now() - start < kFloodTime) {
    auto due = std::min<std::size_t>(
        kMaxAttempts, static_cast<std::size_t>((Clock::now() - start) / kInterval) + 1);
    for (std::size_t batch = 0; attempts < due && batch < 50; ++batch, ++attempts) {
      UniqueFd fd = connect_tcp_from("127.0.0.4", to.host, to.port, {}, 2s);
      if (!fd) {
        ++connect_failures;
        continue;
      }
      last_connect = Clock::now();
      ::send(fd.get(), "x", 1, MSG_NOSIGNAL);  // fails if already refused; seen below
      pending.push_back(std::move(fd));
    }
    resolve(attempts < due ? 0 : 1);
  }
  auto elapsed = last_connect - start;
  auto deadline = Clock::now() + 3s;
  while (!pending.empty() && Clock::now() < deadline) resolve(100);
  flooding.store(false);
  prober.join();

  double seconds = std::chrono::duration<double>(elapsed).count();
  SCOPED_TRACE(testing::Message() << attempts << " attempts in " << seconds << " s: " << admitted
                                  << " admitted, " << refused_count << " refused");
  EXPECT_EQ(connect_failures, 0U);
  EXPECT_TRUE(pending.empty()) << pending.size() << " connection(s) neither echoed nor closed";
  EXPECT_EQ(admitted + refused_count, attempts - connect_failures);
  // Tokens accrue from the first accept to the last; the last accept can trail the last
  // connect() by a little, allowed for with 50 ms more of refill (5 tokens).
  EXPECT_LE(static_cast<double>(admitted), kBurst + kRate * (seconds + 0.05));
  // The bucket starts full, and refills: not much less than that either.
  EXPECT_GE(static_cast<double>(admitted), kBurst + 0.5 * kRate * seconds);
  EXPECT_GT(refused_count, 0U) << "the flood never exceeded the rate: nothing was tested";
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.4: accept_rate_per_ip ("));

  EXPECT_EQ(bystander_failures, 0U);
  ASSERT_GE(bystander.size(), 100U);
  EXPECT_LT(percentile(bystander, 0.99), kBystanderP99)
      << "connect + echo from other addresses during the flood, p99 of " << bystander.size()
      << "; median " << to_ms(percentile(bystander, 0.5));
}

// A denied address is closed without one byte of echo; others are served.
TEST(LimitsTest, DeniedAddressIsClosedWithoutEcho) {
  DaemonConfig config;
  config.extra_limits = {R"(access: {deny: ["127.0.0.6/32"]})"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd denied = connect_from(daemon, "127.0.0.6");
  ASSERT_TRUE(denied.valid());
  EXPECT_TRUE(refused(denied.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.6: access denied ("));
  UniqueFd other = connect_from(daemon, "127.0.0.7");
  ASSERT_TRUE(other.valid());
  EXPECT_TRUE(echoes(other.get(), 64 * kKiB, 1));
}

std::string access_yaml(const std::string& allow, const std::string& deny) {
  return "access: {allow: [" + allow + "], deny: [" + deny + "]}";
}

// Access lists changed by SIGHUP apply to new connections only: a client already connected
// from an address that becomes denied keeps its connection.
TEST(LimitsTest, AccessChangesOnReloadApplyToNewConnectionsOnly) {
  DaemonConfig config;
  config.extra_limits = {access_yaml("", R"("127.0.0.6/32")")};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd veteran = connect_from(daemon, "127.0.0.8");
  ASSERT_TRUE(veteran.valid());
  ASSERT_TRUE(echoes(veteran.get(), 1000, 1));
  UniqueFd denied = connect_from(daemon, "127.0.0.6");
  ASSERT_TRUE(denied.valid());
  EXPECT_TRUE(refused(denied.get()));

  // Now 127.0.0.8 is denied and 127.0.0.6 no longer is.
  config.extra_limits = {access_yaml(R"("127.0.0.0/8")", R"("127.0.0.8/32")")};
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.access changed"));
  EXPECT_TRUE(quiet_and_open(veteran.get()));
  EXPECT_TRUE(echoes(veteran.get(), 1000, 2));
  UniqueFd newcomer8 = connect_from(daemon, "127.0.0.8");
  ASSERT_TRUE(newcomer8.valid());
  EXPECT_TRUE(refused(newcomer8.get()));
  UniqueFd newcomer6 = connect_from(daemon, "127.0.0.6");
  ASSERT_TRUE(newcomer6.valid());
  EXPECT_TRUE(echoes(newcomer6.get(), 1000, 3));

  // Only 127.0.0.9 is allowed: everyone else is refused, those connected stay.
  config.extra_limits = {access_yaml(R"("127.0.0.9/32")", "")};
  ASSERT_TRUE(daemon.reload(config.yaml()));
  UniqueFd outsider = connect_from(daemon, "127.0.0.1");
  ASSERT_TRUE(outsider.valid());
  EXPECT_TRUE(refused(outsider.get()));
  UniqueFd insider = connect_from(daemon, "127.0.0.9");
  ASSERT_TRUE(insider.valid());
  EXPECT_TRUE(echoes(insider.get(), 1000, 4));
  EXPECT_TRUE(echoes(veteran.get(), 1000, 5));
  EXPECT_TRUE(echoes(newcomer6.get(), 1000, 6));
}

// Per-address cap, total cap and idle timeout, each changed by SIGHUP, take effect for the next
// connections, in the same process, without disturbing the connections already open.
TEST(LimitsTest, SighupChangesLimitsWithoutRestart) {
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"max_connections_per_ip: 2", "max_connections: 100",
                         "accept_rate_per_ip: 0", "idle_timeout: 0s"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const pid_t pid = daemon.pid();

  std::vector<UniqueFd> open;
  auto admit = [&](const std::string& source, std::uint64_t seed) {
    UniqueFd fd = connect_from(daemon, source);
    if (!fd || !echoes(fd.get(), 100, seed)) return false;
    open.push_back(std::move(fd));
    return true;
  };
  auto refuse = [&](const std::string& source) {
    UniqueFd fd = connect_from(daemon, source);
    return fd.valid() && refused(fd.get());
  };
  ASSERT_TRUE(admit("127.0.0.10", 1));
  ASSERT_TRUE(admit("127.0.0.10", 2));
  EXPECT_TRUE(refuse("127.0.0.10"));

  // max_connections_per_ip 2 -> 4.
  config.extra_limits[0] = "max_connections_per_ip: 4";
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.max_connections_per_ip 2 -> 4"));
  EXPECT_TRUE(admit("127.0.0.10", 3));
  EXPECT_TRUE(admit("127.0.0.10", 4));
  EXPECT_TRUE(refuse("127.0.0.10"));

  // max_connections 100 -> 6, with 4 open: two more from anywhere, then no more.
  config.extra_limits[0] = "max_connections_per_ip: 0";
  config.extra_limits[1] = "max_connections: 6";
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.max_connections 100 -> 6"));
  EXPECT_TRUE(admit("127.0.0.11", 5));
  EXPECT_TRUE(admit("127.0.0.12", 6));
  EXPECT_TRUE(refuse("127.0.0.13"));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.13: max_connections ("));
  for (std::size_t i = 0; i < open.size(); ++i) {
    EXPECT_TRUE(echoes(open[i].get(), 1000, 10 + i)) << "connection #" << i;
  }

  // idle_timeout 0s (never) -> 1s: a new idle connection is closed about a second later.
  config.extra_limits[1] = "max_connections: 100";
  config.extra_limits[3] = "idle_timeout: 1s";
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.idle_timeout 0s -> 1s"));
  UniqueFd idle = connect_from(daemon, "127.0.0.14");
  ASSERT_TRUE(idle.valid());
  ASSERT_TRUE(echoes(idle.get(), 100, 20));
  auto idle_since = Clock::now();
  auto closed_at = wait_peer_closed(idle.get(), idle_since + 3s);
  ASSERT_TRUE(closed_at) << "an idle connection is still open 3 s after idle_timeout became 1s";
  EXPECT_GE(*closed_at - idle_since, 500ms);
  EXPECT_LE(*closed_at - idle_since, 2s);
  EXPECT_TRUE(daemon.wait_for_log("idle timeout"));

  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(daemon.log_count("ready:"), 1U) << "echod restarted";
}

}  // namespace
}  // namespace echod::test
