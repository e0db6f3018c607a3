#include "worker/token_bucket.hpp"

#include <gtest/gtest.h>

namespace echod {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::milliseconds;

int take_all(TokenBucket& bucket) {
  int taken = 0;
  while (bucket.has_token()) {
    bucket.take();
    ++taken;
  }
  return taken;
}

TEST(TokenBucketTest, StartsFullWithTheBurst) {
  const TokenRate rate{10, 4};
  TokenBucket bucket(rate, Clock::now());
  EXPECT_TRUE(bucket.full(rate));
  EXPECT_EQ(take_all(bucket), 4);
  EXPECT_FALSE(bucket.full(rate));
}

TEST(TokenBucketTest, EarnsTokensAtTheRateUpToTheBurst) {
  const TokenRate rate{10, 4};
  auto start = Clock::now();
  TokenBucket bucket(rate, start);
  ASSERT_EQ(take_all(bucket), 4);
  bucket.refill(rate, start + milliseconds(250));  // 2.5 tokens earned
  EXPECT_EQ(take_all(bucket), 2);
  bucket.refill(rate, start + milliseconds(300));  // 0.5 left + 0.5 earned
  EXPECT_EQ(take_all(bucket), 1);
  bucket.refill(rate, start + milliseconds(60'000));
  EXPECT_TRUE(bucket.full(rate)) << "capped at the burst";
  EXPECT_EQ(take_all(bucket), 4);
}

TEST(TokenBucketTest, ARateChangeAppliesFromTheNextRefill) {
  auto start = Clock::now();
  TokenBucket bucket(TokenRate{1, 2}, start);
  ASSERT_EQ(take_all(bucket), 2);
  const TokenRate faster{100, 2};
  bucket.refill(faster, start + milliseconds(20));
  EXPECT_EQ(take_all(bucket), 2);
  const TokenRate smaller{100, 1};
  bucket.refill(smaller, start + milliseconds(1000));
  EXPECT_EQ(take_all(bucket), 1) << "a smaller burst caps the bucket at once";
}

}  // namespace
}  // namespace echod
