#include "client/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace echod::client {
namespace {

constexpr std::uint64_t kLinearLimit = 128;  // values below this have a bucket each
constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << LatencyHistogram::kSubBucketBits;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

std::size_t LatencyHistogram::bucket_index(std::uint64_t value) {
  if (value < kLinearLimit) return static_cast<std::size_t>(value);
  auto msb = static_cast<unsigned>(std::bit_width(value) - 1);  // >= 7
  unsigned shift = msb - kSubBucketBits;
  std::uint64_t sub = (value >> shift) - kSubBuckets;  // 0..63
  return static_cast<std::size_t>(kLinearLimit + (msb - 7) * kSubBuckets + sub);
}

std::uint64_t LatencyHistogram::bucket_low(std::size_t index) {
  if (index < kLinearLimit) return index;
  std::uint64_t rest = index - kLinearLimit;
  unsigned msb = static_cast<unsigned>(rest / kSubBuckets) + 7;
  std::uint64_t sub = rest % kSubBuckets;
  return (kSubBuckets + sub) << (msb - kSubBucketBits);
}

std::uint64_t LatencyHistogram::bucket_high(std::size_t index) {
  if (index < kLinearLimit) return index;
  std::uint64_t rest = index - kLinearLimit;
  unsigned msb = static_cast<unsigned>(rest / kSubBuckets) + 7;
  return bucket_low(index) + ((std::uint64_t{1} << (msb - kSubBucketBits)) - 1);
}

void LatencyHistogram::record(std::uint64_t value) {
  ++counts_[bucket_index(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_)));
  if (rank >= count_) return max_;
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      std::uint64_t low = bucket_low(i);
      std::uint64_t mid = low + (bucket_high(i) - low) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace echod::client
