#include "supervisor/supervisor.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/config_diff.hpp"
#include "config/config_loader.hpp"
#include "log/log_event.hpp"
#include "log/logging.hpp"
#include "supervisor/fd_limit.hpp"

namespace echod {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kReloadAckTimeout = std::chrono::seconds(5);
// After the drain deadline, how long workers get to close what is left before Stop.
constexpr auto kStopGrace = std::chrono::seconds(2);

int poll_ms(std::chrono::steady_clock::duration timeout) {
  if (timeout <= std::chrono::steady_clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
}

std::chrono::microseconds parse_watchdog(const std::optional<std::string>& usec) {
  if (!usec) return std::chrono::microseconds(0);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(usec->data(), usec->data() + usec->size(), value);
  if (ec != std::errc() || end != usec->data() + usec->size() || value == 0) {
    spdlog::warn("ignoring WATCHDOG_USEC='{}': not a positive number", *usec);
    return std::chrono::microseconds(0);
  }
  return std::chrono::microseconds(value);
}

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  if (std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc) == 0) return {};
  return text;
}

}  // namespace

void Supervisor::apply_admission_limits(const LimitsConfig& limits) {
  Admission::Limits admission;
  admission.max_connections = limits.max_connections;
  admission.max_connections_per_peer = limits.max_connections_per_ip;
  admission.accept_rate_per_peer = limits.accept_rate_per_ip;
  admission.accept_burst_per_peer = limits.accept_burst_per_ip;
  admission_.set_limits(admission);
}

Supervisor::Supervisor(CommandLine command_line, Config config, const SystemdEnvironment& systemd)
    : command_line_(std::move(command_line)),
      config_(std::move(config)),
      notifier_(systemd.notify_socket),
      watchdog_interval_(parse_watchdog(systemd.watchdog_usec)),
      inherited_listeners_(systemd.listen_fds) {}

Supervisor::~Supervisor() {
  // Only reached early on a startup failure: workers that did start are told to stop now.
  for (Worker* worker : all_workers()) worker->post(Stop{});
  for (Worker* worker : all_workers()) worker->join();
}

int Supervisor::run(SignalSet& signals) {
  start();
  serve(signals);
  return any_worker_failed() ? 1 : 0;
}

void Supervisor::start() {
  unsigned count = config_.workers.resolve();
  raise_fd_limit();
  clamp_to_fd_limit(config_, 0);
  apply_admission_limits(config_.limits);
  WorkerSettings settings{config_.limits};
  for (unsigned i = 0; i < count; ++i) workers_.push_back(WorkerSlot{make_worker(settings)});
  // Every socket is open before any worker starts: a bad address fails here, before READY=1.
  std::vector<std::vector<UdpSocket>> udp_groups = open_udp(config_.udp.listen, count);
  if (inherited_listeners_ > 0) {
    adopt_inherited_listeners();
  } else {
    std::vector<std::vector<ListenSocket>> groups;
    for (const ListenerConfig& listener : config_.listen) {
      groups.push_back(ListenerRegistry::open(listener, count));
    }
    for (std::size_t i = 0; i < groups.size(); ++i) {
      hand_out(config_.listen[i], std::move(groups[i]));
    }
  }
  if (config_.udp.enabled()) apply_udp_settings(config_.udp, udp_ports_after({}, udp_groups));
  for (std::size_t i = 0; i < udp_groups.size(); ++i) {
    hand_out_udp(config_.udp.listen[i], std::move(udp_groups[i]));
  }

  for (WorkerSlot& slot : workers_) slot.worker->start();
  bool started = wait_for(
      [this] {
        return any_worker_failed() ||
               std::all_of(workers_.begin(), workers_.end(),
                           [](const WorkerSlot& w) { return w.worker->status().running.load(); });
      },
      kStartTimeout);
  if (!started || any_worker_failed()) {
    throw StartupError("the worker threads did not start (see the errors above)");
  }
  log_tcp_migrate_req();
  publish_metrics_workers();
  publish_metrics_udp();
  publish_metrics_facts();
  if (config_.metrics.enabled) use_metrics_server(open_metrics(config_.metrics));
  open_control_socket();
  log_event(LogEvent::kReady, spdlog::level::info, LogEventFields::of_generation(generation_),
            fmt::format("ready: {} worker(s), configuration generation {}", workers_.size(),
                        generation_));
  last_status_ = status_text();
  notifier_.ready(last_status_);
}

// Socket activation: serve the sockets systemd passed (fds 3, 4, ...) instead of binding. Every
// worker gets its own duplicate of each; `listen:` in the file is not used.
void Supervisor::adopt_inherited_listeners() {
  constexpr int kFirstPassedFd = 3;  // SD_LISTEN_FDS_START
  std::vector<ListenerConfig> listeners;
  for (unsigned i = 0; i < inherited_listeners_; ++i) {
    ListenSocket socket = [&] {
      try {
        return ListenSocket::adopt(UniqueFd(kFirstPassedFd + static_cast<int>(i)));
      } catch (const std::system_error& e) {
        throw StartupError(std::string(e.what()) + "; check ListenStream= in echod.socket");
      }
    }();
    std::vector<ListenSocket> copies;
    for (std::size_t w = 0; w < workers_.size(); ++w) copies.push_back(socket.duplicate());
    spdlog::info("socket activation: serving {} passed by systemd", socket.address().to_string());
    listeners.push_back(ListenerConfig::tcp(socket.address()));
    hand_out(listeners.back(), std::move(copies), std::move(socket));
  }
  if (listeners != config_.listen) {
    spdlog::info("socket activation: 'listen:' in the configuration is not used");
  }
  if (std::any_of(config_.listen.begin(), config_.listen.end(),
                  [](const ListenerConfig& listener) { return listener.options.proxy(); })) {
    // The passed sockets are plain listeners: a balancer's headers are echoed as data, and its
    // address is the client. Never the other way round: nothing here trusts a header.
    spdlog::warn(
        "socket activation: the PROXY listeners in 'listen:' are not used; the sockets systemd "
        "passed are plain listeners (run echod without echod.socket to serve PROXY listeners)");
  }
  config_.listen = listeners;
}

void Supervisor::open_control_socket() {
  const std::string& path = command_line_.control_socket;
  if (path.empty() || path == "none") return;
  try {
    control_.emplace(path);
    spdlog::info("control socket {} (echod --status, echod --reload)", path);
  } catch (const std::system_error& e) {
    spdlog::warn(
        "no control socket: {}; echod --status and echod --reload will not reach this "
        "daemon (SIGHUP still reloads)",
        e.what());
  }
}

std::unique_ptr<Worker> Supervisor::make_worker(const WorkerSettings& settings) {
  auto worker = std::make_unique<Worker>(next_worker_index_++, settings, admission_, wakeup_);
  if (udp_settings_) worker->post(ApplyUdpSettings{udp_settings_});
  return worker;
}

std::vector<Supervisor::Posted> Supervisor::hand_out(const ListenerConfig& configured,
                                                     std::vector<ListenSocket> sockets,
                                                     std::optional<ListenSocket> inherited) {
  const std::uint32_t id =
      listeners_.add(configured, sockets.front().address(), sockets.size(), std::move(inherited))
          .id;
  std::vector<Posted> posted;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker& worker = *workers_[i].worker;
    posted.push_back(
        {&worker, worker.post(AddListener{id, std::move(sockets[i]), configured.options})});
  }
  return posted;
}

void Supervisor::serve(SignalSet& signals) {
  auto next_tick = Clock::now() + tick_interval();
  for (;;) {
    std::array<pollfd, 3> fds{{{signals.fd(), POLLIN, 0},
                               {wakeup_.fd(), POLLIN, 0},
                               {control_ ? control_->fd() : -1, POLLIN, 0}}};
    int n = ::poll(fds.data(), fds.size(), poll_ms(next_tick - Clock::now()));
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    if ((fds[1].revents & POLLIN) != 0) wakeup_.drain();
    if ((fds[2].revents & POLLIN) != 0) answer_control_request();
    reap_retired();
    if (any_worker_failed()) {
      spdlog::critical("a worker stopped unexpectedly; stopping echod");
      stop(signals);
      return;
    }
    while (auto signal = signals.read()) {
      if (*signal == Signal::kStop) {
        stop(signals);
        return;
      }
      reload();
    }
    if (Clock::now() >= next_tick) {
      on_tick();
      next_tick = Clock::now() + tick_interval();
    }
  }
}

ReloadOutcome Supervisor::reload() {
  notifier_.reloading();
  spdlog::info("reloading configuration from {}", command_line_.config_path);
  last_reload_time_ = utc_now_iso8601();
  last_reload_attempt_ = std::chrono::system_clock::now();
  last_reload_errors_.clear();
  auto reject = [this](std::size_t error_count) {
    last_reload_result_ = "failed";
    ++reloads_failed_;
    publish_metrics_facts();
    log_event(LogEvent::kReloadFailed, spdlog::level::err,
              LogEventFields::of_generation(generation_),
              fmt::format("reload failed with {} error(s); still serving with the previous "
                          "configuration (generation {})",
                          error_count, generation_));
    status_prefix_ = "Reload failed (" + std::to_string(error_count) +
                     " errors, see journal); kept generation " + std::to_string(generation_) + ". ";
    last_status_ = status_text();
    notifier_.ready(last_status_);
    return ReloadOutcome{false, generation_, last_reload_errors_};
  };

  bool used_defaults = false;
  ConfigLoadResult result = load_effective_config(command_line_, used_defaults);
  if (!result.config) {
    for (const ConfigError& error : result.errors) {
      spdlog::error("{}", error.to_string());
      last_reload_errors_.push_back(error.to_string());
    }
    return reject(result.errors.size());
  }
  for (const ConfigError& warning : result.warnings) spdlog::warn("{}", warning.to_string());
  if (used_defaults) {
    spdlog::info("no configuration file at {}; using built-in defaults", command_line_.config_path);
  }
  Config next = std::move(*result.config);
  if (inherited_listeners_ > 0) next.listen = config_.listen;  // systemd owns the sockets
  clamp_to_fd_limit(next, workers_.size() + retiring_.size());
  ConfigChanges changes = diff_configs(config_, next);
  const auto current = static_cast<unsigned>(workers_.size());
  const unsigned target = next.workers.resolve();
  if (changes.log_target) {
    spdlog::warn("log.target: changing the log target needs a restart; keeping {}",
                 to_string(config_.log.target));
    next.log.target = config_.log.target;
  }

  // The metrics endpoint too: the new one is bound before the old one stops, so an address
  // that overlaps the running one is rejected (docs/configuration.md).
  std::unique_ptr<MetricsServer> metrics_server;
  if (changes.metrics && next.metrics.enabled && metrics_server_ &&
      metrics_server_->address() == next.metrics.listen) {
    changes.metrics = false;  // port 0 before, now the port it got: the same endpoint
  }
  if (changes.metrics && next.metrics.enabled) {
    try {
      metrics_server = open_metrics(next.metrics);
    } catch (const StartupError& e) {
      spdlog::error("{}", e.what());
      last_reload_errors_.emplace_back(e.what());
      return reject(1);
    }
  }

  // Build the new state first: if new workers' sockets or a new address cannot be opened,
  // nothing changes.
  Growth growth;
  std::vector<ListenerConfig> added_tcp;
  std::vector<ListenerConfig> added_udp;
  for (const ListenerConfig& listener : changes.added_listeners) {
    (listener.protocol == ListenProtocol::kUdp ? added_udp : added_tcp).push_back(listener);
  }
  std::vector<std::vector<ListenSocket>> opened;
  std::vector<std::vector<UdpSocket>> opened_udp;
  try {
    if (target > current) {
      prepare_growth(target, changes.removed_listeners, WorkerSettings{next.limits}, growth);
    }
    for (const ListenerConfig& listener : added_tcp) {
      opened.push_back(ListenerRegistry::open(listener, target));
    }
    opened_udp = open_udp(added_udp, target);
  } catch (const StartupError& e) {
    abandon_growth(growth);
    spdlog::error("{}", e.what());
    last_reload_errors_.emplace_back(e.what());
    return reject(1);
  }
  // Switch.
  std::vector<Posted> posted;
  auto track = [&posted](const std::vector<Posted>& more) {
    posted.insert(posted.end(), more.begin(), more.end());
  };
  if (changes.log_level) set_log_level(next.log.level);
  if (changes.limits) {
    apply_admission_limits(next.limits);
    track(post_all([&next] { return ApplySettings{{next.limits}}; }));
  }
  if (target > current) track(grow(std::move(growth)));
  if (target < current) track(shrink(target, next.shutdown_timeout));
  for (std::size_t i = 0; i < opened.size(); ++i) {
    track(hand_out(added_tcp[i], std::move(opened[i])));
  }
  // Before any new UDP socket: the guard then knows its port already.
  if (next.udp.enabled() || udp_settings_) {
    track(apply_udp_settings(next.udp, udp_ports_after(changes.removed_listeners, opened_udp)));
  }
  for (std::size_t i = 0; i < opened_udp.size(); ++i) {
    track(hand_out_udp(added_udp[i], std::move(opened_udp[i])));
  }
  for (const ConfigChanges::ChangedListener& changed : changes.changed_listeners) {
    if (auto id = listeners_.update(changed.before, changed.after)) {
      track(post_all([id = *id, &changed] { return UpdateListener{id, changed.after.options}; }));
    }
  }
  for (const ListenerConfig& listener : changes.removed_listeners) {
    if (auto id = listeners_.remove(listener)) {
      track(post_all([id = *id] { return RemoveListener{id}; }));
    }
  }
  if (changes.metrics) {
    if (!metrics_server) spdlog::info("metrics endpoint stopped");
    use_metrics_server(std::move(metrics_server));
  }
  std::vector<std::string> described = changes.describe(config_, next);
  if (target != current) {
    described.push_back("workers " + std::to_string(current) + " -> " + std::to_string(target));
  }
  if (described.empty()) described.emplace_back("no changes");
  config_ = std::move(next);
  ++generation_;
  ++reloads_ok_;
  last_reload_result_ = "ok";
  config_loaded_ = std::chrono::system_clock::now();
  if (target > current) publish_metrics_workers();
  publish_metrics_udp();
  publish_metrics_facts();
  if (!wait_processed(posted, kReloadAckTimeout)) {
    spdlog::warn("not every worker confirmed the new configuration within {} s",
                 std::chrono::seconds(kReloadAckTimeout).count());
  }
  std::string summary;
  for (const std::string& line : described) summary += (summary.empty() ? "" : ", ") + line;
  log_event(LogEvent::kReloadOk, spdlog::level::info, LogEventFields::of_generation(generation_),
            fmt::format("configuration reloaded (generation {}): {}", generation_, summary));
  status_prefix_.clear();
  reap_retired();  // the waits above may have taken the wakeup of a worker that finished
  last_status_ = status_text();
  notifier_.ready(last_status_);
  return ReloadOutcome{true, generation_, described};
}

void Supervisor::stop(SignalSet& signals) {
  notifier_.stopping();
  auto deadline = Clock::now() + config_.shutdown_timeout;
  log_event(LogEvent::kStopping, spdlog::level::info, {},
            fmt::format("stopping: finishing {} connection(s), for at most {}", live_connections(),
                        format_duration(config_.shutdown_timeout)));
  post_all([deadline] { return Drain{deadline}; });
  bool forced = false;
  auto all_finished = [this] {
    auto workers = all_workers();
    return std::all_of(workers.begin(), workers.end(),
                       [](const Worker* w) { return w->status().finished.load(); });
  };
  while (!all_finished()) {
    std::array<pollfd, 2> fds{{{signals.fd(), POLLIN, 0}, {wakeup_.fd(), POLLIN, 0}}};
    auto limit = forced ? Clock::now() + kStopGrace : deadline + kStopGrace;
    int n = ::poll(fds.data(), fds.size(), poll_ms(limit - Clock::now()));
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    if ((fds[1].revents & POLLIN) != 0) wakeup_.drain();
    while (auto signal = signals.read()) {
      if (*signal == Signal::kReload) {
        spdlog::info("ignoring reload request: stopping");
      } else if (!forced) {
        spdlog::warn("second stop signal: closing every connection now");
        post_all([] { return Stop{}; });
        forced = true;
      }
    }
    if (!forced && Clock::now() >= deadline + kStopGrace) {
      spdlog::warn(
          "workers still busy {} after the shutdown timeout; closing every connection",
          format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(kStopGrace)));
      post_all([] { return Stop{}; });
      forced = true;
    }
  }
  metrics_server_.reset();  // no scrape may read the workers' counters any more
  metrics_->set_workers({});
  for (Worker* worker : all_workers()) worker->join();
  std::uint64_t accepted = totals().accepted;
  workers_.clear();
  retiring_.clear();
  rebalancing_.clear();
  log_event(LogEvent::kStopped, spdlog::level::info, {},
            fmt::format("stopped after serving {} connection(s)", accepted));
}

bool Supervisor::any_worker_failed() const {
  auto workers = all_workers();
  return std::any_of(workers.begin(), workers.end(),
                     [](const Worker* w) { return w->status().failed.load(); });
}

std::vector<Worker*> Supervisor::all_workers() const {
  std::vector<Worker*> workers;
  for (const auto* list : {&workers_, &retiring_}) {
    for (const WorkerSlot& slot : *list) workers.push_back(slot.worker.get());
  }
  return workers;
}

std::vector<Supervisor::Posted> Supervisor::post_all(const std::function<WorkerCommand()>& make) {
  std::vector<Posted> posted;
  for (Worker* worker : all_workers()) posted.push_back({worker, worker->post(make())});
  return posted;
}

bool Supervisor::wait_processed(const std::vector<Posted>& posted, Clock::duration timeout) {
  return wait_for(
      [&posted] {
        return std::all_of(posted.begin(), posted.end(), [](const Posted& p) {
          const WorkerStatus& status = p.worker->status();
          return status.processed_commands.load() >= p.sequence || status.finished.load();
        });
      },
      timeout);
}

bool Supervisor::wait_for(const std::function<bool()>& condition, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    wakeup_.drain();
    if (condition()) return true;
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    pollfd fd{wakeup_.fd(), POLLIN, 0};
    if (::poll(&fd, 1, poll_ms(left)) < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "poll");
    }
  }
}

}  // namespace echod
