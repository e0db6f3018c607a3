#include "worker/admission.hpp"

#include <algorithm>

namespace echod {

void Admission::set_limits(const Limits& limits) {
  MutexLock lock(mutex_);
  limits_ = limits;
}

void Admission::refill(Entry& entry, Clock::time_point now) const {
  std::chrono::duration<double> elapsed = now - entry.refilled;
  entry.tokens = std::min(limits_.accept_burst_per_peer,
                          entry.tokens + elapsed.count() * limits_.accept_rate_per_peer);
  entry.refilled = now;
}

Admission::Decision Admission::admit(const PeerKey& peer, Clock::time_point now, PerPeer per_peer) {
  MutexLock lock(mutex_);
  if (now - last_sweep_ >= std::chrono::seconds(1)) sweep(now);
  if (connections_ >= limits_.max_connections) return {Verdict::kMaxConnections, false};
  // Exempt: no entry is made, so the peer leaves no trace in the table.
  if (per_peer == PerPeer::kExempt) {
    ++connections_;
    return {Verdict::kAdmit, false};
  }

  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= kMaxTrackedPeers) {
      ++connections_;
      return {Verdict::kAdmit, false};
    }
    it = peers_.emplace(peer, Entry{0, limits_.accept_burst_per_peer, now}).first;
  }
  Entry& entry = it->second;
  if (limits_.accept_rate_per_peer > 0) {
    refill(entry, now);
    if (entry.tokens < 1) return {Verdict::kAcceptRate, false};
  }
  if (limits_.max_connections_per_peer > 0 &&
      entry.connections >= limits_.max_connections_per_peer) {
    return {Verdict::kMaxPerPeer, false};
  }
  if (limits_.accept_rate_per_peer > 0) entry.tokens -= 1;
  ++entry.connections;
  ++connections_;
  return {Verdict::kAdmit, true};
}

void Admission::release(const PeerKey& peer, bool counted) {
  MutexLock lock(mutex_);
  if (connections_ > 0) --connections_;
  if (!counted) return;
  auto it = peers_.find(peer);
  if (it != peers_.end() && it->second.connections > 0) --it->second.connections;
}

// Forgets peers with no connection whose bucket has refilled: they are indistinguishable from
// peers never seen. Bounded work: runs at most once a second.
void Admission::sweep(Clock::time_point now) {
  last_sweep_ = now;
  for (auto it = peers_.begin(); it != peers_.end();) {
    Entry& entry = it->second;
    if (entry.connections == 0) {
      refill(entry, now);
      if (limits_.accept_rate_per_peer <= 0 || entry.tokens >= limits_.accept_burst_per_peer) {
        it = peers_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

std::uint32_t Admission::connections() const {
  MutexLock lock(mutex_);
  return connections_;
}

std::size_t Admission::tracked_peers() const {
  MutexLock lock(mutex_);
  return peers_.size();
}

}  // namespace echod
