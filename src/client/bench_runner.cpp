#include "client/bench_runner.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "client/bench_worker.hpp"
#include "client/blocked_signals.hpp"
#include "client/cpu_stopwatch.hpp"
#include "client/worker_threads.hpp"
#include "sys/system_error.hpp"

namespace echod::client {
namespace {

using Clock = std::chrono::steady_clock;

// Every connection needs a descriptor, and the default soft limit (1024) is far below what a
// memory test uses: raise it to the hard limit when needed.
void ensure_fd_limit(std::uint64_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur >= needed) return;
  if (limit.rlim_max < needed) {
    throw std::runtime_error("need " + std::to_string(needed) +
                             " file descriptors but the hard limit (ulimit -Hn) is " +
                             std::to_string(limit.rlim_max));
  }
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) throw_errno("setrlimit(RLIMIT_NOFILE)");
}

void print_live_line(std::ostream& out, double elapsed_s, double interval_s,
                     const LiveStats::Snapshot& delta, std::uint64_t total_errors,
                     std::uint64_t total_connects) {
  double interval = std::max(interval_s, 1e-9);
  out << fmt::format(
             "{:7.1f} s  {:10.0f} req/s  {:9.2f} MB/s  p99 {:9.1f} us  errors {}  connections {}",
             elapsed_s, static_cast<double>(delta.requests) / interval,
             static_cast<double>(delta.bytes) / interval / 1e6,
             static_cast<double>(delta.latency.percentile(99.0)) / 1e3, total_errors,
             total_connects)
      << std::endl;
}

}  // namespace

BenchResult run_bench(const BenchOptions& options, std::ostream& live_out,
                      std::ostream& status_out) {
  ensure_fd_limit(std::uint64_t{options.connections} + options.threads + 32);
  BlockedSignals signals;
  BenchShared shared;
  CpuStopwatch cpu;

  const auto start = Clock::now();
  const auto start_ns = std::chrono::duration_cast<Nanoseconds>(start.time_since_epoch()).count();
  const std::uint32_t threads = options.threads;
  std::vector<std::unique_ptr<BenchWorker>> workers;
  std::uint32_t first = 0;
  for (std::uint32_t t = 0; t < threads; ++t) {
    std::uint32_t count = even_share(options.connections, threads, t);
    std::optional<std::uint64_t> budget;
    if (options.messages) budget = even_share(*options.messages, threads, t);
    workers.push_back(
        std::make_unique<BenchWorker>(options, shared, first, count, budget, start_ns));
    first += count;
  }

  WorkerThreads pool(workers, shared.abort);

  BenchResult result;
  auto next_live = start + std::chrono::seconds(1);
  auto last_live = start;
  std::uint64_t live_errors = 0;
  std::uint64_t live_connects = 0;
  bool idle_announced = false;
  Clock::time_point hold_end{};
  while (pool.running()) {
    if (signals.wait(std::chrono::milliseconds(100))) {
      if (shared.stop.exchange(true)) shared.abort = true;
      result.interrupted = true;
    }
    auto now = Clock::now();
    if (options.live && now >= next_live) {
      auto delta = shared.live.take();
      live_errors += delta.errors;
      live_connects += delta.connects;
      print_live_line(live_out, std::chrono::duration<double>(now - start).count(),
                      std::chrono::duration<double>(now - last_live).count(), delta, live_errors,
                      live_connects);
      last_live = now;
      next_live += std::chrono::seconds(1);
    }
    if (options.mode == BenchMode::kIdle && !idle_announced) {
      auto ready = shared.idle_ready.load();
      auto failed = shared.idle_failed.load();
      if (ready + failed >= options.connections) {
        status_out << "idle: " << ready << " connections established";
        if (failed > 0) status_out << " (" << failed << " failed)";
        status_out << std::endl;
        idle_announced = true;
        hold_end = now + options.duration;
      }
    }
    if (idle_announced && now >= hold_end) shared.stop = true;
  }
  auto results = pool.join();

  auto used = cpu.elapsed();
  result.user_cpu_s = used.user;
  result.system_cpu_s = used.system;
  result.idle_established = shared.idle_ready.load();
  std::int64_t begin_ns = INT64_MAX;
  std::int64_t end_ns = 0;
  for (auto& r : results) {
    result.latency.merge(r.latency);
    result.requests += r.requests;
    result.bytes += r.bytes;
    result.connects += r.connects;
    result.errors.merge(r.errors);
    for (auto& sample : r.error_samples) result.error_samples.push_back(std::move(sample));
    begin_ns = std::min(begin_ns, r.measure_begin_ns);
    end_ns = std::max(end_ns, r.measure_end_ns);
  }
  result.elapsed_s = end_ns > begin_ns ? static_cast<double>(end_ns - begin_ns) / 1e9 : 0.0;
  return result;
}

}  // namespace echod::client
