#include "metrics/metrics_collector.hpp"

#include <string>
#include <utility>

#include "build_info.hpp"

namespace echod {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double seconds_since_epoch(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

void add_sample(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

MetricFamily gauge(std::string name, std::string help, double value) {
  MetricFamily result = family(std::move(name), std::move(help), MetricType::Gauge);
  add_sample(result, value);
  return result;
}

MetricFamily counter(std::string name, std::string help, std::uint64_t value) {
  MetricFamily result = family(std::move(name), std::move(help), MetricType::Counter);
  add_sample(result, static_cast<double>(value));
  return result;
}

// A counter with one sample per label value, from per-worker arrays summed over the workers.
template <std::size_t N>
MetricFamily labelled_counter(std::string name, std::string help, const std::string& label,
                              const std::array<std::string_view, N>& values,
                              const std::array<std::uint64_t, N>& totals, std::size_t first = 0) {
  MetricFamily result = family(std::move(name), std::move(help), MetricType::Counter);
  for (std::size_t i = first; i < N; ++i) {
    add_sample(result, static_cast<double>(totals[i]), {{label, std::string(values[i])}});
  }
  return result;
}

}  // namespace

void MetricsCollector::publish(const DaemonFacts& facts) {
  MutexLock lock(mutex_);
  facts_ = facts;
}

void MetricsCollector::set_udp(std::vector<UdpListenerView> listeners,
                               const udp::RateTable* rates) {
  MutexLock lock(mutex_);
  udp_listeners_ = std::move(listeners);
  udp_rates_ = rates;
}

void MetricsCollector::set_workers(std::vector<WorkerView> workers) {
  MutexLock lock(mutex_);
  workers_ = std::move(workers);
}

void MetricsCollector::set_responsive(const WorkerStatus& status, bool responsive) {
  MutexLock lock(mutex_);
  for (WorkerView& view : workers_) {
    if (view.status == &status) view.responsive = responsive;
  }
}

void MetricsCollector::retire(const WorkerStatus& status) {
  MutexLock lock(mutex_);
  retired_.add(status);
  std::erase_if(workers_, [&](const WorkerView& view) { return view.status == &status; });
}

WorkerTotals MetricsCollector::retired_totals() const {
  MutexLock lock(mutex_);
  return retired_;
}

void MetricsCollector::collect_udp(std::vector<MetricFamily>& families) const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  families.push_back(gauge("echod_udp_listeners", "UDP listen addresses echoing datagrams",
                           static_cast<double>(udp_listeners_.size())));
  MetricFamily received = family("echod_udp_datagrams_received_total",
                                 "UDP datagrams received, per listener", MetricType::Counter);
  MetricFamily sent = family("echod_udp_datagrams_sent_total", "UDP datagrams echoed, per listener",
                             MetricType::Counter);
  MetricFamily received_bytes =
      family("echod_udp_received_bytes_total", "UDP payload bytes received, per listener",
             MetricType::Counter);
  MetricFamily sent_bytes = family("echod_udp_sent_bytes_total",
                                   "UDP payload bytes echoed, per listener", MetricType::Counter);
  MetricFamily dropped =
      family("echod_udp_datagrams_dropped_total",
             "UDP datagrams received and not echoed, per listener and reason", MetricType::Counter);
  MetricFamily kernel = family(
      "echod_udp_socket_drops_total",
      "UDP datagrams the kernel dropped before echod read them (receive queue full), per listener",
      MetricType::Counter);
  for (const UdpListenerView& view : udp_listeners_) {
    const udp::ListenerStats& stats = *view.stats;
    const std::vector<ClientMetric::Label> labels{{"listener", view.name}};
    add_sample(received, static_cast<double>(stats.received.load(kRelaxed)), labels);
    add_sample(sent, static_cast<double>(stats.sent.load(kRelaxed)), labels);
    add_sample(received_bytes, static_cast<double>(stats.received_bytes.load(kRelaxed)), labels);
    add_sample(sent_bytes, static_cast<double>(stats.sent_bytes.load(kRelaxed)), labels);
    add_sample(kernel, static_cast<double>(stats.kernel_drops.load(kRelaxed)), labels);
    for (const udp::DropReasonInfo& reason : udp::kDropReasons) {
      add_sample(
          dropped,
          static_cast<double>(stats.drops[static_cast<std::size_t>(reason.reason)].load(kRelaxed)),
          {{"listener", view.name}, {"reason", std::string(reason.label)}});
    }
  }
  families.push_back(std::move(received));
  families.push_back(std::move(sent));
  families.push_back(std::move(received_bytes));
  families.push_back(std::move(sent_bytes));
  families.push_back(std::move(dropped));
  families.push_back(std::move(kernel));
  families.push_back(gauge("echod_udp_source_table_entries",
                           "UDP sources tracked by the rate limits now (fixed-size table)",
                           udp_rates_ != nullptr ? static_cast<double>(udp_rates_->size()) : 0));
  families.push_back(
      gauge("echod_udp_source_table_capacity", "UDP sources the rate-limit table can track at most",
            udp_rates_ != nullptr ? static_cast<double>(udp_rates_->capacity()) : 0));
  families.push_back(counter("echod_udp_source_table_evictions_total",
                             "UDP sources pushed out of the full rate-limit table for another",
                             udp_rates_ != nullptr ? udp_rates_->evictions() : 0));
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  MutexLock lock(mutex_);
  std::vector<MetricFamily> families;

  MetricFamily build = family(
      "echod_build_info", "Version and commit of the running echod; always 1", MetricType::Gauge);
  add_sample(build, 1, {{"version", build_info::kVersion}, {"commit", build_info::kCommit}});
  families.push_back(std::move(build));
  families.push_back(gauge("echod_start_time_seconds", "When echod started, in Unix time",
                           seconds_since_epoch(facts_.started)));
  families.push_back(
      gauge("echod_config_generation",
            "Configuration generation in force: 1 at start, +1 per successful reload",
            static_cast<double>(facts_.generation)));
  families.push_back(gauge("echod_config_load_timestamp_seconds",
                           "When the configuration in force was loaded, in Unix time",
                           seconds_since_epoch(facts_.config_loaded)));
  families.push_back(
      gauge("echod_config_last_reload_successful",
            "1 if the last reload succeeded (or none was tried), 0 if it failed and the previous "
            "configuration is still in force",
            facts_.last_reload_ok ? 1 : 0));
  families.push_back(gauge("echod_config_last_reload_timestamp_seconds",
                           "When the last reload was tried (or echod started), in Unix time",
                           seconds_since_epoch(facts_.last_reload)));
  MetricFamily reloads =
      family("echod_reloads_total", "Configuration reloads by result", MetricType::Counter);
  add_sample(reloads, static_cast<double>(facts_.reloads_ok), {{"result", "ok"}});
  add_sample(reloads, static_cast<double>(facts_.reloads_failed), {{"result", "failed"}});
  families.push_back(std::move(reloads));
  families.push_back(gauge("echod_workers", "Worker threads serving (retiring ones not counted)",
                           static_cast<double>(facts_.workers)));
  families.push_back(gauge("echod_listeners", "Listen addresses accepting connections",
                           static_cast<double>(facts_.listeners)));
  families.push_back(
      gauge("echod_max_connections",
            "Open connections admitted at most: limits.max_connections, or less if the open-file "
            "limit allows fewer",
            static_cast<double>(facts_.max_connections)));

  MetricFamily open =
      family("echod_connections_open", "Open client connections, per worker", MetricType::Gauge);
  MetricFamily responsive = family(
      "echod_worker_responsive",
      "1 while the worker answers the supervisor's liveness ping, 0 when it missed one: stuck",
      MetricType::Gauge);
  WorkerTotals totals = retired_;
  for (const WorkerView& worker : workers_) {
    std::string index = std::to_string(worker.index);
    add_sample(open,
               static_cast<double>(worker.status->connections.load(std::memory_order_relaxed)),
               {{"worker", index}});
    add_sample(responsive, worker.responsive ? 1 : 0, {{"worker", std::move(index)}});
    totals.add(*worker.status);
  }
  families.push_back(std::move(open));
  families.push_back(std::move(responsive));
  families.push_back(counter("echod_connections_accepted_total",
                             "Client connections accepted and admitted", totals.accepted));
  families.push_back(counter("echod_connections_handed_over_total",
                             "Open connections moved from one worker to another (a retiring "
                             "worker's, or after a growth)",
                             totals.handed_over));
  // Index 0 (CloseReason::kNone) is not a way to close.
  families.push_back(labelled_counter("echod_connections_closed_total",
                                      "Client connections closed, by reason", "reason",
                                      kCloseReasonLabels, totals.closed_by_reason, 1));
  families.push_back(labelled_counter("echod_connections_rejected_total",
                                      "Connections refused right after accept, by limit", "reason",
                                      kRejectReasonLabels, totals.rejected_by_reason));
  families.push_back(
      counter("echod_received_bytes_total", "Bytes received from clients", totals.bytes_received));
  families.push_back(
      counter("echod_sent_bytes_total", "Bytes echoed back to clients", totals.bytes_sent));
  families.push_back(labelled_counter("echod_accept_errors_total",
                                      "accept() failures, by errno class", "class",
                                      kAcceptErrorLabels, totals.accept_errors));
  families.push_back(counter("echod_accept_pauses_total",
                             "Accept pauses after running out of file descriptors or memory",
                             totals.accept_pauses));
  families.push_back(labelled_counter(
      "echod_proxy_headers_total",
      "PROXY protocol headers accepted, by kind (v1, v2, local: no client address)", "kind",
      kProxyHeaderKindLabels, totals.proxy_headers));
  families.push_back(labelled_counter("echod_proxy_rejected_total",
                                      "Connections to PROXY listeners closed before their header "
                                      "was accepted, by reason",
                                      "reason", kProxyRejectLabels, totals.proxy_rejected));
  collect_udp(families);
  return families;
}

}  // namespace echod
