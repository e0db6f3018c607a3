#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "client/error_kind.hpp"
#include "client/latency_histogram.hpp"
#include "sys/mutex.hpp"

namespace echod::client {

// Counters a worker adds to and the runner drains once per live line. Safe from any thread.
class LiveStats {
 public:
  struct Snapshot {
    LatencyHistogram latency;
    std::uint64_t requests = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;
    std::uint64_t connects = 0;
  };

  void add(const Snapshot& delta) {
    MutexLock lock(mutex_);
    totals_.latency.merge(delta.latency);
    totals_.requests += delta.requests;
    totals_.bytes += delta.bytes;
    totals_.errors += delta.errors;
    totals_.connects += delta.connects;
  }

  // Returns everything added since the previous take().
  Snapshot take() {
    MutexLock lock(mutex_);
    Snapshot result = totals_;
    totals_.latency.reset();
    totals_.requests = totals_.bytes = totals_.errors = totals_.connects = 0;
    return result;
  }

 private:
  Mutex mutex_;
  Snapshot totals_ ECHOD_GUARDED_BY(mutex_);
};

// The little that bench workers and the runner share. Everything else is owned by one thread.
struct BenchShared {
  std::atomic<bool> stop{false};   // finish: issue nothing new, drain, close politely
  std::atomic<bool> abort{false};  // finish now: close every connection as it is
  std::atomic<std::uint64_t> next_stream_id{0};
  std::atomic<std::uint32_t> idle_ready{0};   // --idle: connections that echoed once
  std::atomic<std::uint32_t> idle_failed{0};  // --idle: connections that failed before that
  LiveStats live;
};

// What one worker measured. Times are steady_clock nanoseconds since the epoch of that clock.
struct WorkerResult {
  LatencyHistogram latency;
  std::uint64_t requests = 0;  // counted messages (churn: connection cycles) echoed
  std::uint64_t bytes = 0;     // counted payload bytes echoed back
  std::uint64_t connects = 0;  // connections established
  ErrorCounts errors;
  std::vector<std::string> error_samples;  // the first few errors, described
  std::int64_t measure_begin_ns = 0;
  std::int64_t measure_end_ns = 0;
};

}  // namespace echod::client
