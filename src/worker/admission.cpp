#include "worker/admission.hpp"

#include <algorithm>

namespace echod {

void AdmissionTicket::reset() noexcept {
  if (admission_ == nullptr) return;
  admission_->release(peer_, counted_);
  admission_ = nullptr;
}

void Admission::set_limits(const Limits& limits) {
  MutexLock lock(mutex_);
  limits_ = limits;
}

TokenRate Admission::rate() const {
  return {limits_.accept_rate_per_peer, limits_.accept_burst_per_peer};
}

AdmissionResult Admission::admit(const SocketAddress& client, const LimitsConfig& rules,
                                 Clock::time_point now, AdmissionTicket reserved) {
  const PeerKey peer = PeerKey::of(client);
  if (!rules.access.permits(client)) return refuse(RejectReason::kAccessDenied, peer);
  PerPeer per_peer = rules.is_exempt(client) ? PerPeer::kExempt : PerPeer::kLimited;
  AdmissionResult result = take_budget(peer, per_peer, now, reserved.held());
  // Admitted: the new ticket gives the unit back, the reserved one must not.
  if (result.admitted()) reserved.admission_ = nullptr;
  return result;
}

AdmissionResult Admission::refuse(RejectReason reason, const PeerKey& peer) {
  MutexLock lock(refused_mutex_);
  last_refused_.at(static_cast<std::size_t>(reason)) = peer;
  return {reason, {}};
}

AdmissionResult Admission::reserve(const PeerKey& peer) {
  MutexLock lock(mutex_);
  if (connections_ >= limits_.max_connections) return refuse(RejectReason::kMaxConnections, peer);
  ++connections_;
  return {std::nullopt, AdmissionTicket(*this, PeerKey{}, false)};
}

AdmissionResult Admission::take_budget(const PeerKey& peer, PerPeer per_peer, Clock::time_point now,
                                       bool carried) {
  MutexLock lock(mutex_);
  if (now - last_sweep_ >= std::chrono::seconds(1)) sweep(now);
  if (!carried && connections_ >= limits_.max_connections) {
    return refuse(RejectReason::kMaxConnections, peer);
  }
  const std::uint32_t unit = carried ? 0 : 1;
  // Exempt: no entry is made, so the peer leaves no trace in the table.
  if (per_peer == PerPeer::kExempt) {
    connections_ += unit;
    return {std::nullopt, AdmissionTicket(*this, peer, false)};
  }

  const TokenRate rate = this->rate();
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= kMaxTrackedPeers) {
      connections_ += unit;
      return {std::nullopt, AdmissionTicket(*this, peer, false)};
    }
    it = peers_.emplace(peer, Entry{0, TokenBucket(rate, now)}).first;
  }
  Entry& entry = it->second;
  if (rate.per_second > 0) {
    entry.tokens.refill(rate, now);
    if (!entry.tokens.has_token()) return refuse(RejectReason::kAcceptRate, peer);
  }
  if (limits_.max_connections_per_peer > 0 &&
      entry.connections >= limits_.max_connections_per_peer) {
    return refuse(RejectReason::kMaxPerIp, peer);
  }
  if (rate.per_second > 0) entry.tokens.take();
  ++entry.connections;
  connections_ += unit;
  return {std::nullopt, AdmissionTicket(*this, peer, true)};
}

void Admission::release(const PeerKey& peer, bool counted) noexcept {
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
  const TokenRate rate = this->rate();
  for (auto it = peers_.begin(); it != peers_.end();) {
    Entry& entry = it->second;
    if (entry.connections == 0) {
      entry.tokens.refill(rate, now);
      if (rate.per_second <= 0 || entry.tokens.full(rate)) {
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

Admission::LastRefused Admission::last_refused() const {
  MutexLock lock(refused_mutex_);
  return last_refused_;
}

std::vector<Admission::ClientCount> Admission::top_clients(std::size_t count) const {
  // A min-heap of the best `count` so far: one pass, whatever the size of the table.
  auto more = [](const ClientCount& a, const ClientCount& b) {
    return a.connections > b.connections;
  };
  std::vector<ClientCount> top;
  if (count == 0) return top;
  top.reserve(count);
  {
    MutexLock lock(mutex_);
    for (const auto& [peer, entry] : peers_) {
      if (entry.connections == 0) continue;
      if (top.size() < count) {
        top.push_back({peer, entry.connections});
        std::push_heap(top.begin(), top.end(), more);
      } else if (entry.connections > top.front().connections) {
        std::pop_heap(top.begin(), top.end(), more);
        top.back() = {peer, entry.connections};
        std::push_heap(top.begin(), top.end(), more);
      }
    }
  }
  std::sort(top.begin(), top.end(), [](const ClientCount& a, const ClientCount& b) {
    if (a.connections != b.connections) return a.connections > b.connections;
    return a.client.bytes < b.client.bytes;
  });
  return top;
}

}  // namespace echod
