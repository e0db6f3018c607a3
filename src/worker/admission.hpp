#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "sys/cidr.hpp"
#include "sys/mutex.hpp"

namespace echod {

// Admission control shared by every worker: the total connection budget, connections per client
// address and the accept rate per client address (a token bucket). Consulted once per accepted
// connection and once per close, never per byte. Which addresses are exempt from the per-address
// limits (limits.exempt) is decided by the caller, which has its own copy of the list: no list
// is searched under the shared lock.
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

  // Whether the per-peer limits apply to a new connection.
  enum class PerPeer { kLimited, kExempt };

  // What admit() decided. On kAdmit the caller holds one unit of the total budget and, when
  // `counted` is set, one of its peer's slots; it hands them back with release(peer, counted).
  // An exempt peer, or one beyond kMaxTrackedPeers, is not counted. The caller keeps `counted`
  // with the connection rather than asking again at close, because the exempt list or the
  // table may have changed by then.
  struct Decision {
    Verdict verdict = Verdict::kAdmit;
    bool counted = false;
  };

  // Tracked peers at the most; a peer beyond that is admitted against the total budget only.
  static constexpr std::size_t kMaxTrackedPeers = 1 << 20;

  void set_limits(const Limits& limits);

  // On kAdmit the caller owns one unit of the budget and must call release() when it closes.
  // An exempt peer is checked against the total budget only, and takes no token.
  Decision admit(const PeerKey& peer, Clock::time_point now, PerPeer per_peer = PerPeer::kLimited);
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

}  // namespace echod
