#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace echod {

// A snapshot of the running daemon, as the control socket reports it (`echod --status`).
struct DaemonStatus {
  struct Worker {
    unsigned index = 0;
    std::uint64_t connections = 0;
    std::uint64_t accepted = 0;
    std::uint64_t closed = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
  };

  // One UDP listener's counters (the metrics' echod_udp_* series for its `listener` label).
  struct UdpListener {
    std::string address;
    std::uint64_t received = 0;
    std::uint64_t sent = 0;
    std::uint64_t received_bytes = 0;
    std::uint64_t sent_bytes = 0;
    std::uint64_t kernel_drops = 0;                          // receive queue full (SO_RXQ_OVFL)
    std::map<std::string, std::uint64_t> dropped_by_reason;  // only reasons that occurred

    [[nodiscard]] std::uint64_t dropped() const;
  };

  std::string version;
  std::string commit;
  long pid = 0;
  double uptime_seconds = 0;
  std::string config_file;
  std::uint64_t generation = 0;
  std::string last_reload_result;  // "none", "ok" or "failed"
  std::string last_reload_time;    // ISO 8601 UTC; empty when none
  std::vector<std::string> last_reload_errors;
  std::vector<std::string> listeners;  // TCP
  std::vector<Worker> workers;
  std::uint64_t rejected = 0;
  // Totals over the workers, by the labels of the metrics (worker/worker_status.hpp); only
  // reasons that occurred are listed.
  std::map<std::string, std::uint64_t> rejected_by_reason;
  // The client refused last for each reason, when one is known (by the labels above).
  std::map<std::string, std::string> last_refused_by_reason;
  std::map<std::string, std::uint64_t> closed_by_reason;
  // PROXY listeners: headers accepted by kind, connections closed before one by reason.
  std::map<std::string, std::uint64_t> proxy_headers;
  std::map<std::string, std::uint64_t> proxy_rejected_by_reason;
  // The client addresses with the most open connections (at most kTopClients), as the
  // per-address limits count them: the client a PROXY header named, never the balancer.
  struct ClientConnections {
    std::string address;
    std::uint64_t connections = 0;
  };
  static constexpr std::size_t kTopClients = 10;
  std::vector<ClientConnections> top_clients;
  std::string metrics;            // the metrics endpoint's address; empty when off
  std::vector<UdpListener> udp;   // empty when UDP is off
  std::uint64_t udp_sources = 0;  // tracked by the rate-limit table
  std::uint64_t udp_source_evictions = 0;
};

// The outcome of a reload asked for over the control socket.
struct ReloadOutcome {
  bool ok = false;
  std::uint64_t generation = 0;       // the generation in force afterwards
  std::vector<std::string> messages;  // the changes applied, or every error found
};

std::string to_json(const DaemonStatus& status);
std::string to_json(const ReloadOutcome& outcome);

// For the command-line side: parse what the daemon sent. Throw std::runtime_error on a reply
// that is not what the daemon sends.
DaemonStatus status_from_json(const std::string& text);
ReloadOutcome reload_outcome_from_json(const std::string& text);

// `echod --status` without --json.
std::string format_status(const DaemonStatus& status);

}  // namespace echod
