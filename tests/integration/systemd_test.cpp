// The service-manager side: READY=1/STATUS=, WATCHDOG=1, and the environment echod cleans.
#include <csignal>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

TEST(ReadinessTest, ReadyMeansAcceptingAndStatusNamesTheAddress) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready());
  // No retry: the very first connect after READY=1 must succeed and be served.
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());
  std::string payload = random_bytes(1000, 1);
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));

  const std::string& ready = daemon.notifications().back();
  std::string status = notification_field(ready, "STATUS").value_or("");
  std::string address = daemon.endpoints().at(0).to_string();
  EXPECT_EQ(status, "Serving " + address +
                        " with 2 workers; 0 connections (0 accepted, 0 refused); generation 1")
      << ready;
  EXPECT_NE(daemon.port(), 0);
  std::string log = daemon.log_text();
  EXPECT_NE(log.find("listening on " + address + " (2 socket(s))"), std::string::npos) << log;
  EXPECT_NE(log.find("ready: 2 worker(s), configuration generation 1"), std::string::npos) << log;
  // READY=1 is the first notification: nothing before it.
  EXPECT_EQ(daemon.notifications().size(), 1U);
}

// WATCHDOG_USEC is honoured: pings come, several of them. How often is watchdog_test's
// business; here the deadline is generous (echod pings every 100 ms for this setting, so four
// pings within 10 s fail only when echod does not ping, or reads the interval wrong by far).
TEST(ReadinessTest, WatchdogPingsFollowWatchdogUsec) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready({}, {"WATCHDOG_USEC=400000"}));
  int pings = 0;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (pings < 4 && Clock::now() < deadline) {
    auto n = daemon.next_notification(deadline - Clock::now());
    if (!n) break;
    if (*n == "WATCHDOG=1") ++pings;
  }
  EXPECT_GE(pings, 4) << "WATCHDOG=1 every 100 ms expected; got " << pings << " in 10 s";
}

TEST(ReadinessTest, StatusFollowsTheConnectionCount) {
  DaemonProcess daemon(DaemonConfig{});
  // A watchdog interval makes the status tick fast (every 200 ms).
  ASSERT_TRUE(daemon.start_ready({}, {"WATCHDOG_USEC=400000"}));
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    std::string payload = random_bytes(100, static_cast<std::uint64_t>(i));
    ASSERT_TRUE(same_bytes(payload, echo_exact(clients.back().get(), payload)));
  }
  EXPECT_TRUE(daemon.wait_notification("with 2 workers; 3 connections").has_value());
  clients.clear();
  EXPECT_TRUE(daemon.wait_notification("with 2 workers; 0 connections").has_value());
}

TEST(ReadinessTest, SystemdVariablesAreRemovedFromTheEnvironment) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready({}, {"WATCHDOG_USEC=400000", "LISTEN_PID=1", "LISTEN_FDS=0",
                                      "LISTEN_FDNAMES=x", "ECHOD_TEST_MARKER=kept"}));
  std::string environ = daemon.environ_text();
  EXPECT_NE(environ.find("ECHOD_TEST_MARKER=kept"), std::string::npos)
      << "could not read /proc/PID/environ";
  for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
                           "LISTEN_FDS", "LISTEN_FDNAMES"}) {
    EXPECT_EQ(environ.find(name), std::string::npos) << name << " still in /proc/PID/environ";
  }
  EXPECT_EQ(environ.find(daemon.dir().string() + "/notify"), std::string::npos)
      << "the NOTIFY_SOCKET path is still in /proc/PID/environ";
}

TEST(ReadinessTest, RunsWithoutNotifySocket) {
  DaemonProcess daemon(DaemonConfig{});
  daemon.start({}, {}, false);
  ASSERT_TRUE(daemon.wait_for_log("ready: "));
  std::smatch match;
  std::string log = daemon.log_text();
  ASSERT_TRUE(std::regex_search(log, match, std::regex(R"(listening on 127\.0\.0\.1:([0-9]+) )")))
      << log;
  auto port = static_cast<std::uint16_t>(std::stoi(match[1].str()));
  UniqueFd client = connect_tcp("127.0.0.1", port);
  ASSERT_TRUE(client.valid());
  std::string payload = random_bytes(1000, 3);
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));
  daemon.send_signal(SIGTERM);
  client.reset();
  EXPECT_EQ(daemon.wait_exit(), std::optional<int>(0));
}

}  // namespace
}  // namespace echod::test
