// Worker liveness: a wedged worker (a test-only control command) stops the watchdog pings;
// with or without the watchdog, its echod_worker_responsive goes to 0 until it answers again.
//
// Checked by the order of events, not by their timing: once echod has logged that it withholds
// a ping, every datagram it had sent before is already queued on the test's socket (a datagram
// is queued when its send returns). The test reads those, and from then on until the wedge is
// certainly still on (it lasts 5 s from a moment after the test asked for it), any WATCHDOG=1
// is a ping sent while a worker was wedged. A slow machine shortens that window; it cannot put a
// ping in it that a correct echod did not send.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "control/control_socket.hpp"
#include "integration/metrics_support.hpp"
#include "support/daemon_process.hpp"

namespace echod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kWatchdog = 2s;

TEST(WatchdogTest, AWedgedWorkerStopsThePings) {
  DaemonConfig config;
  config.workers = 2;
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready({}, {"WATCHDOG_USEC=2000000"}));

  // Healthy: pings keep coming, at least once per watchdog period, which is what systemd
  // enforces (echod pings every quarter period, so this leaves more than a second and a half
  // for the scheduler). Fails when echod pings too seldom or not at all.
  auto last = Clock::now();
  for (int pings = 0; pings < 4;) {
    auto datagram = daemon.next_notification(10s);
    ASSERT_TRUE(datagram.has_value()) << "no notification for 10 s";
    if (*datagram != "WATCHDOG=1") continue;
    auto now = Clock::now();
    EXPECT_LT(now - last, kWatchdog) << "ping " << pings;
    last = now;
    ++pings;
  }

  // Wedge worker 1 for 5 s: the wedge is on at least until wedged_at + 5 s.
  constexpr auto kWedge = 5s;
  auto wedged_at = Clock::now();
  std::string reply = control_request(daemon.control_socket_path(), "test-wedge 1 5000", 5000);
  if (reply.find("unknown command") != std::string::npos) {
    GTEST_SKIP() << "echod was built without ECHOD_TEST_HOOKS";
  }
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;
  ASSERT_TRUE(daemon.wait_for_log("worker 1: wedged for 5000 ms"));
  // Fails when echod keeps pinging with a wedged worker (it never withholds).
  ASSERT_TRUE(daemon.wait_for_log("withholding the watchdog ping"));
  while (daemon.next_notification(0s)) {
  }  // what echod sent before it withheld a ping
  auto watch_until = wedged_at + kWedge - 200ms;
  int wedged_pings = 0;
  while (Clock::now() < watch_until) {
    auto datagram = daemon.next_notification(watch_until - Clock::now());
    if (!datagram) break;
    if (*datagram == "WATCHDOG=1") ++wedged_pings;
  }
  EXPECT_EQ(wedged_pings, 0) << "WATCHDOG=1 while a worker was wedged";

  // Unwedged, the pings come back.
  EXPECT_TRUE(daemon.wait_notification("WATCHDOG=1", 20s).has_value());
}

// Without WATCHDOG_USEC the supervisor still pings every worker each tick (5 s): a worker that
// misses a ping shows as echod_worker_responsive 0 in a scrape, the others stay 1, and it
// returns to 1 once it answers again.
TEST(WatchdogTest, WithoutTheWatchdogAWedgedWorkerShowsInTheMetrics) {
  const std::string kWorker0 = R"(echod_worker_responsive{worker="0"})";
  const std::string kWorker1 = R"(echod_worker_responsive{worker="1"})";
  DaemonConfig config;
  config.workers = 2;
  config.metrics_listen = "127.0.0.1:0";
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  Scrape healthy = scrape(*port);
  ASSERT_TRUE(healthy.ok);
  EXPECT_EQ(healthy[kWorker0], 1) << healthy.body;
  EXPECT_EQ(healthy[kWorker1], 1) << healthy.body;

  // Wedged until the test has seen the gauge at 0 (at most 120 s, so a broken test cannot hang
  // echod): the Ping posted at the first tick after the wedge is unanswered at the second.
  // Decided by events: how late the ticks run changes when the gauge drops, not whether.
  std::string reply = control_request(daemon.control_socket_path(), "test-wedge 1 120000", 5000);
  if (reply.find("unknown command") != std::string::npos) {
    GTEST_SKIP() << "echod was built without ECHOD_TEST_HOOKS";
  }
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;
  ASSERT_TRUE(daemon.wait_for_log("worker 1: wedged for 120000 ms"));
  Scrape wedged;
  EXPECT_TRUE(eventually(
      [&] {
        wedged = scrape(*port);
        return wedged.ok && wedged[kWorker1] == 0;
      },
      60s))
      << wedged.body;
  EXPECT_EQ(wedged[kWorker0], 1) << wedged.body;
  EXPECT_TRUE(daemon.wait_for_log("worker 1 has not answered for"));

  // Unwedged, it answers the Ping waiting in its queue, and the next tick sees it.
  reply = control_request(daemon.control_socket_path(), "test-unwedge 1", 5000);
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;
  Scrape recovered;
  EXPECT_TRUE(eventually(
      [&] {
        recovered = scrape(*port);
        return recovered.ok && recovered[kWorker1] == 1;
      },
      60s))
      << recovered.body;
  EXPECT_EQ(recovered[kWorker0], 1) << recovered.body;
  EXPECT_TRUE(daemon.wait_for_log("worker 1 answers again"));

  // Without the watchdog, no WATCHDOG=1 (of the datagrams queued so far) and no talk of
  // withholding it.
  EXPECT_FALSE(daemon.wait_notification("WATCHDOG=1", 0s).has_value());
  EXPECT_EQ(daemon.log_count("withholding the watchdog ping"), 0U) << daemon.log_text();
}

}  // namespace
}  // namespace echod::test
