#include "supervisor/supervisor.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "build_info.hpp"
#include "config/config_diff.hpp"
#include "config/config_loader.hpp"
#include "log/log_event.hpp"
#include "log/logging.hpp"

namespace echod {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kReloadAckTimeout = std::chrono::seconds(5);
constexpr auto kStatusInterval = std::chrono::seconds(5);
// After the drain deadline, how long workers get to close what is left before Stop.
constexpr auto kStopGrace = std::chrono::seconds(2);

std::string listen_hint(int error) {
  switch (error) {
    case EADDRINUSE:
      return "another process is using this address; stop it, or choose another address in "
             "'listen:' or with --listen";
    case EACCES:
    case EPERM:
      return "ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit grants it); "
             "or choose a port of 1024 or above";
    case EADDRNOTAVAIL:
      return "no network interface of this host has that address";
    case EAFNOSUPPORT:
      return "this host has no support for that address family (is IPv6 disabled?)";
    default:
      return "check the address in 'listen:'";
  }
}

// Opens one SO_REUSEPORT socket per worker for a TCP listener, or throws StartupError.
std::vector<ListenSocket> open_group(const ListenerConfig& listener, unsigned workers) {
  try {
    return open_listen_group(listener.address, workers);
  } catch (const std::system_error& e) {
    throw StartupError("cannot listen on " + listener.to_string() + ": " + e.what() + "; " +
                       listen_hint(e.code().value()));
  }
}

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

// Raises the soft fd limit to the hard one: the hard limit is what the administrator (or
// LimitNOFILE=) granted; the soft default of 1024 is a historical accident of select().
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("raised the open-file limit from {} to {}", before, limit.rlim_max);
  }
}

}  // namespace

void Supervisor::clamp_to_fd_limit(Config& config) const {
  LimitsConfig& limits = config.limits;
  // Every connection is one fd; keep room for the listeners, each worker's epoll and eventfd,
  // and the odd file (journal socket, /proc reads).
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    std::size_t workers =
        std::max<std::size_t>(workers_.size() + retiring_.size(), config.workers.resolve());
    std::size_t reserve = 64 + workers * (4 + config.listen.size());
    std::size_t usable = limit.rlim_cur > reserve ? limit.rlim_cur - reserve : 1;
    if (limits.max_connections > usable) {
      spdlog::warn(
          "limits.max_connections {} is more than the open-file limit {} allows; using {} "
          "(raise LimitNOFILE to allow more)",
          limits.max_connections, limit.rlim_cur, usable);
      limits.max_connections = static_cast<std::uint32_t>(usable);
    }
  }
}

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
  clamp_to_fd_limit(config_);
  apply_admission_limits(config_.limits);
  WorkerSettings settings{config_.limits};
  for (unsigned i = 0; i < count; ++i) workers_.push_back(WorkerSlot{make_worker(settings)});
  if (inherited_listeners_ > 0) {
    adopt_inherited_listeners();
  } else {
    // Every socket is open before any worker starts: a bad address fails here, before READY=1.
    std::vector<std::vector<ListenSocket>> groups;
    for (const ListenerConfig& listener : config_.listen) {
      groups.push_back(open_group(listener, count));
    }
    for (std::size_t i = 0; i < groups.size(); ++i) {
      hand_out(config_.listen[i], std::move(groups[i]));
    }
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
  facts.listeners = listeners_.size();
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

std::unique_ptr<Worker> Supervisor::make_worker(const WorkerSettings& settings) {
  return std::make_unique<Worker>(next_worker_index_++, settings, admission_, wakeup_);
}

std::vector<Supervisor::Posted> Supervisor::hand_out(const ListenerConfig& configured,
                                                     std::vector<ListenSocket> sockets,
                                                     std::optional<ListenSocket> inherited) {
  listeners_.push_back(ListenerGroup{next_listener_id_++, configured, sockets.front().address(),
                                     std::move(inherited)});
  const ListenerGroup& group = listeners_.back();
  if (group.bound.is_wildcard()) {
    spdlog::warn(
        "listening on {}, a wildcard address: anyone who can reach this host can use echod; "
        "list specific addresses in 'listen:' unless that is intended",
        group.bound.to_string());
  } else {
    spdlog::info("listening on {} ({} socket(s))", group.bound.to_string(), sockets.size());
  }
  std::vector<Posted> posted;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker& worker = *workers_[i].worker;
    posted.push_back({&worker, worker.post(AddListener{group.id, std::move(sockets[i])})});
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
  if (used_defaults) {
    spdlog::info("no configuration file at {}; using built-in defaults", command_line_.config_path);
  }
  Config next = std::move(*result.config);
  if (inherited_listeners_ > 0) next.listen = config_.listen;  // systemd owns the sockets
  clamp_to_fd_limit(next);
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
  std::vector<std::vector<ListenSocket>> opened;
  try {
    if (target > current) {
      prepare_growth(target, changes.removed_listeners, WorkerSettings{next.limits}, growth);
    }
    for (const ListenerConfig& listener : changes.added_listeners) {
      opened.push_back(open_group(listener, target));
    }
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
    track(hand_out(changes.added_listeners[i], std::move(opened[i])));
  }
  for (const ListenerConfig& listener : changes.removed_listeners) {
    auto it = std::find_if(listeners_.begin(), listeners_.end(),
                           [&](const ListenerGroup& g) { return g.configured == listener; });
    if (it == listeners_.end()) continue;
    std::uint32_t id = it->id;
    spdlog::info("closing listener {} once its queue is empty", it->bound.to_string());
    listeners_.erase(it);
    track(post_all([id] { return RemoveListener{id}; }));
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
  for (const ListenerGroup& group : listeners_) status.listeners.push_back(group.bound.to_string());
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
  if (metrics_server_) status.metrics = metrics_server_->address().to_string();
  return status;
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
  log_event(LogEvent::kStopped, spdlog::level::info, {},
            fmt::format("stopped after serving {} connection(s)", accepted));
}

void Supervisor::on_tick() {
  bool alive = check_liveness();
  if (watchdog_interval_.count() > 0 && alive) notifier_.watchdog();
  std::string status = status_text();
  if (status != last_status_) {
    last_status_ = status;
    notifier_.status(status);
  }
}

// Every tick, watchdog or not: the scrape is answered by the HTTP server's threads and the
// worker's counters read fine while it is stuck, so this is the only way a stuck worker shows.
// With the watchdog, no heartbeat is older than a tick (a quarter of the period), so a wedged
// worker stops WATCHDOG=1 well within half.
bool Supervisor::check_liveness() {
  const bool watchdog = watchdog_interval_.count() > 0;
  const auto now = Clock::now();
  bool alive = true;
  for (auto* list : {&workers_, &retiring_}) {
    for (WorkerSlot& slot : *list) {
      const WorkerStatus& status = slot.worker->status();
      if (status.finished.load()) continue;
      const bool answered = status.processed_commands.load() >= slot.ping;
      const auto silent_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.pinged).count();
      const unsigned index = slot.worker->index();
      if (!answered) {
        alive = false;
        std::uint64_t suppressed = 0;  // ticks: not worth reporting
        if (watchdog) {
          // systemd restarts echod within the period: every tick until then.
          spdlog::warn("worker {} has not answered for {} ms; withholding the watchdog ping", index,
                       silent_ms);
        } else if (slot.silence_log.allow(now, suppressed)) {
          // Once when it stops answering, then once a minute while it does not.
          spdlog::warn("worker {} has not answered for {} ms", index, silent_ms);
        }
      } else {
        if (!slot.responsive) {
          spdlog::info("worker {} answers again (its last ping waited up to {} ms)", index,
                       silent_ms);
          slot.silence_log = LogLimiter(kSilenceLogInterval);
        }
        // A wedged worker gets no new pings piling up in its queue.
        slot.ping = slot.worker->post(Ping{});
        slot.pinged = now;
      }
      if (answered != slot.responsive) {
        slot.responsive = answered;
        metrics_->set_responsive(status, answered);
      }
    }
  }
  return alive;
}

Supervisor::Clock::duration Supervisor::tick_interval() const {
  if (watchdog_interval_.count() > 0) {
    return std::min<Clock::duration>(watchdog_interval_ / 4, kStatusInterval);
  }
  return kStatusInterval;
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
  std::string addresses;
  for (const ListenerGroup& group : listeners_) {
    addresses += (addresses.empty() ? "" : ", ") + group.bound.to_string();
  }
  if (addresses.empty()) addresses = "no address";
  WorkerTotals totals = this->totals();
  // Kept to one line for `systemctl status`; `echod --status` has the rest.
  return status_prefix_ + "Serving " + addresses + " with " + std::to_string(workers_.size()) +
         " workers; " + std::to_string(live_connections()) + " connections (" +
         std::to_string(totals.accepted) + " accepted, " + std::to_string(totals.rejected()) +
         " refused); generation " + std::to_string(generation_);
}

}  // namespace echod
