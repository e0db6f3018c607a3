#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "cli/command_line.hpp"
#include "config/config.hpp"
#include "control/control_socket.hpp"
#include "control/daemon_status.hpp"
#include "event/wakeup_event.hpp"
#include "log/log_limiter.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/metrics_server.hpp"
#include "supervisor/environment.hpp"
#include "supervisor/listener_registry.hpp"
#include "supervisor/signal_set.hpp"
#include "supervisor/startup_error.hpp"
#include "supervisor/systemd_notifier.hpp"
#include "udp/rate_table.hpp"
#include "worker/worker.hpp"

namespace echod {

// The main thread: starts the workers, then waits on the signalfd, the workers' wakeups and the
// watchdog/status timer, and runs the reload and stop sequences. It is the only thread that
// talks to systemd, reads configuration or changes what the workers do (through their
// command queues).
//
// Listener groups and worker order: every listener is one group in the ListenerRegistry, an
// SO_REUSEPORT group with one socket per serving worker, and serving worker i always owns the
// socket at index i of every group (the kernel's order: see ListenSocket::steer_to_first). Groups
// are filled in worker order, new workers are appended, and only the last workers retire; while
// retiring sockets are still open no socket joins (a growth waits for them), so the invariant
// holds.
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

  // Without the watchdog, how often a worker that does not answer is logged again.
  static constexpr auto kSilenceLogInterval = std::chrono::minutes(1);

  struct WorkerSlot {
    std::unique_ptr<Worker> worker;
    // Liveness (on_tick): the last Ping posted to it, and when.
    std::uint64_t ping = 0;
    Clock::time_point pinged{};
    bool responsive = true;                       // answered the Ping of the tick before
    LogLimiter silence_log{kSilenceLogInterval};  // "has not answered" without the watchdog
    Clock::time_point retire_deadline{};
    bool stop_sent = false;
  };

  // A command posted to one worker: done once the worker's processed_commands reaches `sequence`.
  struct Posted {
    const Worker* worker;
    std::uint64_t sequence;
  };

  // What a growth in `workers:` needs, built before anything changes: for each new worker, its
  // socket in every group that stays.
  struct Growth {
    std::vector<std::unique_ptr<Worker>> workers;  // made, given their sockets, not started
    bool steered = false;  // the first worker steers new connections away from their sockets
  };

  // Lifecycle, reload and the helpers they share (supervisor.cpp).
  void start();
  void open_control_socket();
  void adopt_inherited_listeners();
  std::unique_ptr<Worker> make_worker(const WorkerSettings& settings);
  // Registers a listener whose sockets (one per serving worker) are open, and gives each
  // worker its socket.
  std::vector<Posted> hand_out(const ListenerConfig& configured, std::vector<ListenSocket> sockets,
                               std::optional<ListenSocket> inherited = std::nullopt);
  void serve(SignalSet& signals);
  ReloadOutcome reload();
  void stop(SignalSet& signals);
  [[nodiscard]] bool any_worker_failed() const;
  // Every worker thread still running: serving, then retiring.
  [[nodiscard]] std::vector<Worker*> all_workers() const;
  // Posts a command to every worker (serving and retiring).
  std::vector<Posted> post_all(const std::function<WorkerCommand()>& make);
  // Waits (on worker wakeups only) until every worker processed the given commands.
  bool wait_processed(const std::vector<Posted>& posted, Clock::duration timeout);
  bool wait_for(const std::function<bool()>& condition, Clock::duration timeout);
  void apply_admission_limits(const LimitsConfig& limits);

  // The tick (liveness.cpp).
  void on_tick();
  // Checks that every worker answered the Ping posted one tick ago, posts the next one to those
  // that did, logs and publishes the changes. True when every worker answered.
  bool check_liveness();
  [[nodiscard]] Clock::duration tick_interval() const;

  // UDP echo (udp_listeners.cpp).
  // Opens one socket per worker for each UDP listener. Throws StartupError.
  static std::vector<std::vector<UdpSocket>> open_udp(const std::vector<ListenerConfig>& listeners,
                                                      unsigned workers);
  // Registers a UDP listener whose sockets are open, and gives each serving worker its socket.
  std::vector<Posted> hand_out_udp(const ListenerConfig& configured,
                                   std::vector<UdpSocket> sockets);
  // Builds what the UDP sockets run with from `config` and the ports echod serves UDP on, and
  // sends it to every worker (before any socket of a new listener). Sets the rate limits.
  std::vector<Posted> apply_udp_settings(const UdpConfig& config,
                                         const std::vector<std::uint16_t>& own_ports);
  // The UDP ports served once `removed` listeners are gone and the `opened` groups are added.
  [[nodiscard]] std::vector<std::uint16_t> udp_ports_after(
      const std::vector<ListenerConfig>& removed,
      const std::vector<std::vector<UdpSocket>>& opened) const;
  void publish_metrics_udp();

  // Status and metrics (status_publishing.cpp).
  // Opens the metrics endpoint, or throws StartupError naming the address.
  [[nodiscard]] std::unique_ptr<MetricsServer> open_metrics(const MetricsConfig& metrics) const;
  void use_metrics_server(std::unique_ptr<MetricsServer> server);
  void publish_metrics_facts();
  // Tells the metrics which workers to read: every worker, serving or retiring.
  void publish_metrics_workers();
  void answer_control_request();
  [[nodiscard]] DaemonStatus daemon_status() const;
  [[nodiscard]] std::string status_text() const;
  [[nodiscard]] std::uint64_t live_connections() const;
  // The counters of every worker there has been: the running ones and those that have left.
  [[nodiscard]] WorkerTotals totals() const;

  // Worker count changes (resize.cpp).
  // Waits for retiring listeners to close, steers new connections to the serving sockets, and
  // makes the new workers (not started) with their sockets (none for the `removed` listeners).
  // Throws StartupError; abandon_growth() then undoes what was done.
  void prepare_growth(unsigned target, const std::vector<ListenerConfig>& removed,
                      const WorkerSettings& settings, Growth& growth);
  // Undoes prepare_growth() when the reload is rejected later.
  void abandon_growth(Growth& growth);
  // Starts the new workers, then lets every socket take new connections. A worker that cannot
  // start is logged and left out, with those after it, so the serving sockets stay in order.
  std::vector<Posted> grow(Growth growth);
  // Tells the old workers to hand connections over to the `added` last ones, so that each keeps
  // its fair share; the commands go into `posted`.
  void rebalance(std::size_t added, std::vector<Posted>& posted);
  // Steers new connections away from the last workers, then retires them.
  std::vector<Posted> shrink(unsigned target, std::chrono::milliseconds shutdown_timeout);
  // Joins the retired workers that have finished; stops the ones past their deadline.
  void reap_retired();
  void log_tcp_migrate_req() const;

  // Test builds only (test_hooks.cpp): "test-wedge <worker position> <milliseconds>" blocks
  // that worker, "test-unwedge <worker position>" ends the block early.
  std::string answer_test_hook(const std::string& command);

  CommandLine command_line_;
  Config config_;
  SystemdNotifier notifier_;
  std::chrono::microseconds watchdog_interval_{0};  // 0: no watchdog
  WakeupEvent wakeup_;                              // workers -> supervisor
  Admission admission_;  // shared by the workers; declared first so that it outlives them
  // The UDP rate table, shared by the workers like admission_; made when UDP is first enabled.
  std::unique_ptr<udp::RateTable> udp_rates_;
  std::shared_ptr<const UdpEchoSettings> udp_settings_;  // what new workers get first
  std::vector<WorkerSlot> workers_;                      // serving, in socket order (see above)
  std::vector<WorkerSlot> retiring_;  // leaving after a decrease of `workers:`, in order
  std::vector<Posted> rebalancing_;   // Rebalance commands not processed yet (see reap_retired)
  bool shrink_steered_ = false;       // a shrink's steering is on until its workers are gone
  unsigned next_worker_index_ = 0;
  // Declared after workers_ and retiring_: the endpoint reads their counters, so it must stop
  // first.
  std::shared_ptr<MetricsCollector> metrics_ = std::make_shared<MetricsCollector>();
  std::unique_ptr<MetricsServer> metrics_server_;
  ListenerRegistry listeners_;
  unsigned inherited_listeners_ = 0;  // socket activation: the fds systemd passed
  std::uint64_t generation_ = 1;
  std::string status_prefix_;  // e.g. after a failed reload
  std::string last_status_;
  std::optional<ControlSocket> control_;
  const Clock::time_point started_ = Clock::now();
  const std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point config_loaded_ = started_wall_;
  std::chrono::system_clock::time_point last_reload_attempt_ = started_wall_;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::string last_reload_result_ = "none";
  std::string last_reload_time_;
  std::vector<std::string> last_reload_errors_;
};

}  // namespace echod
