#include "client/bench_worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "proxy/proxy_header.hpp"
#include "sys/system_error.hpp"

namespace echod::client {
namespace {

constexpr std::size_t kBufferSize = 256 * 1024;
constexpr int kMaxEvents = 256;
constexpr std::int64_t kTickNs = 100'000'000;  // timeout sweep and live publishing
constexpr std::size_t kMaxErrorSamples = 5;

std::int64_t now_ns() {
  return std::chrono::duration_cast<Nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string seconds_text(std::int64_t ns) {
  return fmt::format("{:g} s", static_cast<double>(ns) / 1e9);
}

}  // namespace

BenchWorker::BenchWorker(const BenchOptions& options, BenchShared& shared,
                         std::uint32_t first_connection, std::uint32_t connections,
                         std::optional<std::uint64_t> message_budget, std::int64_t start_ns)
    : options_(options),
      shared_(shared),
      first_connection_(first_connection),
      budget_(message_budget),
      warmup_end_ns_(start_ns + options.warmup.count()),
      end_ns_(warmup_end_ns_ + options.duration.count()),
      count_until_ns_(budget_ ? INT64_MAX : end_ns_),
      timeout_ns_(options.timeout.count()),
      connections_(connections),
      live_(connections),
      send_buffer_(kBufferSize),
      receive_buffer_(kBufferSize) {
  for (std::uint32_t slot = 0; slot < connections; ++slot) {
    connections_[slot].window.resize(options.pipeline);
    waiting_.push_back(slot);
  }
}

WorkerResult BenchWorker::run() {
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw_errno("epoll_create1");
  result_.measure_begin_ns = warmup_end_ns_;
  result_.measure_end_ns = warmup_end_ns_;

  std::array<epoll_event, kMaxEvents> events{};
  std::int64_t now = now_ns();
  std::int64_t next_tick = now + kTickNs;
  while (live_ > 0) {
    if (shared_.abort.load(std::memory_order_relaxed)) {
      for (auto& c : connections_) c.fd.reset();
      break;
    }
    bool run_over =
        budget_ ? issued_ >= *budget_ : options_.mode != BenchMode::kIdle && now >= end_ns_;
    if (issuing_ && (run_over || shared_.stop.load(std::memory_order_relaxed))) {
      stop_issuing(now);
    }
    pump_connects(now);
    if (live_ == 0) break;

    auto wait_ms = std::max<std::int64_t>(0, (next_tick - now + 999'999) / 1'000'000);
    int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, static_cast<int>(wait_ms));
    if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const auto& event = events[static_cast<std::size_t>(i)];
      on_event(event.data.u64, event.events);
    }
    now = now_ns();
    if (now >= next_tick) {
      sweep(now);
      publish_live();
      next_tick = now + kTickNs;
    }
  }
  publish_live();
  if (!budget_) result_.measure_end_ns = std::min(count_until_ns_, now);
  return std::move(result_);
}

bool BenchWorker::can_issue() const { return issuing_ && (!budget_ || issued_ < *budget_); }

// A connection the server ends at this point was turned away rather than cut short: echod, for
// one, closes a connection over its per-address limits right after accepting it.
bool BenchWorker::nothing_echoed(std::uint32_t slot) const {
  const auto& c = connections_[slot];
  return (c.state == State::kConnecting || c.state == State::kRunning) && c.verifier &&
         c.verifier->received() == 0;
}

std::uint64_t BenchWorker::token(std::uint32_t slot) const {
  return (std::uint64_t{connections_[slot].generation} << 32) | slot;
}

void BenchWorker::pump_connects(std::int64_t now) {
  while (!waiting_.empty() && pending_connects_ < options_.connect_concurrency) {
    if (options_.mode == BenchMode::kChurn ? !can_issue() : !issuing_) break;
    std::uint32_t slot = waiting_.front();
    waiting_.pop_front();
    start_connect(slot, now);
  }
}

void BenchWorker::start_connect(std::uint32_t slot, std::int64_t now) {
  auto& c = connections_[slot];
  ++c.generation;
  c.events = 0;
  c.queued = c.completed = 0;
  c.connect_start_ns = c.last_progress_ns = now;
  auto id = shared_.next_stream_id.fetch_add(1, std::memory_order_relaxed);
  c.verifier.emplace(StreamPattern(options_.seed, static_cast<std::uint32_t>(id)));
  if (options_.mode != BenchMode::kLoad) {
    // Churn and idle connections echo exactly one message; churn's budget counts connections.
    bool counted = now >= warmup_end_ns_;
    c.window[0] = {0, counted};
    c.queued = 1;
    if (counted && budget_) ++issued_;
  }

  const auto& server = options_.server;
  c.fd = UniqueFd(::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd) return fail(slot, ErrorKind::kConnect, "socket: " + errno_text(errno));
  int one = 1;
  ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!options_.sources.empty()) {
    const auto& source =
        options_.sources[(first_connection_ + connect_attempts_) % options_.sources.size()];
    // Defer the port choice to connect(), where the kernel can reuse a port for another
    // destination: bind() alone would allot each source port once, capping at ~28k per address.
    ::setsockopt(c.fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (::bind(c.fd.get(), source.data(), source.length()) != 0) {
      return fail(slot, ErrorKind::kConnect,
                  "bind " + source.host_string() + ": " + errno_text(errno));
    }
  }
  ++connect_attempts_;
  if (::connect(c.fd.get(), server.data(), server.length()) != 0 && errno != EINPROGRESS) {
    return fail(slot, ErrorKind::kConnect,
                "connect to " + server.to_string() + ": " + errno_text(errno));
  }
  c.state = State::kConnecting;
  ++pending_connects_;
  set_events(slot, EPOLLOUT);
}

void BenchWorker::on_event(std::uint64_t event_token, std::uint32_t events) {
  auto slot = static_cast<std::uint32_t>(event_token);
  if (slot >= connections_.size() || event_token != token(slot)) return;  // an older socket's
  auto& c = connections_[slot];
  if (!c.fd) return;
  std::int64_t now = now_ns();
  if (c.state == State::kConnecting) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    // ECONNRESET: the handshake completed and the server reset the connection at once.
    if (error == ECONNRESET) return fail_with_errno(slot, "connect", error);
    if (error != 0) {
      return fail(slot, ErrorKind::kConnect,
                  "connect to " + options_.server.to_string() + ": " + errno_text(error));
    }
    return on_connected(slot, now);
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive(slot, now);
  if (c.state == State::kRunning && (events & EPOLLOUT)) send_pending(slot, now);
}

void BenchWorker::on_connected(std::uint32_t slot, std::int64_t now) {
  auto& c = connections_[slot];
  --pending_connects_;
  ++result_.connects;
  ++live_delta_.connects;
  c.state = State::kRunning;
  c.last_progress_ns = now;
  if (options_.proxy_version != 0 && !send_proxy_header(slot)) return;
  if (options_.mode == BenchMode::kLoad) queue_messages(c, now);
  if (c.queued == c.completed) return begin_close(slot, now);
  send_pending(slot, now);
}

// The header goes first, whole, in one send(): a fresh connection's socket buffer takes it.
bool BenchWorker::send_proxy_header(std::uint32_t slot) {
  auto& c = connections_[slot];
  SocketAddress local;
  try {
    local = SocketAddress::local_of(c.fd.get());
  } catch (const std::system_error& e) {
    fail(slot, ErrorKind::kConnect, e.what());
    return false;
  }
  SocketAddress source = options_.proxy_source.value_or(local);
  if (source.port() == 0) source.set_port(local.port());
  const std::vector<std::byte> header =
      make_proxy_header(options_.proxy_version, source, options_.server);
  const ssize_t sent =
      ::send(c.fd.get(), header.data(), header.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent == static_cast<ssize_t>(header.size())) return true;
  if (sent < 0) {
    fail_with_errno(slot, "send", errno);
  } else {
    fail(slot, ErrorKind::kConnect, "the PROXY header did not fit in the socket buffer");
  }
  return false;
}

void BenchWorker::queue_messages(Connection& c, std::int64_t now) {
  while (c.queued - c.completed < options_.pipeline && can_issue()) {
    bool counted = now >= warmup_end_ns_;
    c.window[c.queued % options_.pipeline] = {0, counted};
    ++c.queued;
    if (counted && budget_) ++issued_;
  }
}

void BenchWorker::send_pending(std::uint32_t slot, std::int64_t now) {
  auto& c = connections_[slot];
  auto& verifier = *c.verifier;
  const std::uint64_t size = options_.size;
  const std::uint64_t target = c.queued * size;
  bool blocked = false;
  while (verifier.sent() < target) {
    std::uint64_t offset = verifier.sent();
    auto bytes =
        prepare(slot, offset,
                static_cast<std::size_t>(std::min<std::uint64_t>(target - offset, kBufferSize)));
    ssize_t sent = ::send(c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        blocked = true;
        break;
      }
      return fail_with_errno(slot, "send", errno);
    }
    auto end = offset + static_cast<std::uint64_t>(sent);
    for (std::uint64_t m = (offset + size - 1) / size; m * size < end; ++m) {
      c.window[m % options_.pipeline].start_ns = now;
    }
    verifier.on_sent(static_cast<std::uint64_t>(sent));
    c.last_progress_ns = now;
    if (static_cast<std::size_t>(sent) < bytes.size()) {
      blocked = true;
      break;
    }
  }
  set_events(slot, EPOLLIN | (blocked ? EPOLLOUT : 0u));
}

// The stream bytes of connection `slot` from `offset`: at most `size` of them, generated now or
// left over from a send() that took only part of what was generated.
std::span<const unsigned char> BenchWorker::prepare(std::uint32_t slot, std::uint64_t offset,
                                                    std::size_t size) {
  std::uint64_t owner = token(slot);
  if (prepared_.token != owner || offset < prepared_.offset ||
      offset >= prepared_.offset + prepared_.size) {
    connections_[slot].verifier->pattern().fill(offset, std::span(send_buffer_).first(size));
    prepared_ = {owner, offset, size};
  }
  auto skip = static_cast<std::size_t>(offset - prepared_.offset);
  return std::span<const unsigned char>(send_buffer_)
      .subspan(skip, std::min(size, prepared_.size - skip));
}

void BenchWorker::receive(std::uint32_t slot, std::int64_t now) {
  auto& c = connections_[slot];
  auto& verifier = *c.verifier;
  ssize_t n = ::recv(c.fd.get(), receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return fail_with_errno(slot, "recv", errno);
  }
  if (n == 0) {
    if (c.state == State::kClosing) return finish(slot, now);
    if (nothing_echoed(slot)) {
      return fail(slot, ErrorKind::kRefused,
                  "server closed the connection before echoing anything (" +
                      std::to_string(verifier.sent()) + " bytes sent)");
    }
    if (verifier.outstanding() > 0) {
      return fail(slot, ErrorKind::kLoss,
                  "server closed the connection with " + std::to_string(verifier.outstanding()) +
                      " bytes not echoed, from stream offset " +
                      std::to_string(verifier.received()));
    }
    return fail(slot, ErrorKind::kClosed, "server closed the connection");
  }
  auto id_limit = std::min<std::uint64_t>(shared_.next_stream_id.load(std::memory_order_relaxed),
                                          StreamPattern::kIdMask + 1);
  auto data = std::span<const unsigned char>(receive_buffer_).first(static_cast<std::size_t>(n));
  if (auto error = verifier.verify(data, id_limit)) {
    return fail(slot, error->kind, error->describe(verifier.pattern().id()));
  }
  c.last_progress_ns = now;
  complete_messages(c, now);
  if (c.state != State::kRunning) return;
  switch (options_.mode) {
    case BenchMode::kLoad:
      queue_messages(c, now);
      if (c.queued == c.completed) return begin_close(slot, now);
      return send_pending(slot, now);
    case BenchMode::kChurn:
      if (c.completed == c.queued) begin_close(slot, now);
      return;
    case BenchMode::kIdle:
      if (c.completed == c.queued) {
        c.state = State::kIdle;
        shared_.idle_ready.fetch_add(1, std::memory_order_relaxed);
        if (!issuing_) begin_close(slot, now);
      }
      return;
  }
}

void BenchWorker::complete_messages(Connection& c, std::int64_t now) {
  const std::uint64_t size = options_.size;
  const std::uint64_t received = c.verifier->received();
  while ((c.completed + 1) * size <= received) {
    const Message& message = c.window[c.completed % options_.pipeline];
    ++c.completed;
    if (!message.counted || now > count_until_ns_) continue;
    auto latency = static_cast<std::uint64_t>(
        now - (options_.mode == BenchMode::kChurn ? c.connect_start_ns : message.start_ns));
    result_.latency.record(latency);
    ++result_.requests;
    result_.bytes += size;
    result_.measure_end_ns = std::max(result_.measure_end_ns, now);
    if (options_.live) {
      live_delta_.latency.record(latency);
      ++live_delta_.requests;
      live_delta_.bytes += size;
    }
  }
}

void BenchWorker::begin_close(std::uint32_t slot, std::int64_t now) {
  auto& c = connections_[slot];
  c.state = State::kClosing;
  c.last_progress_ns = now;
  if (::shutdown(c.fd.get(), SHUT_WR) != 0) {
    return fail(slot, ErrorKind::kReset, "shutdown: " + errno_text(errno));
  }
  set_events(slot, EPOLLIN);
}

// The server answered our FIN with its own: a clean end.
void BenchWorker::finish(std::uint32_t slot, std::int64_t /*now*/) {
  auto& c = connections_[slot];
  c.fd.reset();
  c.events = 0;
  c.verifier.reset();
  if (options_.mode == BenchMode::kChurn && can_issue()) {
    c.state = State::kWaiting;
    waiting_.push_back(slot);
  } else {
    c.state = State::kDone;
    --live_;
  }
}

void BenchWorker::fail(std::uint32_t slot, ErrorKind kind, const std::string& what) {
  auto& c = connections_[slot];
  if (c.state == State::kConnecting) --pending_connects_;
  bool before_idle =
      c.state == State::kWaiting || c.state == State::kConnecting || c.state == State::kRunning;
  if (options_.mode == BenchMode::kIdle && before_idle) {
    shared_.idle_failed.fetch_add(1, std::memory_order_relaxed);
  }
  result_.errors.add(kind);
  ++live_delta_.errors;
  if (result_.error_samples.size() < kMaxErrorSamples) {
    std::string text = "connection " + std::to_string(first_connection_ + slot);
    if (c.verifier) text += " (stream " + std::to_string(c.verifier->pattern().id()) + ")";
    result_.error_samples.push_back(text + ": " + what);
  }
  c.fd.reset();
  c.events = 0;
  c.verifier.reset();
  c.state = State::kDone;
  --live_;
}

// A send, recv or connect failed with `error`. A reset before any echo is a refusal.
void BenchWorker::fail_with_errno(std::uint32_t slot, const char* call, int error) {
  bool reset = error == ECONNRESET || error == EPIPE;
  if (reset && nothing_echoed(slot)) {
    return fail(slot, ErrorKind::kRefused,
                std::string("server reset the connection before echoing anything (") + call + ": " +
                    errno_text(error) + ")");
  }
  fail(slot, ErrorKind::kReset, std::string(call) + ": " + errno_text(error));
}

void BenchWorker::set_events(std::uint32_t slot, std::uint32_t events) {
  auto& c = connections_[slot];
  if (c.events == events) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = token(slot);
  int op = c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (::epoll_ctl(epoll_.get(), op, c.fd.get(), &event) != 0) {
    return fail(slot, ErrorKind::kReset, "epoll_ctl: " + errno_text(errno));
  }
  c.events = events;
}

void BenchWorker::stop_issuing(std::int64_t now) {
  issuing_ = false;
  if (!budget_) count_until_ns_ = std::min(now, end_ns_);
  for (std::uint32_t slot : waiting_) connections_[slot].state = State::kDone;
  live_ -= static_cast<std::uint32_t>(waiting_.size());
  waiting_.clear();
  for (std::uint32_t slot = 0; slot < connections_.size(); ++slot) {
    const auto& c = connections_[slot];
    bool drained = c.state == State::kRunning && c.queued == c.completed;
    if (drained || c.state == State::kIdle) begin_close(slot, now);
  }
}

void BenchWorker::sweep(std::int64_t now) {
  for (std::uint32_t slot = 0; slot < connections_.size(); ++slot) {
    auto& c = connections_[slot];
    bool stalled = now - c.last_progress_ns > timeout_ns_;
    switch (c.state) {
      case State::kConnecting:
        if (now - c.connect_start_ns > timeout_ns_) {
          fail(slot, ErrorKind::kConnect,
               "connect to " + options_.server.to_string() + " timed out after " +
                   seconds_text(timeout_ns_));
        }
        break;
      case State::kRunning:
        if (stalled) {
          fail(slot, ErrorKind::kTimeout,
               "no echo for " + seconds_text(timeout_ns_) + " with " +
                   std::to_string(c.queued * options_.size - c.verifier->received()) +
                   " bytes due from stream offset " + std::to_string(c.verifier->received()));
        }
        break;
      case State::kClosing:
        // The server never answered our FIN. RFC 862 does not require it to, so this is no
        // error: stop waiting.
        if (stalled) finish(slot, now);
        break;
      default:
        break;
    }
  }
}

void BenchWorker::publish_live() {
  if (!options_.live) return;
  shared_.live.add(live_delta_);
  live_delta_.latency.reset();
  live_delta_.requests = live_delta_.bytes = live_delta_.errors = live_delta_.connects = 0;
}

}  // namespace echod::client
