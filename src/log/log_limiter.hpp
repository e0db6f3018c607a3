#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace echod {

// Lets one message of a kind through per interval and counts the rest, so that a flood of
// identical errors becomes one line a second with "(suppressed N)". Not thread-safe: each
// worker owns its own limiters.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LogLimiter() = default;
  explicit LogLimiter(Clock::duration interval) : interval_(interval) {}

  // True when a message may be logged now; `suppressed` then holds how many were held back
  // since the last one that was let through.
  bool allow(Clock::time_point now, std::uint64_t& suppressed) {
    if (has_logged_ && now - last_ < interval_) {
      ++suppressed_;
      return false;
    }
    has_logged_ = true;
    last_ = now;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  Clock::duration interval_ = std::chrono::seconds(1);
  Clock::time_point last_{};
  bool has_logged_ = false;
  std::uint64_t suppressed_ = 0;
};

// The same for a kind of message every worker may log (a refused connection): one budget for
// the whole process, so that N workers still log one line a second, not N. Safe to call from
// any thread; a message held back near the interval's edge may be counted in the next report.
class SharedLogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SharedLogLimiter(Clock::duration interval = std::chrono::seconds(1))
      : interval_(interval) {}

  bool allow(Clock::time_point now, std::uint64_t& suppressed) {
    const Clock::rep ticks = now.time_since_epoch().count();
    Clock::rep next = next_.load(std::memory_order_relaxed);
    if (ticks < next || !next_.compare_exchange_strong(next, ticks + interval_.count(),
                                                       std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }

 private:
  const Clock::duration interval_;
  std::atomic<Clock::rep> next_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace echod
