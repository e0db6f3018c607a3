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
#include "net/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

// No test here measures how fast echod is. A client is sorted by what echod did with its
// connection (the echo of a byte, or the end of the connection), however long that took; the
// deadlines are generous (seconds) and only catch a connection nobody ever decides on. Where a
// figure depends on time (the token bucket), the time is measured around everything it covers,
// so that a slow machine loosens the bound instead of failing a correct echod.

// 150 clients against max_connections 100: 100 are served, and each of the other 50 is closed
// instead of being left to wait in the accept queue. A slot that frees up is usable at once.
//
// The 100 hold their slots while the rest are sorted: a client left in the accept queue (or
// accepted and then neither served nor closed) gets neither echo nor end, and fails the test as
// undecided. A cap not enforced fails it as more than 100 served.
TEST(LimitsTest, MaxConnectionsServesTheCapAndClosesTheRest) {
  constexpr std::size_t kMax = 100;
  constexpr std::size_t kClients = 150;
  DaemonConfig config;
  config.unlimited_clients();
  config.extra_limits.emplace_back("max_connections: 100");
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  auto connections = connect_and_sort(daemon, "127.0.0.1", kClients);
  ASSERT_EQ(connections.size(), kClients);
  EXPECT_EQ(count_of(connections, Admission::kUndecided), 0U)
      << "connection(s) neither served nor closed";
  EXPECT_EQ(count_of(connections, Admission::kRefused), kClients - kMax);
  std::vector<std::size_t> admitted;
  for (std::size_t i = 0; i < connections.size(); ++i) {
    if (connections[i].admission == Admission::kServed) admitted.push_back(i);
  }
  ASSERT_EQ(admitted.size(), kMax);
  std::vector<int> fds = fds_of(connections, Admission::kServed);
  EXPECT_EQ(count_echoing(fds, 1), kMax);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: max_connections ("));

  // Ten clients leave. Each sees echod's FIN only after echod closed its side and returned the
  // slot, so no waiting is needed before the next clients come.
  for (std::size_t k = 0; k < 10; ++k) {
    int fd = connections[admitted[k]].fd.get();
    ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
    ASSERT_TRUE(wait_peer_closed(fd, Clock::now() + 10s)) << "echod did not close #" << k;
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
// same machine is not affected. Sorted by events, as above: a per-address cap not enforced, or
// one counted over all addresses, fails the counts.
TEST(LimitsTest, ConnectionsPerIpAreCountedPerClientAddress) {
  constexpr std::size_t kPerIp = 32;
  DaemonConfig config;
  config.extra_limits = {"max_connections_per_ip: 32"};  // accept rate: the default 100/s, 200
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  auto greedy = connect_and_sort(daemon, "127.0.0.2", 100);
  ASSERT_EQ(greedy.size(), 100U);
  EXPECT_EQ(count_of(greedy, Admission::kUndecided), 0U);
  EXPECT_EQ(count_of(greedy, Admission::kRefused), 100U - kPerIp);
  std::vector<int> admitted = fds_of(greedy, Admission::kServed);
  EXPECT_EQ(admitted.size(), kPerIp);
  EXPECT_EQ(count_echoing(admitted, 1), kPerIp);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.2: max_connections_per_ip ("));

  // 127.0.0.3 gets its own 32, while 127.0.0.2 still holds its share.
  auto neighbour = connect_and_sort(daemon, "127.0.0.3", kPerIp);
  ASSERT_EQ(neighbour.size(), kPerIp);
  EXPECT_EQ(count_of(neighbour, Admission::kServed), kPerIp) << "127.0.0.3 was refused";
  EXPECT_EQ(count_echoing(fds_of(neighbour, Admission::kServed), 2), kPerIp);
  EXPECT_EQ(count_echoing(admitted, 3), kPerIp);
}

// One address floods (about 5,000 connections a second) while three others connect now and
// then. The flooder's token bucket admits its burst, then its rate, and nothing beyond; after a
// pause it has refilled; the other addresses are all served.
//
// Load-proof by construction:
//  - upper bound: tokens accrue only between echod's first and last accept of the flooder, and
//    both happen between `start` (before the first connect()) and the moment the last of its
//    connections was seen echoed or closed; admitted <= burst + rate * that time holds however
//    slow either side was;
//  - lower bounds: the bucket starts full, so the first `burst` attempts are admitted whatever
//    their pace; after the flood, the test pauses at least a second (a slow machine only makes
//    the pause longer), so at least rate * 1 s tokens are there for the next burst of attempts;
//  - the flood lasts until something was refused and every bystander probe is done, so neither
//    depends on how many connect() calls the test manages per second;
//  - bystanders must be served (connect + echo, generous deadlines), not served quickly.
// Fails when: the bucket does not limit (more admitted than the bound, nothing refused), does
// not start full or does not refill (too few admitted), or limits per process instead of per
// address (a bystander refused).
TEST(LimitsTest, AcceptRatePerIpIsATokenBucketAndSparesOtherAddresses) {
  constexpr double kRate = 100;
  constexpr double kBurst = 200;
  constexpr std::size_t kMaxAttempts = 5000;
  constexpr auto kInterval = std::chrono::microseconds(200);  // 5,000 per second
  constexpr auto kFloodTime = 1s;
  constexpr auto kGiveUp = 60s;
  constexpr auto kRefill = 1s;
  constexpr std::size_t kRefillAttempts = 400;
  // 20 per bystander address: well within each one's own burst, whatever their pace.
  constexpr std::size_t kProbes = 60;
  DaemonConfig config;
  config.extra_limits = {"max_connections_per_ip: 0", "accept_rate_per_ip: 100",
                         "accept_burst_per_ip: 200"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const Endpoint to = daemon.endpoints().front();

  // The bystanders: a fresh connection every 4 ms or so, from 127.0.0.5, .15 and .25 in turn,
  // each echoing a byte. Started once the flood has begun.
  static constexpr const char* kBystanders[] = {"127.0.0.5", "127.0.0.15", "127.0.0.25"};
  std::atomic<bool> probes_done{false};
  std::size_t bystanders_served = 0;
  std::size_t bystander_failures = 0;
  auto probe = [&] {
    for (std::size_t i = 0; i < kProbes; ++i) {
      UniqueFd fd = connect_tcp_from(kBystanders[i % 3], to.host, to.port, {}, 10s);
      if (fd && ping_pong(fd.get(), 1, 1, 10s).size() == 1) {
        ++bystanders_served;
        set_reset_on_close(fd.get());  // no TIME_WAIT left behind
      } else {
        ++bystander_failures;
      }
      std::this_thread::sleep_for(4ms);  // spreads the probes over the flood; not a wait
    }
    probes_done.store(true);
  };
  std::thread prober;

  // Every connection of the flooder sends one byte. An admitted one echoes it; a refused one
  // ends (EOF, or a reset when echod closed it with the byte unread).
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
      } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        still_pending.push_back(std::move(pending[i]));
      } else {
        ++refused_count;
      }
    }
    pending = std::move(still_pending);
  };
  auto attempt = [&] {
    ++attempts;
    UniqueFd fd = connect_tcp_from("127.0.0.4", to.host, to.port, {}, 10s);
    if (!fd) {
      ++connect_failures;
      return;
    }
    ::send(fd.get(), "x", 1, MSG_NOSIGNAL);  // fails if already refused; seen in resolve()
    pending.push_back(std::move(fd));
  };
  auto settle = [&] {
    auto deadline = Clock::now() + 30s;
    while (!pending.empty() && Clock::now() < deadline) resolve(100);
  };

  const auto start = Clock::now();
  auto flooding = [&] {
    auto elapsed = Clock::now() - start;
    if (attempts >= kMaxAttempts || elapsed >= kGiveUp) return false;
    return elapsed < kFloodTime || refused_count == 0 || !probes_done.load();
  };
  while (flooding()) {
    auto due = std::min<std::size_t>(
        kMaxAttempts, static_cast<std::size_t>((Clock::now() - start) / kInterval) + 1);
    for (std::size_t batch = 0; attempts < due && batch < 50; ++batch) attempt();
    if (!prober.joinable()) prober = std::thread(probe);
    resolve(attempts < due ? 0 : 1);
  }
  settle();
  const auto flood_over = Clock::now();
  const std::size_t flood_admitted = admitted;
  const std::size_t flood_refused = refused_count;
  if (prober.joinable()) prober.join();

  // The refill: a measured pause, then a burst of attempts as fast as they come.
  std::this_thread::sleep_for(kRefill);  // the refill is what is measured, not a wait for an event
  for (std::size_t i = 0; i < kRefillAttempts; ++i) attempt();
  settle();
  const auto end = Clock::now();
  const std::size_t refill_admitted = admitted - flood_admitted;

  const double flood_seconds = std::chrono::duration<double>(flood_over - start).count();
  const double seconds = std::chrono::duration<double>(end - start).count();
  SCOPED_TRACE(testing::Message() << "flood: " << flood_admitted + flood_refused << " resolved in "
                                  << flood_seconds << " s, " << flood_admitted << " admitted, "
                                  << flood_refused
                                  << " refused; after the pause: " << refill_admitted << " of "
                                  << kRefillAttempts << " admitted; " << seconds << " s in all");
  EXPECT_EQ(connect_failures, 0U);
  EXPECT_TRUE(pending.empty()) << pending.size() << " connection(s) neither echoed nor closed";
  EXPECT_EQ(admitted + refused_count, attempts - connect_failures);
  EXPECT_GT(flood_refused, 0U) << "the flood never exceeded the rate";
  EXPECT_GE(static_cast<double>(flood_admitted), kBurst) << "the bucket did not start full";
  EXPECT_LE(static_cast<double>(flood_admitted), kBurst + kRate * flood_seconds);
  EXPECT_GE(static_cast<double>(refill_admitted),
            kRate * std::chrono::duration<double>(kRefill).count())
      << "the bucket did not refill at the rate during the pause";
  EXPECT_LE(static_cast<double>(admitted), kBurst + kRate * seconds);
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.4: accept_rate_per_ip ("));

  EXPECT_EQ(bystander_failures, 0U) << "another address was refused or not served";
  EXPECT_EQ(bystanders_served, kProbes);
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
  // Not early: echod's coarse clock may round the timeout down by one tick (Connection::kTick),
  // and its idle time cannot start before the client sent its last byte. Not never: the
  // deadline is generous.
  config.extra_limits[1] = "max_connections: 100";
  config.extra_limits[3] = "idle_timeout: 1s";
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("limits.idle_timeout 0s -> 1s"));
  UniqueFd idle = connect_from(daemon, "127.0.0.14");
  ASSERT_TRUE(idle.valid());
  auto idle_since = Clock::now();  // before the last byte is sent
  ASSERT_TRUE(echoes(idle.get(), 100, 20));
  auto closed_at = wait_peer_closed(idle.get(), idle_since + 1s + 20s);
  ASSERT_TRUE(closed_at) << "an idle connection is still open 20 s after idle_timeout became 1s";
  EXPECT_GE(*closed_at - idle_since, 1s - Connection::kTick)
      << "closed after " << to_ms(*closed_at - idle_since);
  EXPECT_TRUE(daemon.wait_for_log("idle timeout"));

  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(daemon.log_count("ready:"), 1U) << "echod restarted";
}

}  // namespace
}  // namespace echod::test
