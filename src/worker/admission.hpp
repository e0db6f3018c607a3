#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "sys/cidr.hpp"
#include "sys/mutex.hpp"
#include "sys/socket_address.hpp"
#include "worker/admission_ticket.hpp"
#include "worker/reject_reason.hpp"
#include "worker/token_bucket.hpp"

namespace echod {

// What Admission::admit() decided: a ticket that holds the admitted connection's share of the
// budget, or why the client is refused.
struct AdmissionResult {
  std::optional<RejectReason> refused;  // empty: admitted
  AdmissionTicket ticket;               // held when admitted

  [[nodiscard]] bool admitted() const noexcept { return !refused.has_value(); }
};

// Admission control shared by every worker: the access filter (limits.access), the total
// connection budget, connections per client address and the accept rate per client address (a
// token bucket), with the addresses of limits.exempt held to the total budget only. Consulted
// once per new connection, at accept time or later (once the real client address is known),
// and once per close through the ticket, never per byte.
//
// The access and exempt lists are the caller's own copy (the worker's settings), searched before
// the shared lock is taken: no list is searched under it.
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

  // Tracked peers at the most; a peer beyond that is admitted against the total budget only.
  static constexpr std::size_t kMaxTrackedPeers = 1 << 20;

  void set_limits(const Limits& limits);

  // Decides on a new connection from `client` under `rules` (limits.access and limits.exempt;
  // the numeric limits are those of set_limits()). On admission the ticket holds one unit of
  // the total budget and, unless the client is exempt (or beyond kMaxTrackedPeers), one of its
  // address's slots and one of its tokens; an exempt client takes neither. A connection that
  // already holds `reserved` (from reserve()) passes its unit of the total budget to the new
  // ticket, so max_connections is not checked again; refused, the reserved unit is given back.
  AdmissionResult admit(const SocketAddress& client, const LimitsConfig& rules,
                        Clock::time_point now, AdmissionTicket reserved = {});
  // One unit of the total budget for a connection whose client is not known yet (it waits for
  // its PROXY header): refused at max_connections; no address's limits are touched. The
  // ticket is not counted(). A refusal is remembered under `peer`, the only address known yet
  // (the balancer's).
  AdmissionResult reserve(const PeerKey& peer);

  [[nodiscard]] std::uint32_t connections() const;
  [[nodiscard]] std::size_t tracked_peers() const;

  struct ClientCount {
    PeerKey client;
    std::uint32_t connections = 0;
  };
  // The `count` client addresses (IPv6: /64 prefixes) with the most open connections, most
  // first; addresses held to the per-address limits only (exempt ones are not tracked).
  [[nodiscard]] std::vector<ClientCount> top_clients(std::size_t count) const;

  // The client refused last for each reason (nothing for a reason that has not fired, and for
  // a connection refused before a PROXY header named its client).
  using LastRefused = std::array<std::optional<PeerKey>, kRejectReasonCount>;
  [[nodiscard]] LastRefused last_refused() const;

 private:
  friend class AdmissionTicket;

  // Whether the per-peer limits apply to a new connection.
  enum class PerPeer : std::uint8_t { kLimited, kExempt };

  struct Entry {
    std::uint32_t connections = 0;
    TokenBucket tokens;
  };

  // A refusal of `peer` for `reason`, remembered for last_refused().
  AdmissionResult refuse(RejectReason reason, const PeerKey& peer);
  // `carried`: the connection already holds its unit of the total budget.
  AdmissionResult take_budget(const PeerKey& peer, PerPeer per_peer, Clock::time_point now,
                              bool carried);
  // Called by the ticket, exactly once.
  void release(const PeerKey& peer, bool counted) noexcept;
  [[nodiscard]] TokenRate rate() const ECHOD_REQUIRES(mutex_);
  void sweep(Clock::time_point now) ECHOD_REQUIRES(mutex_);

  mutable Mutex mutex_;
  Limits limits_ ECHOD_GUARDED_BY(mutex_);
  std::uint32_t connections_ ECHOD_GUARDED_BY(mutex_) = 0;
  std::unordered_map<PeerKey, Entry, PeerKeyHash> peers_ ECHOD_GUARDED_BY(mutex_);
  // A lock of its own: an access-list refusal (a flood of denied peers) touches nothing else
  // and must not contend with the workers' admissions and closes.
  mutable Mutex refused_mutex_;
  LastRefused last_refused_ ECHOD_GUARDED_BY(refused_mutex_);
  Clock::time_point last_sweep_ ECHOD_GUARDED_BY(mutex_){};
};

}  // namespace echod
