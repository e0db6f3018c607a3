#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "event/epoll.hpp"
#include "log/log_limiter.hpp"
#include "net/udp_socket.hpp"
#include "udp/datagram_batch.hpp"
#include "udp/echo_pass.hpp"
#include "udp/guard.hpp"
#include "udp/listener_stats.hpp"
#include "udp/rate_table.hpp"

namespace echod {

// What every worker's UDP sockets run with: built by the supervisor from the `udp:` section,
// the ports echod serves UDP on and the host's interfaces; replaced whole on reload.
struct UdpEchoSettings {
  udp::Guard guard{udp::GuardConfig{}};
  udp::RateExemption exempt;
  udp::RateTable* rates = nullptr;  // shared by the workers, owned by the supervisor
  std::size_t max_datagram = 65527;
  unsigned loopback_ifindex = 1;
};

// The UDP echo sockets of one worker, one per UDP listener: registered EPOLLONESHOT in the
// worker's epoll, served by one budgeted echo pass per wake-up (udp::run_echo_pass: at most
// 8 recvmmsg() batches), then re-armed, so that a flood on one socket cannot starve the
// worker's TCP connections. Removed sockets echo what the kernel queued on them before they
// close.
//
// Thread contract: the worker's thread only (the counters it adds to are atomics that any
// thread may read).
class UdpEndpoints {
 public:
  // Tokens of UDP sockets: the worker's listener tag bit, this bit and the listener id.
  static constexpr std::uint64_t kTokenBit = std::uint64_t{1} << 62;

  // `tag`: the worker's bit for non-connection tokens. `open_sockets` is kept equal to size().
  UdpEndpoints(unsigned worker_index, Epoll& epoll, std::uint64_t tag,
               std::atomic<std::uint32_t>& open_sockets);
  UdpEndpoints(const UdpEndpoints&) = delete;
  UdpEndpoints& operator=(const UdpEndpoints&) = delete;
  ~UdpEndpoints() = default;

  [[nodiscard]] bool owns(std::uint64_t token) const noexcept {
    return (token & (tag_ | kTokenBit)) == (tag_ | kTokenBit);
  }
  [[nodiscard]] bool empty() const noexcept { return endpoints_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return endpoints_.size(); }

  void apply(std::shared_ptr<const UdpEchoSettings> settings);
  // Starts serving `socket`. Throws std::system_error when epoll refuses it.
  void add(std::uint32_t id, UdpSocket socket, std::shared_ptr<udp::ListenerStats> stats);
  // Echoes what is queued on the listener's socket, then closes it. False if not ours.
  bool remove(std::uint32_t id);
  // The same for every socket.
  void close_all();
  // Closes every socket now, without echoing what is queued (an immediate stop).
  void abandon_all();
  // Steers the datagrams of each socket's SO_REUSEPORT group to the group's first `count`
  // sockets (0: all of them), as for TCP listeners (ReuseportSocket::steer_to_first).
  void steer(unsigned count);
  // One wake-up of the socket of `token`: one echo pass, then re-armed.
  void on_ready(std::uint64_t token);

 private:
  struct Endpoint {
    std::uint32_t id;
    UdpSocket socket;
    std::shared_ptr<udp::ListenerStats> stats;
    // The socket's cumulative SO_RXQ_OVFL count as last seen (the kernel wraps it at 2^32).
    std::uint32_t kernel_drops_seen = 0;
  };

  [[nodiscard]] std::uint64_t token_of(std::uint32_t id) const noexcept {
    return tag_ | kTokenBit | id;
  }
  // One budgeted pass; adds its counts and logs its drops. Returns how it ended.
  udp::EchoPassEnd pass(Endpoint& endpoint);
  void drain_and_close(Endpoint& endpoint);
  void isolate(const UdpSocket& socket);
  void log_drops(const Endpoint& endpoint, const udp::EchoPassCounters& counters);
  void publish_size() noexcept;

  const unsigned worker_index_;
  Epoll& epoll_;
  const std::uint64_t tag_;
  std::atomic<std::uint32_t>& open_sockets_;
  std::shared_ptr<const UdpEchoSettings> settings_ = std::make_shared<UdpEchoSettings>();
  std::unique_ptr<udp::DatagramBatch> batch_;  // made on first use, for settings_->max_datagram
  std::vector<Endpoint> endpoints_;
  LogLimiter receive_error_log_;
};

}  // namespace echod
