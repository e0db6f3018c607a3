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

// Sanitizer builds run several times slower: the churn rate is only checked without them.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline constexpr unsigned kChurnClients = 200;
inline constexpr double kMinimumChurnRate = 1000;  // connections per second

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

  // Checks a finished churn run: no failure of any kind, and (outside sanitizer builds, when
  // `check_rate`) the load was what the test promises.
  static void expect_clean(const ChurnTotals& totals, bool check_rate = true) {
    std::printf("churn: %s\n", totals.summary().c_str());
    EXPECT_EQ(totals.failures(), 0U) << totals.summary();
    EXPECT_EQ(totals.connect_errors, 0U);
    EXPECT_EQ(totals.resets, 0U);
    EXPECT_EQ(totals.corrupt, 0U);
    EXPECT_GT(totals.completed, 0U);
    if (check_rate && !kSanitized) {
      EXPECT_GE(totals.connections_per_second(), kMinimumChurnRate)
          << "the churn was lighter than this test needs: " << totals.summary();
    }
  }

  bool isolated_ = false;
  std::string why_not_isolated_;
};

}  // namespace echod::test
