#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/churn_clients.hpp"
#include "support/daemon_process.hpp"
#include "support/network_namespace.hpp"

namespace echod::test {

inline constexpr unsigned kChurnClients = 200;

// Load tests run in a network namespace of their own when the machine allows it: the kernel's
// counters are then theirs alone, and they disturb nobody else's traffic.
class ChurnTest : public testing::Test {
 protected:
  void SetUp() override {
    isolated_ = enter_private_network(why_not_isolated_);
    if (!isolated_) {
      std::printf("note: running in the shared network namespace (%s)\n",
                  why_not_isolated_.c_str());
    }
  }

  // 4 workers, no per-address limits (every client is 127.0.0.1).
  static DaemonConfig churn_config() {
    DaemonConfig config;
    config.workers = 4;
    config.unlimited_clients();
    config.extra_limits.emplace_back("idle_timeout: 300s");
    return config;
  }

  // Checks a finished churn run: no failure of any kind. The rate of the churn is shown, not
  // checked: it measures the machine as much as echod (bench/run-benchmarks reports echod's
  // churn rate). That the churn overlapped what a test does to echod is shown by progress the
  // test waits for between its steps (ChurnClients::wait_completed()), not by a rate.
  static void expect_clean(const ChurnTotals& totals) {
    std::printf("churn: %s\n", totals.summary().c_str());
    EXPECT_EQ(totals.failures(), 0U) << totals.summary();
    EXPECT_EQ(totals.connect_errors, 0U);
    EXPECT_EQ(totals.resets, 0U);
    EXPECT_EQ(totals.corrupt, 0U);
    EXPECT_GT(totals.completed, 0U);
  }

  bool isolated_ = false;
  std::string why_not_isolated_;
};

}  // namespace echod::test
