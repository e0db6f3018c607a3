#pragma once

#include <algorithm>
#include <chrono>

namespace echod {

// A rate and the burst allowed above it: `per_second` tokens are earned each second, and at most
// `burst` are kept. A per_second of 0 means unlimited (no bucket is consulted).
struct TokenRate {
  double per_second = 0;
  double burst = 0;
};

// A token bucket: one token per event (a new connection), earned back at a steady rate. The rate
// is passed to each refill rather than kept, so that a reload that changes it applies to the
// buckets already filled. Starts full.
//
// Thread contract: none of its own; the owner serializes every call.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(const TokenRate& rate, Clock::time_point now) noexcept
      : tokens_(rate.burst), refilled_(now) {}

  // Adds what was earned since the last refill, capped at the burst.
  void refill(const TokenRate& rate, Clock::time_point now) noexcept {
    std::chrono::duration<double> elapsed = now - refilled_;
    tokens_ = std::min(rate.burst, tokens_ + elapsed.count() * rate.per_second);
    refilled_ = now;
  }

  [[nodiscard]] bool has_token() const noexcept { return tokens_ >= 1; }
  void take() noexcept { tokens_ -= 1; }
  // As full as it gets: indistinguishable from a bucket never used.
  [[nodiscard]] bool full(const TokenRate& rate) const noexcept { return tokens_ >= rate.burst; }

 private:
  double tokens_;
  Clock::time_point refilled_;
};

}  // namespace echod
