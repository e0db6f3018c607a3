#include "log/log_limiter.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One message per interval, and the count of what was held back in it: the same for the
// single-thread limiter and the one shared by every worker.
template <typename Limiter>
void expect_one_message_per_interval() {
  Limiter limiter(1s);
  const Clock::time_point start = Clock::now();
  std::uint64_t suppressed = 99;
  ASSERT_TRUE(limiter.allow(start, suppressed));
  EXPECT_EQ(suppressed, 0U);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.allow(start + 500ms, suppressed));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.allow(start + 999ms, suppressed));
  ASSERT_TRUE(limiter.allow(start + 1s, suppressed));
  EXPECT_EQ(suppressed, 10U);
  EXPECT_FALSE(limiter.allow(start + 1500ms, suppressed));
}

TEST(LogLimiterTest, OneMessagePerIntervalAndACountOfTheRest) {
  expect_one_message_per_interval<LogLimiter>();
}

TEST(SharedLogLimiterTest, OneMessagePerIntervalAndACountOfTheRest) {
  expect_one_message_per_interval<SharedLogLimiter>();
}

// Many threads at once, as workers refusing a flood: one line per interval for all of them, and
// every other call counted once.
TEST(SharedLogLimiterTest, ThreadsShareOneBudget) {
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 2000;
  SharedLogLimiter limiter(1h);
  const Clock::time_point now = Clock::now();
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::uint64_t suppressed = 0;
      for (int i = 0; i < kCallsPerThread; ++i) {
        if (limiter.allow(now, suppressed)) allowed.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1);
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(limiter.allow(now + 1h, suppressed));
  EXPECT_EQ(suppressed, static_cast<std::uint64_t>(kThreads * kCallsPerThread - 1));
}

}  // namespace
}  // namespace echod
