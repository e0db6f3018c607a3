#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace echod::client {

// Fixed-memory histogram of non-negative integers (latencies in nanoseconds) with bounded relative
// error, in the manner of HdrHistogram: values below 128 have a bucket each; above, every power
// of two is split into 64 equal buckets, so a bucket is at most 1/64 (1.6%) of its values wide.
// Percentiles report the bucket's midpoint, clamped to the exact minimum and maximum seen.
// Single-threaded; merge() per-thread histograms for a total.
class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 6;
  static constexpr std::size_t kBucketCount = 128 + (64 - 7) * 64;

  LatencyHistogram();

  void record(std::uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset();

  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const { return max_; }
  [[nodiscard]] double mean() const;
  // The value below which `percent` percent of the recorded values lie (0 when empty).
  [[nodiscard]] std::uint64_t percentile(double percent) const;

  static std::size_t bucket_index(std::uint64_t value);
  static std::uint64_t bucket_low(std::size_t index);   // smallest value in the bucket
  static std::uint64_t bucket_high(std::size_t index);  // largest value in the bucket

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace echod::client
