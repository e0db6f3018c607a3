#include "worker/worker.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "log/log_event.hpp"
#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"

namespace echod {
namespace {

// Token space: connections have bit 63 clear (ConnectionTable); listeners carry the tag bit and
// their id; the command queue's eventfd is the all-ones token.
constexpr std::uint64_t kTag = ConnectionTable::kTagBit;
constexpr std::uint64_t kWakeupToken = ~std::uint64_t{0};
std::uint64_t listener_token(std::uint32_t id) { return kTag | id; }

// How often idle and stalled connections are looked for (timeouts are accurate to this).
constexpr auto kExpiryCheckInterval = std::chrono::milliseconds(250);

// Connection::Ticks count from one instant shared by every worker, so that a connection handed
// from one worker to another keeps its idle and send-stall clocks.
std::chrono::steady_clock::time_point ticks_epoch() {
  static const auto kEpoch = std::chrono::steady_clock::now();
  return kEpoch;
}

// Refusals are logged at most once a second per reason for the whole process, however many
// workers refuse: a flood of refused connections must not flood the journal (nor trip its own
// rate limit, which would drop other messages too).
SharedLogLimiter& reject_log(RejectReason reason) {
  static std::array<SharedLogLimiter, kRejectReasonCount> limiters;
  return limiters.at(static_cast<std::size_t>(reason));
}
SharedLogLimiter& proxy_reject_log(ProxyReject reason) {
  static std::array<SharedLogLimiter, kProxyRejectCount> limiters;
  return limiters.at(static_cast<std::size_t>(reason));
}

ProxyMode proxy_mode(ProxyProtocol protocol) {
  switch (protocol) {
    case ProxyProtocol::kV1:
      return ProxyMode::kV1;
    case ProxyProtocol::kV2:
      return ProxyMode::kV2;
    case ProxyProtocol::kOff:
    case ProxyProtocol::kAny:
      break;
  }
  return ProxyMode::kAny;
}

std::string_view errno_name(int error) {
  switch (error) {
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ENOBUFS:
      return "ENOBUFS";
    case ENOMEM:
      return "ENOMEM";
    default:
      return "other";
  }
}

std::string_view to_string(WorkerPhase phase) {
  constexpr std::array<std::string_view, 4> kNames{"running", "retiring", "draining", "stopped"};
  return kNames.at(static_cast<std::size_t>(phase));
}

}  // namespace

Worker::Worker(unsigned index, WorkerSettings settings, Admission& admission,
               WakeupEvent& supervisor_wakeup)
    : index_(index),
      admission_(admission),
      supervisor_wakeup_(supervisor_wakeup),
      settings_(std::move(settings)) {
  ticks_epoch();  // started no later than the first worker
  apply_settings(settings_);
}

Worker::~Worker() { join(); }

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  try {
    if (!epoll_.add(commands_.wakeup_fd(), EPOLLIN, kWakeupToken)) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl(eventfd)");
    }
    // Listeners handed over before start() arrive as commands: take them before saying we run.
    process_commands();
    status_.running.store(true);
    supervisor_wakeup_.notify();
    loop();
  } catch (const std::exception& e) {
    spdlog::critical("worker {}: stopped by an unexpected error: {}", index_, e.what());
    status_.failed.store(true);
  }
  // Connections already on their way here (reserved, not yet arrived: only possible after Stop,
  // see done()) come within moments, their sender posting right after reserving: take them, so
  // that they are closed and counted below like every other.
  std::uint32_t owed = incoming_.exchange(kNoMoreAdoptions);
  if (owed == kNoMoreAdoptions) owed = 0;
  for (auto until = Clock::now() + std::chrono::seconds(1); owed > 0 && Clock::now() < until;) {
    for (WorkerCommand& command : commands_.take_all()) {
      auto* adoption = std::get_if<AdoptConnections>(&command);
      if (adoption == nullptr) continue;
      --owed;
      for (Connection& connection : adoption->connections) {
        add_connection(std::move(connection), Clock::now());
      }
    }
    if (owed > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Whatever is left is closed as the members go; the kernel resets those connections.
  connections_.for_each([this](std::uint64_t token, Connection&) {
    close_connection(token, CloseReason::kStopped, 0);
  });
  pending_.take_all([](PendingHeaders::Entry&&) {});  // closed without a word, like the above
  listeners_.clear();
  udp_.abandon_all();
  status_.listeners.store(0);
  status_.finished.store(true);
  supervisor_wakeup_.notify();
}

void Worker::loop() {
  while (!done()) {
    auto ready = epoll_.wait(events_, timeout_ms(Clock::now()));
    io_.now = ticks(Clock::now());  // one clock read per batch, not per event
    for (const epoll_event& event : ready) {
      if (event.data.u64 == kWakeupToken) {
        process_commands();
        if (phase_ == Phase::kStopped) return;
      } else if (udp_.owns(event.data.u64)) {
        udp_.on_ready(event.data.u64);
      } else if (PendingHeaders::is_token(event.data.u64)) {
        on_header_ready(event.data.u64);
      } else if ((event.data.u64 & kTag) != 0) {
        auto id = static_cast<std::uint32_t>(event.data.u64);
        auto it = std::find_if(listeners_.begin(), listeners_.end(),
                               [id](const Listener& l) { return l.id == id; });
        if (it != listeners_.end()) on_listener_ready(*it);
      } else {
        on_connection_ready(event.data.u64, event.events);
      }
    }
    run_timers(Clock::now());
  }
}

bool Worker::done() noexcept {
  if (phase_ == Phase::kStopped) return true;
  if (!draining() || !listeners_.empty() || !udp_.empty() || connections_.size() != 0 ||
      pending_.size() != 0) {
    return false;
  }
  // Nothing left, and nothing on its way: refuse every later hand-over, then end.
  std::uint32_t none = 0;
  return incoming_.compare_exchange_strong(none, kNoMoreAdoptions);
}

int Worker::timeout_ms(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  if (draining()) next = std::min(deadline_, next_drain_kick_);
  if (phase_ == Phase::kRetiring) next = std::min(next, close_listeners_at_);
  if (has_connection_timeouts()) next = std::min(next, next_expiry_check_);
  if (auto header_deadline = pending_.next_deadline()) next = std::min(next, *header_deadline);
  for (const Listener& listener : listeners_) {
    if (listener.acceptor.paused()) next = std::min(next, listener.acceptor.paused_until());
  }
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Round up, so that the wait does not end a little before the deadline and spin.
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<std::int64_t>(wait, 60'000));
}

bool Worker::has_connection_timeouts() const noexcept {
  return !draining() && connections_.size() > 0 &&
         (settings_.limits.idle_timeout.count() > 0 ||
          settings_.limits.send_stall_timeout.count() > 0);
}

Connection::Ticks Worker::ticks(Clock::time_point now) const noexcept {
  return static_cast<Connection::Ticks>((now - ticks_epoch()) / Connection::kTick);
}

void Worker::run_timers(Clock::time_point now) {
  if (phase_ == Phase::kRetiring && now >= close_listeners_at_) {
    close_all_listeners(false);
    hand_over(connections_.size(), heirs_);
    handed_over_ = true;
    enter(Phase::kDraining, deadline_);
    if (connections_.size() > 0) {
      spdlog::info(
          "worker {}: listeners closed; no worker takes connections over, finishing {} "
          "connection(s)",
          index_, connections_.size());
    }
  }
  if (has_connection_timeouts() && now >= next_expiry_check_) expire_connections(now);
  pending_.expire(now, [this](PendingHeaders::Entry&& entry) {
    refuse_proxy(std::move(entry.fd), ProxyReject::kTimeout, entry.peer, entry.listener_id, 0);
  });
  for (Listener& listener : listeners_) {
    if (listener.acceptor.pause_over(now)) {
      listener.acceptor.resume();
      rearm_listener(listener);
    }
  }
  if (draining() && now >= next_drain_kick_) kick_draining(now);
  if (draining() && now >= deadline_ && connections_.size() > 0) {
    spdlog::warn("worker {}: shutdown timeout: closing {} connection(s) still open", index_,
                 connections_.size());
    connections_.for_each([this](std::uint64_t token, Connection&) {
      close_connection(token, CloseReason::kShutdownTimeout, 0);
    });
  }
}

// Closes connections idle or stalled for too long. A scan of every connection a few times a
// second: a few microseconds per thousand connections, and no per-connection timer to keep.
void Worker::expire_connections(Clock::time_point now) {
  next_expiry_check_ = now + kExpiryCheckInterval;
  Connection::Ticks current = ticks(now);
  auto to_ticks = [](std::chrono::milliseconds timeout) {
    return static_cast<Connection::Ticks>(timeout / Connection::kTick);
  };
  Connection::Ticks idle = to_ticks(settings_.limits.idle_timeout);
  Connection::Ticks stall = to_ticks(settings_.limits.send_stall_timeout);
  connections_.for_each([&](std::uint64_t token, Connection& connection) {
    if (idle > 0 && current - connection.last_active() >= idle) {
      close_connection(token, CloseReason::kIdleTimeout, 0);
    } else if (stall > 0 && connection.stalled_since() != 0 &&
               current - connection.stalled_since() >= stall) {
      close_connection(token, CloseReason::kSendStall, 0);
    }
  });
}

void Worker::process_commands() {
  auto commands = commands_.take_all();
  for (WorkerCommand& command : commands) {
    std::visit([this](auto& c) { handle(c); }, command);
  }
  processed_ += commands.size();
  if (!epoll_.rearm(commands_.wakeup_fd(), EPOLLIN, kWakeupToken)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(eventfd)");
  }
  if (!commands.empty()) {
    status_.processed_commands.store(processed_);
    supervisor_wakeup_.notify();
  }
}

void Worker::apply_settings(const WorkerSettings& settings) {
  settings_ = settings;
  scratch_.resize(settings_.limits.io_buffer);
  scratch_.shrink_to_fit();
  io_.scratch = scratch_;
  io_.max_pending_output = settings_.limits.max_pending_output;
}

void Worker::handle(ApplySettings& command) { apply_settings(command.settings); }

void Worker::handle(AddListener& command) {
  if (phase_ >= Phase::kDraining) return;  // the socket closes with the command
  listeners_.push_back(Listener{command.listener_id, std::move(command.socket), Acceptor(),
                                std::move(command.options)});
  Listener& listener = listeners_.back();
  if (!epoll_.add(listener.socket.fd(), EPOLLIN, listener_token(listener.id))) {
    int error = errno;
    listeners_.pop_back();
    throw std::system_error(error, std::generic_category(), "epoll_ctl(listener)");
  }
  status_.listeners.store(static_cast<std::uint32_t>(listeners_.size()));
}

void Worker::handle(UpdateListener& command) {
  for (Listener& listener : listeners_) {
    if (listener.id == command.listener_id) listener.options = command.options;
  }
}

void Worker::handle(RemoveListener& command) {
  auto it = std::find_if(listeners_.begin(), listeners_.end(),
                         [&](const Listener& l) { return l.id == command.listener_id; });
  if (it == listeners_.end()) {
    udp_.remove(command.listener_id);
    return;
  }
  close_listener(*it, true);
  listeners_.erase(it);
  status_.listeners.store(static_cast<std::uint32_t>(listeners_.size()));
}

void Worker::handle(Drain& command) {
  if (phase_ == Phase::kStopped) return;
  close_all_listeners(true);
  enter(Phase::kDraining, draining() ? std::min(deadline_, command.deadline) : command.deadline);
}

void Worker::handle(Retire& command) {
  if (phase_ >= Phase::kDraining) return;
  heirs_ = std::move(command.heirs);
  enter(Phase::kRetiring, command.deadline, command.close_listeners_at);
}

void Worker::handle(SteerListeners& command) {
  for (Listener& listener : listeners_) {
    if (listener.socket.inherited()) continue;  // one socket shared by every worker
    try {
      listener.socket.steer_to_first(command.count);
    } catch (const std::system_error& e) {
      // Not fatal: without steering, a socket about to close may still get a few connections.
      spdlog::error("worker {}: {}", index_, e.what());
    }
  }
  udp_.steer(command.count);
}

void Worker::handle(Wedge& command) {
  spdlog::warn("worker {}: wedged for {} ms (test hook)", index_, command.duration.count());
  // Short naps, so that a test can end the wedge as soon as it has seen what it waits for.
  const auto until = Clock::now() + command.duration;
  while (Clock::now() < until && !unwedge_requested_.exchange(false)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Worker::close_all_listeners(bool shrink) {
  for (Listener& listener : listeners_) close_listener(listener, shrink);
  listeners_.clear();
  udp_.close_all();
  status_.listeners.store(0);
  supervisor_wakeup_.notify();
}

void Worker::enter(Phase next, Clock::time_point deadline, Clock::time_point close_listeners_at) {
  assert(next >= phase_);
  if (next != phase_) {
    spdlog::debug("worker {}: phase {} -> {}", index_, to_string(phase_), to_string(next));
  }
  phase_ = next;
  deadline_ = deadline;
  close_listeners_at_ = close_listeners_at;
  if (next == Phase::kDraining) {
    // A connection that has not named its client yet has sent nothing to echo: closed now.
    // Unless this worker handed its connections over: then it follows them once admitted.
    if (!handed_over_) pending_.take_all([](PendingHeaders::Entry&&) {});
    connections_.for_each([](std::uint64_t, Connection& connection) { connection.begin_drain(); });
    kick_draining(Clock::now());
  }
}

// Runs the drain step of every connection that waits for its client to fall quiet: armed for
// both directions, the socket reports ready at once (it is writable).
void Worker::kick_draining(Clock::time_point now) {
  next_drain_kick_ = now + Connection::kTick;
  connections_.for_each([this](std::uint64_t token, Connection& connection) {
    if (!connection.waiting_for_quiet()) return;
    if (!epoll_.rearm(connection.fd(), EPOLLIN | EPOLLOUT, token)) {
      close_connection(token, CloseReason::kError, errno);
    }
  });
}

void Worker::handle(AddUdpSocket& command) {
  if (phase_ >= Phase::kDraining) return;  // the socket closes with the command
  udp_.add(command.listener_id, std::move(command.socket), std::move(command.stats));
}

void Worker::handle(ApplyUdpSettings& command) { udp_.apply(std::move(command.settings)); }

void Worker::handle(Stop&) { enter(Phase::kStopped); }

void Worker::handle(Ping&) {}

void Worker::close_listener(Listener& listener, bool shrink) {
  // Explicitly: epoll forgets an fd on close() only once every duplicate of it is closed, and
  // inherited sockets are duplicated across workers (and held by systemd).
  epoll_.remove(listener.socket.fd());
  if (listener.socket.inherited()) {
    // systemd keeps the socket open: what is queued waits for the next instance.
    spdlog::debug("worker {}: released inherited listener {}", index_,
                  listener.socket.address().to_string());
    return;
  }
  // Accept what is already queued, so that the kernel has nothing to reset when the socket
  // closes. A connection that completes its handshake between the last accept() and close()
  // is still reset: the kernel offers no way to close that window (see docs/operations.md).
  if (shrink) listener.socket.shrink_backlog();
  accept_from(listener, std::numeric_limits<int>::max());
  spdlog::debug("worker {}: closed listener {}", index_, listener.socket.address().to_string());
}

void Worker::rearm_listener(Listener& listener) {
  if (!epoll_.rearm(listener.socket.fd(), EPOLLIN, listener_token(listener.id))) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(listener)");
  }
}

void Worker::on_listener_ready(Listener& listener) {
  accept_from(listener, Acceptor::kBatch);
  if (!listener.acceptor.paused()) rearm_listener(listener);
}

void Worker::accept_from(Listener& listener, int limit) {
  listener.acceptor.drain(
      listener.socket.fd(), limit,
      [&](AcceptedConnection&& accepted) { on_accepted(listener, std::move(accepted)); },
      [&](const AcceptFailure& failure) { on_accept_failure(listener, failure); });
}

void Worker::on_accept_failure(const Listener& listener, const AcceptFailure& failure) {
  WorkerStatus::add(status_.accept_errors[static_cast<std::size_t>(failure.error_class)], 1);
  if (failure.error_class == AcceptErrorClass::kAborted) {
    spdlog::debug("worker {}: accept on {}: {}", index_, listener.socket.address().to_string(),
                  info(failure.error_class).log_text);
    return;
  }
  std::uint64_t suppressed = 0;
  if (failure.paused) {
    WorkerStatus::add(status_.accept_pauses, 1);
    if (accept_exhausted_log_.allow(Clock::now(), suppressed)) {
      std::string bound = listener.socket.address().to_string();
      log_event(LogEvent::kFdExhaustion, spdlog::level::critical,
                {index_, bound, std::string(errno_name(failure.error)), std::nullopt},
                fmt::format("worker {}: accept on {}: {}; pausing accepts for {} ms, existing "
                            "connections are still served (suppressed {}); raise LimitNOFILE "
                            "or lower limits.max_connections",
                            index_, bound, errno_text(failure.error), Acceptor::kPause.count(),
                            suppressed));
    }
    return;
  }
  if (accept_error_log_.allow(Clock::now(), suppressed)) {
    spdlog::error("worker {}: accept on {}: {} (suppressed {})", index_,
                  listener.socket.address().to_string(), errno_text(failure.error), suppressed);
  }
}

// Admits or refuses a new connection, then registers it; on a PROXY listener, first waits for
// the header that names the client.
void Worker::on_accepted(const Listener& listener, AcceptedConnection accepted) {
  auto now = Clock::now();
  if (listener.options.proxy()) {
    wait_for_header(listener, std::move(accepted), now);
    return;
  }
  admit(std::move(accepted.fd), accepted.peer, accepted.peer, listener.socket.address(), now);
}

void Worker::admit(UniqueFd client_fd, const SocketAddress& client, const SocketAddress& peer,
                   const SocketAddress& bound, Clock::time_point now, AdmissionTicket reserved) {
  AdmissionResult admission = admission_.admit(client, settings_.limits, now, std::move(reserved));
  if (!admission.admitted()) {
    reject(std::move(client_fd), *admission.refused, client, peer, bound);
    return;
  }
  int fd = client_fd.get();
  WorkerStatus::add(status_.accepted_total, 1);
  Connection connection(std::move(client_fd), std::move(admission.ticket), ticks(now));
  if (handed_over_) {
    // Its header completed after this worker handed its connections over: it follows them.
    std::vector<Connection> late;
    late.push_back(std::move(connection));
    if (distribute(late, heirs_, now)) {
      WorkerStatus::add(status_.handed_over, 1);
      return;
    }
    connection = std::move(late.front());
  }
  if (!add_connection(std::move(connection), now)) {
    return;
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    LogEventFields fields{index_, bound.to_string(), {}, std::nullopt};
    fields.client_addr = client.host_string();
    fields.peer_addr = peer.host_string();
    log_with_fields(
        spdlog::level::debug, fields,
        client == peer
            ? fmt::format("worker {}: accepted fd {} from {} on {}", index_, fd, client.to_string(),
                          fields.listener)
            : fmt::format("worker {}: accepted fd {} from {} (PROXY header from {}) "
                          "on {}",
                          index_, fd, client.to_string(), peer.to_string(), fields.listener));
  }
}

bool Worker::add_connection(Connection connection, Clock::time_point now) {
  int fd = connection.fd();
  std::uint64_t token = connections_.insert(std::move(connection));
  Connection& added = *connections_.find(token);
  if (draining()) added.begin_drain();
  // A handed-over connection may have input waiting, or output pending: epoll reports what is
  // ready already when the fd is added.
  std::uint32_t events =
      draining() ? (EPOLLIN | EPOLLOUT) : added.wanted_events(io_.max_pending_output);
  if (!epoll_.add(fd, events, token)) {
    close_connection(token, CloseReason::kError, errno);
    return false;
  }
  if (connections_.size() == 1) next_expiry_check_ = now + kExpiryCheckInterval;
  status_.connections.store(connections_.size(), std::memory_order_relaxed);
  return true;
}

// Only a trusted peer may name a client: any other is closed before a byte is read.
void Worker::wait_for_header(const Listener& listener, AcceptedConnection accepted,
                             Clock::time_point now) {
  const std::vector<Cidr>& trusted = listener.options.trusted;
  if (std::none_of(trusted.begin(), trusted.end(),
                   [&](const Cidr& network) { return network.contains(accepted.peer); })) {
    refuse_proxy(std::move(accepted.fd), ProxyReject::kUntrusted, accepted.peer, listener.id, 0);
    return;
  }
  if (draining()) return;  // nothing to echo yet: closed with the fd
  // A waiting connection holds a descriptor: it counts toward limits.max_connections (not
  // toward the balancer's per-address limits, which would throttle every client behind it).
  AdmissionResult reserved = admission_.reserve(PeerKey::of(accepted.peer));
  if (!reserved.admitted()) {
    reject(std::move(accepted.fd), *reserved.refused, std::nullopt, accepted.peer,
           listener.socket.address());
    return;
  }
  const int fd = accepted.fd.get();
  const std::uint64_t token =
      pending_.add(std::move(accepted.fd), accepted.peer, listener.id,
                   proxy_mode(listener.options.proxy_protocol),
                   now + listener.options.header_timeout, std::move(reserved.ticket));
  // A balancer sends the header as soon as it has connected: it is usually there already. Read
  // it now, and ask epoll only when it is not complete yet.
  PendingHeaders::Outcome outcome = pending_.on_ready(token);
  if (outcome.kind != PendingHeaders::Outcome::Kind::kWaiting) {
    on_header_outcome(std::move(outcome), false);
    return;
  }
  if (!epoll_.add(fd, EPOLLIN, token)) {
    const int error = errno;
    if (auto entry = pending_.take(token)) {
      refuse_proxy(std::move(entry->fd), ProxyReject::kClosed, entry->peer, entry->listener_id,
                   error);
    }
  }
}

void Worker::on_header_ready(std::uint64_t token) {
  PendingHeaders::Outcome outcome = pending_.on_ready(token);
  if (outcome.kind == PendingHeaders::Outcome::Kind::kWaiting) {
    if (outcome.fd >= 0 && !epoll_.rearm(outcome.fd, EPOLLIN, token)) {
      const int error = errno;
      if (auto entry = pending_.take(token)) {
        refuse_proxy(std::move(entry->fd), ProxyReject::kClosed, entry->peer, entry->listener_id,
                     error);
      }
    }
    return;
  }
  on_header_outcome(std::move(outcome), true);
}

void Worker::on_header_outcome(PendingHeaders::Outcome outcome, bool registered) {
  PendingHeaders::Entry& entry = *outcome.entry;
  if (outcome.kind == PendingHeaders::Outcome::Kind::kRejected) {
    refuse_proxy(std::move(entry.fd), outcome.reason, entry.peer, entry.listener_id, outcome.error);
    return;
  }
  const ProxyHeader& header = outcome.header;
  WorkerStatus::add(status_.proxy_headers.at(static_cast<std::size_t>(header.kind())), 1);
  // LOCAL and UNKNOWN (health checks) name no client: the balancer is the client.
  const SocketAddress client = header.has_addresses() ? header.source : entry.peer;
  if (registered) epoll_.remove(entry.fd.get());  // registered again under its connection token
  admit(std::move(entry.fd), client, entry.peer, listener_address(entry.listener_id), Clock::now(),
        std::move(entry.reserved));
}

void Worker::refuse_proxy(UniqueFd fd, ProxyReject reason, const SocketAddress& peer,
                          std::uint32_t listener_id, int error) {
  fd.reset();
  WorkerStatus::add(status_.proxy_rejected.at(static_cast<std::size_t>(reason)), 1);
  // A peer that connects and closes without a word is what a plain TCP health check does.
  const auto level = reason == ProxyReject::kClosed ? spdlog::level::debug : spdlog::level::warn;
  if (!spdlog::should_log(level)) return;
  std::uint64_t suppressed = 0;
  if (proxy_reject_log(reason).allow(Clock::now(), suppressed)) {
    // No header named a client: the peer is all there is.
    LogEventFields fields{index_, listener_address(listener_id).to_string(),
                          std::string(info(reason).label), std::nullopt};
    fields.peer_addr = peer.host_string();
    log_with_fields(
        level, fields,
        fmt::format("worker {}: closed a connection from {} on PROXY listener {}: "
                    "{}{}{} (suppressed {})",
                    index_, peer.to_string(), fields.listener, info(reason).log_text,
                    error != 0 ? ": " : "", error != 0 ? errno_text(error) : "", suppressed));
  }
}

SocketAddress Worker::listener_address(std::uint32_t id) const {
  auto it = std::find_if(listeners_.begin(), listeners_.end(),
                         [id](const Listener& l) { return l.id == id; });
  return it == listeners_.end() ? SocketAddress{} : it->socket.address();
}

// Closes a connection the limits do not allow, at once: it is never left in the queue.
void Worker::reject(UniqueFd fd, RejectReason reason, const std::optional<SocketAddress>& client,
                    const SocketAddress& peer, const SocketAddress& bound) {
  fd.reset();
  auto index = static_cast<std::size_t>(reason);
  WorkerStatus::add(status_.rejected_by_reason[index], 1);
  std::uint64_t suppressed = 0;
  if (reject_log(reason).allow(Clock::now(), suppressed)) {
    LogEventFields fields{index_, bound.to_string(), std::string(info(reason).label), std::nullopt};
    fields.peer_addr = peer.host_string();
    std::string via;
    if (!client) {
      via = "before its PROXY header; ";
    } else if (*client != peer) {
      via = fmt::format("PROXY header from {}; ", peer.to_string());
    }
    if (client) fields.client_addr = client->host_string();
    log_event(LogEvent::kLimitFired, spdlog::level::warn, fields,
              fmt::format("worker {}: refused a connection from {}: {} ({}suppressed {})", index_,
                          client ? fields.client_addr : fields.peer_addr, info(reason).log_text,
                          via, suppressed));
  }
}

void Worker::on_connection_ready(std::uint64_t token, std::uint32_t events) {
  Connection* connection = connections_.find(token);
  if (connection == nullptr) return;  // closed earlier in this batch
  io_.bytes_received = 0;
  io_.bytes_sent = 0;
  int error = 0;
  CloseReason reason = connection->on_ready(events, io_, error);
  WorkerStatus::add(status_.bytes_received, io_.bytes_received);
  WorkerStatus::add(status_.bytes_sent, io_.bytes_sent);
  if (reason != CloseReason::kNone) {
    close_connection(token, reason, error);
    return;
  }
  if (!epoll_.rearm(connection->fd(), connection->wanted_events(io_.max_pending_output), token)) {
    close_connection(token, CloseReason::kError, errno);
  }
}

void Worker::close_connection(std::uint64_t token, CloseReason reason, int error) {
  Connection* connection = connections_.find(token);
  if (connection == nullptr) return;
  if (reason == CloseReason::kError) {
    std::uint64_t suppressed = 0;
    if (connection_error_log_.allow(Clock::now(), suppressed)) {
      spdlog::warn("worker {}: closing fd {}: {} (suppressed {})", index_, connection->fd(),
                   errno_text(error), suppressed);
    }
  } else if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("worker {}: closing fd {}: {}{}{}", index_, connection->fd(),
                  info(reason).log_text, error != 0 ? ": " : "",
                  error != 0 ? errno_text(error) : "");
  }
  connections_.erase(token);
  // An fd is free again: a listener paused by fd exhaustion can take the next client now
  // rather than when its pause ends.
  for (Listener& listener : listeners_) {
    if (listener.acceptor.paused() &&
        epoll_.rearm(listener.socket.fd(), EPOLLIN, listener_token(listener.id))) {
      listener.acceptor.resume();  // on failure the pause timer retries
    }
  }
  WorkerStatus::add(status_.closed_total, 1);
  WorkerStatus::add(status_.closed_by_reason[static_cast<std::size_t>(reason)], 1);
  status_.connections.store(connections_.size(), std::memory_order_relaxed);
}

}  // namespace echod
