// What the supervisor tells about the daemon: the systemd status line, `echod --status` (over
// the control socket) and the metrics endpoint's facts and worker list.
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include <spdlog/spdlog.h>

#include "build_info.hpp"
#include "supervisor/supervisor.hpp"

namespace echod {

std::unique_ptr<MetricsServer> Supervisor::open_metrics(const MetricsConfig& metrics) const {
  try {
    return std::make_unique<MetricsServer>(metrics.listen, metrics_);
  } catch (const std::system_error& e) {
    std::string hint = e.code().value() == EADDRINUSE
                           ? "another process is using this address; choose another port"
                           : "check the address";
    throw StartupError("cannot serve metrics on " + metrics.listen.to_string() + ": " + e.what() +
                       "; " + hint + " in 'metrics.listen'");
  }
}

void Supervisor::use_metrics_server(std::unique_ptr<MetricsServer> server) {
  metrics_server_ = std::move(server);
  if (!metrics_server_) return;
  const SocketAddress& address = metrics_server_->address();
  if (address.is_wildcard()) {
    spdlog::warn(
        "serving metrics on {}, a wildcard address: anyone who can reach this host can read "
        "them; use a loopback address in 'metrics.listen' unless that is intended",
        address.to_string());
  }
  spdlog::info("serving metrics on http://{}/metrics", address.to_string());
}

void Supervisor::publish_metrics_facts() {
  DaemonFacts facts;
  facts.generation = generation_;
  facts.config_loaded = config_loaded_;
  facts.started = started_wall_;
  facts.last_reload = last_reload_attempt_;
  facts.last_reload_ok = last_reload_result_ != "failed";
  facts.reloads_ok = reloads_ok_;
  facts.reloads_failed = reloads_failed_;
  facts.listeners = listeners_.size() - listeners_.udp_ports().size();  // TCP ones
  facts.workers = workers_.size();
  facts.max_connections = config_.limits.max_connections;
  metrics_->publish(facts);
}

void Supervisor::publish_metrics_workers() {
  std::vector<MetricsCollector::WorkerView> views;
  for (const auto* list : {&workers_, &retiring_}) {
    for (const WorkerSlot& slot : *list) {
      views.push_back({slot.worker->index(), &slot.worker->status(), slot.responsive});
    }
  }
  metrics_->set_workers(std::move(views));
}

void Supervisor::answer_control_request() {
  auto request = control_->accept_request();
  if (!request) return;
  if (request->command == "status") {
    ControlSocket::reply(*request, to_json(daemon_status()));
  } else if (request->command == "reload") {
    ControlSocket::reply(*request, to_json(reload()));
  } else if (build_info::kTestHooks && request->command.starts_with("test-")) {
    ControlSocket::reply(*request, answer_test_hook(request->command));
  } else {
    ControlSocket::reply(*request, "{\"error\": \"unknown command\"}\n");
  }
}

DaemonStatus Supervisor::daemon_status() const {
  DaemonStatus status;
  status.version = build_info::kVersion;
  status.commit = build_info::kCommit;
  status.pid = ::getpid();
  status.uptime_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  status.config_file = command_line_.config_path;
  status.generation = generation_;
  status.last_reload_result = last_reload_result_;
  status.last_reload_time = last_reload_time_;
  status.last_reload_errors = last_reload_errors_;
  for (const ListenerRegistry::Group& group : listeners_.groups()) {
    if (!group.udp_stats) {
      status.listeners.push_back(group.bound.to_string());
      continue;
    }
    constexpr auto kRelaxed = std::memory_order_relaxed;
    const udp::ListenerStats& stats = *group.udp_stats;
    DaemonStatus::UdpListener udp;
    udp.address = group.bound.to_string();
    udp.received = stats.received.load(kRelaxed);
    udp.sent = stats.sent.load(kRelaxed);
    udp.received_bytes = stats.received_bytes.load(kRelaxed);
    udp.sent_bytes = stats.sent_bytes.load(kRelaxed);
    udp.kernel_drops = stats.kernel_drops.load(kRelaxed);
    for (const udp::DropReasonInfo& reason : udp::kDropReasons) {
      if (auto n = stats.drops[static_cast<std::size_t>(reason.reason)].load(kRelaxed); n > 0) {
        udp.dropped_by_reason[std::string(reason.label)] = n;
      }
    }
    status.udp.push_back(std::move(udp));
  }
  if (udp_rates_) {
    status.udp_sources = udp_rates_->size();
    status.udp_source_evictions = udp_rates_->evictions();
  }
  for (const Worker* worker : all_workers()) {
    const WorkerStatus& w = worker->status();
    status.workers.push_back({worker->index(), w.connections.load(), w.accepted_total.load(),
                              w.closed_total.load(), w.bytes_received.load(), w.bytes_sent.load()});
  }
  WorkerTotals totals = this->totals();
  status.rejected = totals.rejected();
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    if (std::uint64_t count = totals.rejected_by_reason[i]; count > 0) {
      status.rejected_by_reason[std::string(kRejectReasonLabels[i])] = count;
    }
  }
  for (std::size_t i = 1; i < kCloseReasonCount; ++i) {
    if (std::uint64_t count = totals.closed_by_reason[i]; count > 0) {
      status.closed_by_reason[std::string(kCloseReasonLabels[i])] = count;
    }
  }
  for (std::size_t i = 0; i < kProxyHeaderKindCount; ++i) {
    if (std::uint64_t count = totals.proxy_headers.at(i); count > 0) {
      status.proxy_headers[std::string(kProxyHeaderKindLabels.at(i))] = count;
    }
  }
  for (std::size_t i = 0; i < kProxyRejectCount; ++i) {
    if (std::uint64_t count = totals.proxy_rejected.at(i); count > 0) {
      status.proxy_rejected_by_reason[std::string(kProxyRejectLabels.at(i))] = count;
    }
  }
  const Admission::LastRefused last_refused = admission_.last_refused();
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    const std::string label(kRejectReasonLabels[i]);
    if (last_refused.at(i) && status.rejected_by_reason.contains(label)) {
      status.last_refused_by_reason[label] = last_refused.at(i)->to_string();
    }
  }
  for (const Admission::ClientCount& c : admission_.top_clients(DaemonStatus::kTopClients)) {
    status.top_clients.push_back({c.client.to_string(), c.connections});
  }
  if (metrics_server_) status.metrics = metrics_server_->address().to_string();
  return status;
}

std::uint64_t Supervisor::live_connections() const {
  std::uint64_t total = 0;
  for (const Worker* worker : all_workers()) total += worker->status().connections.load();
  return total;
}

WorkerTotals Supervisor::totals() const {
  WorkerTotals totals = metrics_->retired_totals();
  for (const Worker* worker : all_workers()) totals.add(worker->status());
  return totals;
}

std::string Supervisor::status_text() const {
  const std::string addresses = listeners_.bound_addresses();
  WorkerTotals totals = this->totals();
  // Kept to one line for `systemctl status`; `echod --status` has the rest.
  std::string text =
      status_prefix_ + "Serving " + addresses + " with " + std::to_string(workers_.size()) +
      " workers; " + std::to_string(live_connections()) + " connections (" +
      std::to_string(totals.accepted) + " accepted, " + std::to_string(totals.rejected()) +
      " refused); generation " + std::to_string(generation_);
  const std::string udp = listeners_.udp_addresses();
  if (udp.empty()) return text;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  std::uint64_t dropped = 0;
  for (const ListenerRegistry::Group& group : listeners_.groups()) {
    if (!group.udp_stats) continue;
    received += group.udp_stats->received.load(std::memory_order_relaxed);
    sent += group.udp_stats->sent.load(std::memory_order_relaxed);
    dropped += group.udp_stats->dropped();
  }
  return text + "; UDP " + udp + ": " + std::to_string(received) + " datagrams received, " +
         std::to_string(sent) + " echoed, " + std::to_string(dropped) + " dropped";
}

}  // namespace echod
