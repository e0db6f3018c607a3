#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sys/mutex.hpp"
#include "udp/listener_stats.hpp"
#include "udp/rate_table.hpp"
#include "worker/worker_status.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace echod {

// What the supervisor knows and the workers do not: published after start and after every
// reload, read at scrape time.
struct DaemonFacts {
  std::uint64_t generation = 0;
  std::chrono::system_clock::time_point config_loaded{};  // last successful load
  std::chrono::system_clock::time_point started{};
  // The last reload attempt, or the start when there was none.
  std::chrono::system_clock::time_point last_reload{};
  bool last_reload_ok = true;  // also at start
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  std::size_t listeners = 0;          // listen addresses
  std::size_t workers = 0;            // serving; retiring ones not counted
  std::uint32_t max_connections = 0;  // in force: limits.max_connections, after the fd clamp
};

// The Prometheus view of the daemon, built at scrape time: the workers' own counters
// (WorkerStatus, written by each worker alone with relaxed stores) are read and summed here, so
// that counting costs the workers nothing but their own stores, and a scrape never waits for a
// worker nor makes one wait.
//
// Thread contract: Collect() runs on the HTTP server's threads; the rest on the supervisor's.
// A worker's status must stay alive until set_workers() replaced it or retire() took it.
class MetricsCollector final : public prometheus::Collectable {
 public:
  struct WorkerView {
    unsigned index;  // the worker's number, its `worker` label
    const WorkerStatus* status;
    bool responsive;  // answered the supervisor's last liveness ping in time
  };

  // One UDP listener: its address (the `listener` label) and its counters.
  struct UdpListenerView {
    std::string name;
    std::shared_ptr<const udp::ListenerStats> stats;
  };

  void publish(const DaemonFacts& facts);
  // The UDP listeners open now, and the rate table (nullptr until UDP was first enabled; it
  // must outlive the collector's use of it: the supervisor keeps it until it stops).
  void set_udp(std::vector<UdpListenerView> listeners, const udp::RateTable* rates);
  void set_workers(std::vector<WorkerView> workers);
  // The supervisor's liveness check found the worker answering, or no longer answering.
  void set_responsive(const WorkerStatus& status, bool responsive);
  // A worker is leaving: its counts stay in the totals, and it is no longer read.
  void retire(const WorkerStatus& status);
  // The counts of the workers that have left: the daemon's one record of them, which the
  // supervisor reads too.
  [[nodiscard]] WorkerTotals retired_totals() const;

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void collect_udp(std::vector<prometheus::MetricFamily>& families) const ECHOD_REQUIRES(mutex_);

  mutable Mutex mutex_;
  DaemonFacts facts_ ECHOD_GUARDED_BY(mutex_);
  std::vector<WorkerView> workers_ ECHOD_GUARDED_BY(mutex_);
  WorkerTotals retired_ ECHOD_GUARDED_BY(mutex_);
  std::vector<UdpListenerView> udp_listeners_ ECHOD_GUARDED_BY(mutex_);
  const udp::RateTable* udp_rates_ ECHOD_GUARDED_BY(mutex_) = nullptr;
};

}  // namespace echod
