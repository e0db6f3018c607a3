// Limits a client can run into: connection caps, accept filters and the idle/stall timeouts.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kKiB = 1024;

bool echoes(int fd, std::size_t size, std::uint64_t seed) {
  std::string payload = random_bytes(size, seed);
  return same_bytes(payload, echo_exact(fd, payload));
}

// A refused client sees its connection end (EOF or reset) without a byte of echo.
testing::AssertionResult refused(int fd) {
  std::string probe = "are you there?";
  send_all(fd, probe, std::chrono::seconds(5));
  ReadResult r = read_until_eof(fd, std::chrono::seconds(5));
  if (!r.data.empty()) return testing::AssertionFailure() << "got " << r.data.size() << " bytes";
  if (!r.eof && r.error == 0) return testing::AssertionFailure() << "connection still open";
  return testing::AssertionSuccess();
}

TEST(LimitsTest, ConnectionsPerAddressAreCapped) {
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"max_connections_per_ip: 3", "accept_rate_per_ip: 0"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  std::vector<UniqueFd> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.push_back(daemon.connect());
    ASSERT_TRUE(admitted.back().valid());
    ASSERT_TRUE(echoes(admitted.back().get(), 1000, static_cast<std::uint64_t>(i)));
  }
  UniqueFd fourth = daemon.connect();
  ASSERT_TRUE(fourth.valid());
  EXPECT_TRUE(refused(fourth.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: max_connections_per_ip"));

  // A slot frees up when a client leaves.
  admitted.pop_back();
  ASSERT_TRUE(daemon.wait_for_log("client closed"));
  UniqueFd later = daemon.connect();
  ASSERT_TRUE(later.valid());
  EXPECT_TRUE(echoes(later.get(), 1000, 10));
  for (const UniqueFd& fd : admitted) EXPECT_TRUE(echoes(fd.get(), 1000, 11));
}

TEST(LimitsTest, TotalConnectionsAreCapped) {
  DaemonConfig config;
  config.extra_limits = {"max_connections: 2", "max_connections_per_ip: 0",
                         "accept_rate_per_ip: 0"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd a = daemon.connect();
  UniqueFd b = daemon.connect();
  ASSERT_TRUE(a.valid() && b.valid());
  ASSERT_TRUE(echoes(a.get(), 100, 1));
  ASSERT_TRUE(echoes(b.get(), 100, 2));
  UniqueFd c = daemon.connect();
  ASSERT_TRUE(c.valid());
  EXPECT_TRUE(refused(c.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: max_connections "));
  EXPECT_TRUE(echoes(a.get(), 64 * kKiB, 3));
}

TEST(LimitsTest, DeniedNetworkIsRefused) {
  DaemonConfig config;
  config.extra_limits = {"access: {deny: [\"127.0.0.0/8\"]}"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());
  EXPECT_TRUE(refused(client.get()));
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: access denied"));
}

TEST(LimitsTest, IdleConnectionIsClosedAfterIdleTimeout) {
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"idle_timeout: 300ms"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(echoes(client.get(), 100, 1));
  auto idle_since = Clock::now();
  ReadResult r = read_until_eof(client.get(), std::chrono::seconds(5));
  auto waited = Clock::now() - idle_since;
  EXPECT_TRUE(r.eof || r.error != 0) << "still open after 5 s";
  EXPECT_TRUE(r.data.empty());
  EXPECT_GE(waited, std::chrono::milliseconds(250)) << "closed before the idle timeout";
  EXPECT_TRUE(daemon.wait_for_log("idle timeout"));
}

TEST(LimitsTest, ClientThatStopsReadingIsClosedAfterSendStallTimeout) {
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"send_stall_timeout: 500ms", "idle_timeout: 0s"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd reader = daemon.connect();
  ASSERT_TRUE(reader.valid());
  UniqueFd stuck = daemon.connect(0, ConnectOptions{4096, 0});
  ASSERT_TRUE(stuck.valid());
  std::string flood = random_bytes(4 * 1024 * kKiB, 5);
  ASSERT_GT(send_until_stalled(stuck.get(), flood, std::chrono::milliseconds(100)), 0U);
  EXPECT_TRUE(daemon.wait_for_log("send stall"));
  // The client that does read is not affected.
  EXPECT_TRUE(echoes(reader.get(), 64 * kKiB, 6));
}

}  // namespace
}  // namespace echod::test
