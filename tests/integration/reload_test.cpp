// SIGHUP: valid configurations apply live; broken ones are rejected and the old one keeps
// serving.
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000U;
}

bool echoes(int fd, std::size_t size, std::uint64_t seed) {
  std::string payload = random_bytes(size, seed);
  return same_bytes(payload, echo_exact(fd, payload));
}

TEST(ReloadTest, LogLevelChangesLive) {
  DaemonConfig config;
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd before = daemon.connect();
  ASSERT_TRUE(before.valid());
  ASSERT_TRUE(echoes(before.get(), 1000, 1));
  // The echo came back, so echod has accepted the connection: at info level, silently.
  EXPECT_EQ(daemon.log_count("accepted fd"), 0U);

  config.log_level = "debug";
  std::uint64_t signalled_at = monotonic_usec();
  auto ready = daemon.reload(config.yaml());
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(notification_field(*ready, "STATUS").value_or("").starts_with("Serving ")) << *ready;

  // RELOADING=1 carries the time of the reload on CLOCK_MONOTONIC.
  auto reloading = std::find_if(daemon.notifications().begin(), daemon.notifications().end(),
                                [](const std::string& n) { return n.starts_with("RELOADING=1"); });
  ASSERT_NE(reloading, daemon.notifications().end());
  auto usec = notification_field(*reloading, "MONOTONIC_USEC");
  ASSERT_TRUE(usec.has_value()) << *reloading;
  std::uint64_t stamp = std::stoull(*usec);
  EXPECT_GE(stamp, signalled_at);
  EXPECT_LE(stamp, monotonic_usec());

  ASSERT_TRUE(daemon.wait_for_log("configuration reloaded (generation 2)"));
  EXPECT_NE(daemon.log_text().find("log.level info -> debug"), std::string::npos);

  UniqueFd after = daemon.connect();
  ASSERT_TRUE(after.valid());
  EXPECT_TRUE(echoes(after.get(), 1000, 2));
  EXPECT_TRUE(daemon.wait_for_log("accepted fd"));
  EXPECT_TRUE(echoes(before.get(), 1000, 3)) << "a connection from before the reload broke";
}

TEST(ReloadTest, LimitsChangeLiveUnderATransferInProgress) {
  DaemonConfig config;
  config.io_buffer = "16KiB";
  config.max_pending_output = "64KiB";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  // A transfer in the middle of backpressure when the limits change under it.
  UniqueFd busy = daemon.connect(0, ConnectOptions{4096, 0});
  ASSERT_TRUE(busy.valid());
  std::string payload = random_bytes(4 * kMiB, 10);
  // How much is in flight when the limits change depends on the machine's speed; the check
  // (every byte comes back) does not.
  std::size_t sent = send_until_stalled(busy.get(), payload, std::chrono::milliseconds(200));

  config.io_buffer = "4KiB";
  config.max_pending_output = "256KiB";
  auto ready = daemon.reload(config.yaml());
  ASSERT_TRUE(ready.has_value());
  ASSERT_TRUE(daemon.wait_for_log("configuration reloaded (generation 2)"));
  std::string log = daemon.log_text();
  EXPECT_NE(log.find("limits.io_buffer"), std::string::npos) << log;
  EXPECT_NE(log.find("limits.max_pending_output"), std::string::npos) << log;

  EchoSession session{busy.get(), payload};
  session.sent = sent;
  EXPECT_TRUE(run_echo_sessions(std::span<EchoSession>(&session, 1)));
  EXPECT_TRUE(same_bytes(payload, session.received));

  UniqueFd fresh = daemon.connect();
  ASSERT_TRUE(fresh.valid());
  EXPECT_TRUE(echoes(fresh.get(), kMiB, 11));
}

TEST(ReloadTest, ListenersAreAddedAndRemovedWhileConnectionsStay) {
  if (!address_available("127.0.0.2")) GTEST_SKIP() << "127.0.0.2 cannot be bound here";
  DaemonConfig config;
  config.listen = {"127.0.0.1:0"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const Endpoint first = daemon.endpoints().at(0);
  UniqueFd old_client = daemon.connect();
  ASSERT_TRUE(old_client.valid());
  ASSERT_TRUE(echoes(old_client.get(), 1000, 20));

  config.listen = {"127.0.0.1:0", "127.0.0.2:0"};
  ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
  ASSERT_TRUE(daemon.wait_for_log("configuration reloaded (generation 2)"));
  auto kept = daemon.endpoint_for_host("127.0.0.1");
  auto added = daemon.endpoint_for_host("127.0.0.2");
  ASSERT_TRUE(kept.has_value() && added.has_value()) << daemon.notifications().back();
  EXPECT_EQ(kept->port, first.port) << "the unchanged listener was not kept";
  EXPECT_NE(added->port, 0);
  EXPECT_NE(daemon.log_text().find("listening on 127.0.0.2:" + std::to_string(added->port)),
            std::string::npos);

  UniqueFd new_client = connect_tcp(added->host, added->port);
  ASSERT_TRUE(new_client.valid());
  EXPECT_TRUE(echoes(new_client.get(), 64 * kKiB, 21));
  EXPECT_TRUE(echoes(old_client.get(), 64 * kKiB, 22)) << "connection from before the reload";
  UniqueFd again = connect_tcp(first.host, first.port);
  ASSERT_TRUE(again.valid()) << "the kept listener does not accept";
  EXPECT_TRUE(echoes(again.get(), 1000, 23));

  // Remove the original address: its connections stay, new ones are refused.
  config.listen = {"127.0.0.2:0"};
  ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
  ASSERT_TRUE(daemon.wait_for_log("configuration reloaded (generation 3)"));
  EXPECT_FALSE(daemon.endpoint_for_host("127.0.0.1").has_value()) << daemon.notifications().back();
  EXPECT_TRUE(echoes(old_client.get(), 64 * kKiB, 24));
  EXPECT_TRUE(echoes(new_client.get(), 1000, 25));
  int error = 0;
  UniqueFd refused = connect_tcp(first.host, first.port, {}, std::chrono::seconds(5), &error);
  EXPECT_FALSE(refused.valid()) << "the removed listener still accepts";
  EXPECT_EQ(error, ECONNREFUSED) << std::strerror(error);
}

struct BrokenConfig {
  std::string name;
  std::string yaml;
  std::string expected;  // regex that must follow "[error] FILE:" in the log
};

std::string escape_regex(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

std::string valid_tail() { return "workers: 2\nlog:\n  level: info\n  target: stderr\n"; }

class BrokenReloadTest : public testing::TestWithParam<BrokenConfig> {};

TEST_P(BrokenReloadTest, IsRejectedAndTheOldConfigurationKeepsServing) {
  DaemonConfig config;
  DaemonProcess daemon(config);
  daemon.allow_log_error(daemon.config_path() + ":");
  daemon.allow_log_error("reload failed with");
  ASSERT_TRUE(daemon.start_ready());
  const Endpoint endpoint = daemon.endpoints().at(0);
  UniqueFd before = daemon.connect();
  ASSERT_TRUE(before.valid());
  ASSERT_TRUE(echoes(before.get(), 1000, 30));

  auto ready = daemon.reload(GetParam().yaml);
  ASSERT_TRUE(ready.has_value());
  std::string status = notification_field(*ready, "STATUS").value_or("");
  EXPECT_TRUE(status.starts_with("Reload failed (")) << status;
  EXPECT_EQ(parse_status_endpoints(status), std::vector<Endpoint>{endpoint}) << status;
  ASSERT_TRUE(daemon.wait_for_log("still serving with the previous configuration (generation 1)"));

  // Every error is logged at error level as FILE:LINE:COL: ...
  std::string log = daemon.log_text();
  std::regex located("\\[error\\] " + escape_regex(daemon.config_path()) + ":" +
                     GetParam().expected);
  EXPECT_TRUE(std::regex_search(log, located))
      << "no error line matching '" << GetParam().expected << "' in:\n"
      << log;

  // The old configuration still serves: existing and new connections, same address.
  EXPECT_TRUE(echoes(before.get(), 64 * kKiB, 31));
  UniqueFd during = daemon.connect();
  ASSERT_TRUE(during.valid());
  EXPECT_TRUE(echoes(during.get(), 64 * kKiB, 32));

  // And a valid configuration afterwards is taken.
  config.log_level = "debug";
  auto fixed = daemon.reload(config.yaml());
  ASSERT_TRUE(fixed.has_value());
  EXPECT_TRUE(notification_field(*fixed, "STATUS").value_or("").starts_with("Serving ")) << *fixed;
  EXPECT_TRUE(daemon.wait_for_log("configuration reloaded (generation 2)"));
  EXPECT_TRUE(echoes(before.get(), 1000, 33));
}

INSTANTIATE_TEST_SUITE_P(
    Configs, BrokenReloadTest,
    testing::Values(
        BrokenConfig{"SyntaxError", "listen: [\"127.0.0.1:0\"\n" + valid_tail(), "[0-9]+:[0-9]+: "},
        BrokenConfig{"UnknownKey", "listen:\n  - \"127.0.0.1:0\"\nfrobnicate: 1\n" + valid_tail(),
                     "3:1: frobnicate: "},
        BrokenConfig{"BadPort", "listen:\n  - \"127.0.0.1:99999\"\n" + valid_tail(),
                     "2:[0-9]+: listen\\[0\\]: "},
        BrokenConfig{
            "BadSize",
            "listen:\n  - \"127.0.0.1:0\"\n" + valid_tail() + "limits:\n  io_buffer: lots\n",
            "8:[0-9]+: limits\\.io_buffer: "}),
    [](const testing::TestParamInfo<BrokenConfig>& p) { return p.param.name; });

TEST(ReloadTest, MissingConfigFileIsRejected) {
  DaemonProcess daemon(DaemonConfig{});
  daemon.allow_log_error(daemon.config_path());
  daemon.allow_log_error("reload failed with");
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());
  std::filesystem::remove(daemon.config_path());
  daemon.send_signal(SIGHUP);
  auto ready = daemon.wait_notification("READY=1");
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(notification_field(*ready, "STATUS").value_or("").starts_with("Reload failed ("))
      << *ready;
  EXPECT_TRUE(echoes(client.get(), 1000, 40));
}

}  // namespace
}  // namespace echod::test
