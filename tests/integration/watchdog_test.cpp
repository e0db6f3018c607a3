// The watchdog: WATCHDOG=1 only while every worker answers; a wedged worker (a test-only
// control command) stops the pings within half the watchdog period.
#include <string>

#include <gtest/gtest.h>

#include "control/control_socket.hpp"
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

  // Healthy: a ping at least every half period.
  auto last = Clock::now();
  for (int pings = 0; pings < 4;) {
    auto datagram = daemon.next_notification(kWatchdog);
    ASSERT_TRUE(datagram.has_value()) << "no notification for " << kWatchdog.count() << " s";
    if (*datagram != "WATCHDOG=1") continue;
    auto now = Clock::now();
    EXPECT_LE(now - last, kWatchdog / 2 + 100ms) << "ping " << pings;
    last = now;
    ++pings;
  }

  // Wedge worker 1 for 3 s. No ping may arrive later than half a period after that.
  auto wedged_at = Clock::now();
  std::string reply = control_request(daemon.control_socket_path(), "test-wedge 1 3000", 5000);
  if (reply.find("unknown command") != std::string::npos) {
    GTEST_SKIP() << "echod was built without ECHOD_TEST_HOOKS";
  }
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;
  ASSERT_TRUE(daemon.wait_for_log("worker 1: wedged for 3000 ms"));
  auto watch_until = wedged_at + 2800ms;
  int late_pings = 0;
  while (Clock::now() < watch_until) {
    auto datagram = daemon.next_notification(watch_until - Clock::now());
    if (!datagram) break;
    if (*datagram == "WATCHDOG=1" && Clock::now() > wedged_at + kWatchdog / 2) ++late_pings;
  }
  EXPECT_EQ(late_pings, 0) << "WATCHDOG=1 while a worker was wedged";
  EXPECT_TRUE(daemon.wait_for_log("withholding the watchdog ping"));

  // Unwedged, the pings come back.
  EXPECT_TRUE(daemon.wait_notification("WATCHDOG=1", 3s).has_value());
}

}  // namespace
}  // namespace echod::test
