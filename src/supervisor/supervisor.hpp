#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "cli/command_line.hpp"
#include "config/config.hpp"
#include "control/control_socket.hpp"
#include "control/daemon_status.hpp"
#include "event/wakeup_event.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/metrics_server.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/signal_set.hpp"
#include "supervisor/systemd_notifier.hpp"
#include "worker/worker.hpp"

namespace echod {

// The daemon could not start (before READY=1). what() is the operator-facing message: what
// failed, the errno text, and what to do about it.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The main thread: starts the workers, then waits on the signalfd, the workers' wakeups and the
// watchdog/status timer, and runs the reload and stop sequences. It is the only thread that
// talks to systemd, reads configuration or changes what the workers do (through their
// command queues).
class Supervisor {
 public:
  Supervisor(CommandLine command_line, Config config, const SystemdEnvironment& systemd);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();

  // Serves until stopped by a signal. Returns the process exit code. Throws StartupError when
  // the listeners or workers cannot be started.
  int run(SignalSet& signals);

 private:
  using Clock = std::chrono::steady_clock;

  struct ListenerGroup {
    std::uint32_t id = 0;
    SocketAddress configured;  // as written in the configuration (port may be 0)
    SocketAddress bound;       // with the port the kernel gave
  };

  void start();
  void open_control_socket();
  // Opens the metrics endpoint, or throws StartupError naming the address.
  [[nodiscard]] std::unique_ptr<MetricsServer> open_metrics(const MetricsConfig& metrics) const;
  void use_metrics_server(std::unique_ptr<MetricsServer> server);
  void publish_metrics_facts();
  void adopt_inherited_listeners();
  // Registers a listen address whose sockets (one per worker) are open, and gives each worker
  // its socket. Returns each worker's command sequence number.
  std::vector<std::uint64_t> hand_out(const SocketAddress& configured,
                                      std::vector<ListenSocket> sockets);
  void serve(SignalSet& signals);
  ReloadOutcome reload();
  void answer_control_request();
  [[nodiscard]] DaemonStatus daemon_status() const;
  void stop(SignalSet& signals);
  void on_tick();
  [[nodiscard]] bool any_worker_failed() const;
  // Posts a command to every worker; returns each one's sequence number.
  std::vector<std::uint64_t> post_all(const std::function<WorkerCommand()>& make);
  // Waits (on worker wakeups only) until every worker processed the given commands.
  bool wait_processed(const std::vector<std::uint64_t>& sequences, Clock::duration timeout);
  bool wait_for(const std::function<bool()>& condition, Clock::duration timeout);
  [[nodiscard]] std::string status_text() const;
  [[nodiscard]] std::uint64_t live_connections() const;
  [[nodiscard]] Clock::duration tick_interval() const;
  // Lowers limits.max_connections to what the open-file limit allows (with a warning).
  void clamp_to_fd_limit(LimitsConfig& limits) const;
  void apply_admission_limits(const LimitsConfig& limits);

  CommandLine command_line_;
  Config config_;
  SystemdNotifier notifier_;
  std::chrono::microseconds watchdog_interval_{0};  // 0: no watchdog
  WakeupEvent wakeup_;                              // workers -> supervisor
  Admission admission_;  // shared by the workers; declared first so that it outlives them
  std::vector<std::unique_ptr<Worker>> workers_;
  // Declared after workers_: the endpoint reads their counters, so it must stop first.
  std::shared_ptr<MetricsCollector> metrics_ = std::make_shared<MetricsCollector>();
  std::unique_ptr<MetricsServer> metrics_server_;
  std::vector<ListenerGroup> listeners_;
  std::uint32_t next_listener_id_ = 1;
  unsigned inherited_listeners_ = 0;  // socket activation: the fds systemd passed
  std::uint64_t generation_ = 1;
  std::string status_prefix_;         // e.g. after a failed reload
  std::vector<std::uint64_t> pings_;  // watchdog: the last Ping sent to each worker
  std::string last_status_;
  std::optional<ControlSocket> control_;
  const Clock::time_point started_ = Clock::now();
  const std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point config_loaded_ = started_wall_;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::string last_reload_result_ = "none";
  std::string last_reload_time_;
  std::vector<std::string> last_reload_errors_;
};

}  // namespace echod
