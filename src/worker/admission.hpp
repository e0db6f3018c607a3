#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "sys/cidr.hpp"
#include "sys/mutex.hpp"

namespace echod {

// Admission control shared by every worker: the total connection budget, connections per client
// address and the accept rate per client address (a token bucket). Consulted once per accepted
// connection and once per close, never per byte.
//
// Thread contract: every method is safe to call from any thread.
class Admission {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::uint32_t max_connections = 10000;
    std::uint32_t max_connections_per_peer = 32;  // 0: unlimited
    double accept_rate_per_peer = 100;            // new connections per second; 0: unlimited
    double accept_burst_per_peer = 200;
  };

  enum class Verdict { kAdmit, kMaxConnections, kMaxPerPeer, kAcceptRate };

  // What admit() decided. On kAdmit the caller holds one unit of the total budget and, when
  // `counted` is set, one of its peer's slots; it hands them back with release(peer, counted).
  // A peer beyond kMaxTrackedPeers is not counted. The caller keeps `counted` with the
  // connection rather than leaving release() to guess: an entry for the peer may have been made
  // since.
  struct Decision {
    Verdict verdict = Verdict::kAdmit;
    bool counted = false;
  };

  // Tracked peers at the most; a peer beyond that is admitted against the total budget only.
  static constexpr std::size_t kMaxTrackedPeers = 1 << 20;

  void set_limits(const Limits& limits);

  // On kAdmit the caller owns one unit of the budget and must call release() when it closes.
  Decision admit(const PeerKey& peer, Clock::time_point now);
  // `counted`: Decision::counted of the connection's admission.
  void release(const PeerKey& peer, bool counted);

  [[nodiscard]] std::uint32_t connections() const;
  [[nodiscard]] std::size_t tracked_peers() const;

 private:
  struct Entry {
    std::uint32_t connections = 0;
    double tokens = 0;
    Clock::time_point refilled{};
  };

  void refill(Entry& entry, Clock::time_point now) const ECHOD_REQUIRES(mutex_);
  void sweep(Clock::time_point now) ECHOD_REQUIRES(mutex_);

  mutable Mutex mutex_;
  Limits limits_ ECHOD_GUARDED_BY(mutex_);
  std::uint32_t connections_ ECHOD_GUARDED_BY(mutex_) = 0;
  std::unordered_map<PeerKey, Entry, PeerKeyHash> peers_ ECHOD_GUARDED_BY(mutex_);
  Clock::time_point last_sweep_ ECHOD_GUARDED_BY(mutex_){};
};

std::string_view to_string(Admission::Verdict verdict);

}  // namespace echod
