#include "worker/udp_endpoints.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "log/log_event.hpp"
#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"

namespace echod {
namespace {

// A socket being removed gets at most this many passes (8 batches of 32 each) to echo what is
// queued: the kernel keeps delivering to it until it closes, so "until empty" could last as
// long as a flood.
constexpr int kDrainPasses = 16;

// Drops are logged at most once a second per reason for the whole process, however many
// workers drop: a flood of spoofed datagrams must not flood the journal.
SharedLogLimiter& drop_log(udp::DropReason reason) {
  static std::array<SharedLogLimiter, udp::kDropReasonCount> limiters;
  return limiters.at(static_cast<std::size_t>(reason));
}

}  // namespace

UdpEndpoints::UdpEndpoints(unsigned worker_index, Epoll& epoll, std::uint64_t tag,
                           std::atomic<std::uint32_t>& open_sockets)
    : worker_index_(worker_index), epoll_(epoll), tag_(tag), open_sockets_(open_sockets) {}

void UdpEndpoints::apply(std::shared_ptr<const UdpEchoSettings> settings) {
  if (!settings) return;
  if (batch_ && batch_->max_datagram() != settings->max_datagram) batch_.reset();
  settings_ = std::move(settings);
}

void UdpEndpoints::add(std::uint32_t id, UdpSocket socket,
                       std::shared_ptr<udp::ListenerStats> stats) {
  endpoints_.push_back(Endpoint{id, std::move(socket), std::move(stats)});
  if (!epoll_.add(endpoints_.back().socket.fd(), EPOLLIN, token_of(id))) {
    const int error = errno;
    endpoints_.pop_back();
    throw std::system_error(error, std::generic_category(), "epoll_ctl(udp socket)");
  }
  publish_size();
}

bool UdpEndpoints::remove(std::uint32_t id) {
  auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                         [id](const Endpoint& endpoint) { return endpoint.id == id; });
  if (it == endpoints_.end()) return false;
  drain_and_close(*it);
  endpoints_.erase(it);
  publish_size();
  return true;
}

void UdpEndpoints::close_all() {
  for (Endpoint& endpoint : endpoints_) drain_and_close(endpoint);
  endpoints_.clear();
  publish_size();
}

void UdpEndpoints::abandon_all() {
  endpoints_.clear();
  publish_size();
}

void UdpEndpoints::steer(unsigned count) {
  for (Endpoint& endpoint : endpoints_) {
    try {
      endpoint.socket.steer_to_first(count);
    } catch (const std::system_error& e) {
      // Not fatal: without steering, a socket about to close may still get a few datagrams.
      spdlog::error("worker {}: {}", worker_index_, e.what());
    }
  }
}

void UdpEndpoints::on_ready(std::uint64_t token) {
  const auto id = static_cast<std::uint32_t>(token);
  auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                         [id](const Endpoint& endpoint) { return endpoint.id == id; });
  if (it == endpoints_.end()) return;  // removed earlier in this batch of events
  pass(*it);
  if (!epoll_.rearm(it->socket.fd(), EPOLLIN, token)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(udp socket)");
  }
}

udp::EchoPassEnd UdpEndpoints::pass(Endpoint& endpoint) {
  const UdpEchoSettings& settings = *settings_;
  if (!batch_) batch_ = std::make_unique<udp::DatagramBatch>(settings.max_datagram);
  udp::EchoPassContext context;
  context.guard = &settings.guard;
  context.rates = settings.rates;
  context.exempt = &settings.exempt;
  context.loopback_ifindex = settings.loopback_ifindex;
  udp::EchoPassCounters counters;
  const udp::EchoPassResult result = udp::run_echo_pass(endpoint.socket.fd(), *batch_, context,
                                                        counters, udp::RateTable::Clock::now());
  endpoint.stats->add(counters);
  if (counters.receive_queue_drops) {
    // Unsigned arithmetic: right across the kernel's wrap at 2^32.
    const std::uint32_t delta = *counters.receive_queue_drops - endpoint.kernel_drops_seen;
    endpoint.kernel_drops_seen = *counters.receive_queue_drops;
    if (delta > 0) endpoint.stats->kernel_drops.fetch_add(delta, std::memory_order_relaxed);
  }
  if (counters.drops.total() > 0) log_drops(endpoint, counters);
  if (result.end == udp::EchoPassEnd::kError) {
    std::uint64_t suppressed = 0;
    if (receive_error_log_.allow(LogLimiter::Clock::now(), suppressed)) {
      spdlog::error("worker {}: receiving on UDP {}: {} (suppressed {})", worker_index_,
                    endpoint.socket.address().to_string(), errno_text(result.error), suppressed);
    }
  }
  return result.end;
}

void UdpEndpoints::log_drops(const Endpoint& endpoint, const udp::EchoPassCounters& counters) {
  for (const udp::DropReasonInfo& reason : udp::kDropReasons) {
    const std::uint64_t count = counters.drops.count(reason.reason);
    if (count == 0) continue;
    std::uint64_t suppressed = 0;
    if (!drop_log(reason.reason).allow(SharedLogLimiter::Clock::now(), suppressed)) continue;
    const std::string listener = endpoint.socket.address().to_string();
    log_event(
        LogEvent::kLimitFired, spdlog::level::warn,
        {worker_index_, listener, std::string(reason.label), std::nullopt},
        fmt::format("worker {}: UDP {}: dropped {} datagram(s): {} (reason {}; "
                    "suppressed {})",
                    worker_index_, listener, count, reason.log_text, reason.label, suppressed));
  }
}

void UdpEndpoints::drain_and_close(Endpoint& endpoint) {
  // Explicitly: epoll forgets an fd on close() only once every duplicate of it is closed.
  epoll_.remove(endpoint.socket.fd());
  isolate(endpoint.socket);
  for (int i = 0; i < kDrainPasses; ++i) {
    // kError: the socket reported an error once (it is cleared by then); what is queued is
    // still to be read.
    if (pass(endpoint) == udp::EchoPassEnd::kDrained) break;
  }
  spdlog::debug("worker {}: closed UDP socket {}", worker_index_,
                endpoint.socket.address().to_string());
}

// Connects a socket about to close to its own address, so that the kernel gives it no datagram
// from anyone else from now on, while what is queued stays readable. Steering keeps new
// datagrams away from a closing socket only while it is in its SO_REUSEPORT group: close()
// takes it out of the group a moment before it leaves the hash table, and a datagram looked up
// in that moment would be queued on it and freed with it. A connected socket is never chosen
// for another peer's datagram, in or out of its group.
void UdpEndpoints::isolate(const UdpSocket& socket) {
  SocketAddress self = socket.address();
  if (self.is_wildcard()) {
    // Its own port on loopback: nothing sends from there but echod.
    const std::string port = std::to_string(self.port());
    self = SocketAddress::parse(self.family() == AF_INET6 ? "[::1]:" + port : "127.0.0.1:" + port)
               .address.value_or(self);
  }
  if (::connect(socket.fd(), self.data(), self.length()) != 0) {
    // Not fatal: the socket closes as it would have, with that moment's small risk.
    spdlog::debug("worker {}: connect {} before closing: {}", worker_index_, self.to_string(),
                  errno_text(errno));
  }
}

void UdpEndpoints::publish_size() noexcept {
  open_sockets_.store(static_cast<std::uint32_t>(endpoints_.size()), std::memory_order_relaxed);
}

}  // namespace echod
