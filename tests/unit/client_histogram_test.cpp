#include <cmath>
#include <cstdint>
#include <random>

#include <gtest/gtest.h>

#include "client/latency_histogram.hpp"

namespace echod::client {
namespace {

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  std::uint64_t expected_low = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    std::uint64_t low = LatencyHistogram::bucket_low(i);
    std::uint64_t high = LatencyHistogram::bucket_high(i);
    ASSERT_EQ(low, expected_low) << "bucket " << i;
    ASSERT_LE(low, high);
    ASSERT_EQ(LatencyHistogram::bucket_index(low), i);
    ASSERT_EQ(LatencyHistogram::bucket_index(high), i);
    if (low >= 128) {
      ASSERT_LE(static_cast<double>(high - low + 1) / static_cast<double>(low), 1.0 / 64 + 1e-12);
    }
    expected_low = high + 1;
  }
  EXPECT_EQ(expected_low, 0u);  // the last bucket ends at UINT64_MAX
}

TEST(LatencyHistogramTest, EmptyReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(90), 90u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, UniformDistributionPercentilesWithinPrecision) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v * 1000);  // 1 us .. 1 s
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double expected = p / 100.0 * 1e9;
    double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, expected, expected * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.max(), 1'000'000'000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.count(), 1'000'000u);
}

TEST(LatencyHistogramTest, BimodalTailIsSeparated) {
  LatencyHistogram h;
  for (int i = 0; i < 9900; ++i) h.record(100'000);    // 100 us
  for (int i = 0; i < 100; ++i) h.record(10'000'000);  // 10 ms
  EXPECT_NEAR(static_cast<double>(h.percentile(50)), 1e5, 1e5 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.percentile(99)), 1e5, 1e5 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.percentile(99.9)), 1e7, 1e7 * 0.01);
  EXPECT_EQ(h.max(), 10'000'000u);
}

TEST(LatencyHistogramTest, ExponentialDistributionMatchesExactQuantiles) {
  std::mt19937_64 random(7);
  std::exponential_distribution<double> exponential(1.0 / 50'000.0);  // mean 50 us
  LatencyHistogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 200'000; ++i) {
    auto v = static_cast<std::uint64_t>(exponential(random));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    double exact = static_cast<double>(values[rank - 1]);
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), exact, exact * 0.016 + 1) << "p" << p;
  }
}

TEST(LatencyHistogramTest, MergeAddsCountsAndExtremes) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record(10);
  a.record(20);
  b.record(5);
  b.record(1'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 4u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 1'000'000u);
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(99), 0u);
}

TEST(LatencyHistogramTest, HugeValuesAreKept) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  h.record(0);
  EXPECT_EQ(h.max(), UINT64_MAX);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
  EXPECT_EQ(h.percentile(50), 0u);
}

}  // namespace
}  // namespace echod::client
