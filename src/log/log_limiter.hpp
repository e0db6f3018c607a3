#pragma once

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

}  // namespace echod
