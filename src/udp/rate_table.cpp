#include "udp/rate_table.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <random>

#include "sys/socket_address.hpp"

namespace echod::udp {
namespace {

constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();
// Requests decided per pass over the shards; admit() loops for longer spans.
constexpr std::size_t kChunk = 64;
constexpr unsigned kShardBits = 6;
static_assert(RateTable::kShardCount == std::size_t{1} << kShardBits);

constexpr std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::int64_t to_ns(RateTable::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Adds `rate` per second for `elapsed_ns` to `tokens`, capped at `burst`.
double refill(double tokens, double rate, double burst, std::int64_t elapsed_ns) {
  if (elapsed_ns <= 0) return std::min(tokens, burst);
  return std::min(burst, tokens + rate * static_cast<double>(elapsed_ns) / 1e9);
}

// How long an idle source takes to refill both buckets: after that its slot holds nothing a
// fresh one would not.
std::int64_t forget_after_ns(const RateLimits& limits) {
  double seconds = 0;
  if (limits.datagrams_per_source > 0) {
    seconds = std::max(seconds, limits.datagram_burst_per_source / limits.datagrams_per_source);
  }
  if (limits.bytes_per_source > 0) {
    seconds = std::max(seconds, limits.byte_burst_per_source / limits.bytes_per_source);
  }
  return static_cast<std::int64_t>(std::min(seconds, 1e6) * 1e9);
}

}  // namespace

std::vector<Cidr> RateExemption::loopback() {
  return {*Cidr::parse("127.0.0.0/8").cidr, *Cidr::parse("::1/128").cidr};
}

bool RateExemption::covers(const sockaddr* source, socklen_t length) const {
  if (networks_.empty() || source == nullptr) return false;
  const SocketAddress peer = SocketAddress::from_sockaddr(source, length);
  return std::any_of(networks_.begin(), networks_.end(),
                     [&peer](const Cidr& network) { return network.contains(peer); });
}

struct RateTable::Slot {
  Key key{};
  std::int64_t refilled_ns = kEmpty;  // kEmpty: free
  double datagrams = 0;
  double bytes = 0;
};

struct alignas(64) RateTable::Shard {
  Mutex mutex;
  RateLimits limits ECHOD_GUARDED_BY(mutex);
  std::int64_t forget_after_ns ECHOD_GUARDED_BY(mutex) = 0;
  std::vector<Slot> slots ECHOD_GUARDED_BY(mutex);
  // Written under the mutex, read by the metrics without it.
  std::atomic<std::size_t> used{0};
  std::atomic<std::uint64_t> evictions{0};
};

RateTable::RateTable(std::size_t capacity, const RateLimits& limits)
    : shard_slots_(
          std::bit_ceil(std::max(kProbeWindow, (capacity + kShardCount - 1) / kShardCount))),
      seed_((std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()),
      // NOLINTNEXTLINE(*-avoid-c-arrays): one allocation of shards that hold mutexes (immovable).
      shards_(std::make_unique<Shard[]>(kShardCount)) {
  for (std::size_t i = 0; i < kShardCount; ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mutex);
    shard.slots.assign(shard_slots_, Slot{});  // the only allocation: never resized
  }
  set_limits(limits);
}

RateTable::~RateTable() = default;

void RateTable::set_limits(const RateLimits& limits) {
  for (std::size_t i = 0; i < kShardCount; ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mutex);
    shard.limits = limits;
    shard.forget_after_ns = forget_after_ns(limits);
  }
  MutexLock lock(global_mutex_);
  global_limits_ = limits;
  global_tokens_ = std::min(global_tokens_, limits.datagram_burst_global);
}

RateTable::Key RateTable::key_of(const sockaddr* source, socklen_t length) {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
  if (source != nullptr && source->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    Key key{};
    std::memcpy(&key.high, &reinterpret_cast<const sockaddr_in6*>(source)->sin6_addr, 8);
    return key;  // the /64; `low` stays 0
  }
  if (source != nullptr && source->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    // Bit 32 set: never equal to an IPv6 key, whose `low` is 0.
    return {0, (std::uint64_t{1} << 32) |
                   ntohl(reinterpret_cast<const sockaddr_in*>(source)->sin_addr.s_addr)};
  }
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  return {0, 0};
}

std::uint64_t RateTable::hash(const Key& key) const { return mix(mix(key.high ^ seed_) ^ key.low); }

void RateTable::admit(std::span<const Request> requests,
                      std::span<std::optional<DropReason>> verdicts, Clock::time_point now) {
  const std::int64_t now_ns = to_ns(now);
  for (std::size_t begin = 0; begin < requests.size(); begin += kChunk) {
    const std::size_t count = std::min(kChunk, requests.size() - begin);
    auto chunk = requests.subspan(begin, count);
    auto out = verdicts.subspan(begin, count);
    std::array<std::uint64_t, kChunk> hashes{};
    std::array<Key, kChunk> keys{};
    std::uint64_t touched = 0;  // bit s: some request of the chunk falls in shard s
    for (std::size_t i = 0; i < count; ++i) {
      out[i].reset();
      if (chunk[i].exempt) continue;
      keys[i] = key_of(chunk[i].source, chunk[i].source_length);
      hashes[i] = hash(keys[i]);
      touched |= std::uint64_t{1} << (hashes[i] >> (64 - kShardBits));
    }
    while (touched != 0) {
      auto s = static_cast<std::uint64_t>(std::countr_zero(touched));
      touched &= touched - 1;
      admit_in_shard(shards_[s], chunk, std::span(hashes).first(count),
                     std::span(keys).first(count), out, s, now_ns);
    }
    std::size_t passed = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!chunk[i].exempt && !out[i]) ++passed;
    }
    if (passed == 0) continue;
    std::size_t allowed = admit_global(passed, now_ns);
    if (allowed == passed) continue;
    for (std::size_t i = 0; i < count; ++i) {
      if (chunk[i].exempt || out[i]) continue;
      if (allowed > 0) {
        --allowed;
      } else {
        out[i] = DropReason::kRateLimitedGlobal;
      }
    }
  }
}

void RateTable::admit_in_shard(Shard& shard, std::span<const Request> requests,
                               std::span<const std::uint64_t> hashes, std::span<const Key> keys,
                               std::span<std::optional<DropReason>> verdicts,
                               std::uint64_t shard_index, std::int64_t now_ns) {
  MutexLock lock(shard.mutex);
  const RateLimits limits = shard.limits;  // a copy: read under the lock, used under it
  const bool count_datagrams = limits.datagrams_per_source > 0;
  const bool count_bytes = limits.bytes_per_source > 0;
  if (!count_datagrams && !count_bytes) return;
  const std::size_t mask = shard_slots_ - 1;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].exempt || (hashes[i] >> (64 - kShardBits)) != shard_index) continue;
    const Key& key = keys[i];
    const std::size_t home = static_cast<std::size_t>(hashes[i]) & mask;
    Slot* found = nullptr;
    Slot* free_slot = nullptr;
    Slot* forgotten = nullptr;
    Slot* stalest = nullptr;
    for (std::size_t k = 0; k < kProbeWindow; ++k) {
      Slot& slot = shard.slots[(home + k) & mask];
      if (slot.refilled_ns == kEmpty) {
        if (free_slot == nullptr) free_slot = &slot;
        continue;
      }
      if (slot.key.high == key.high && slot.key.low == key.low) {
        found = &slot;
        break;
      }
      if (forgotten == nullptr && now_ns - slot.refilled_ns >= shard.forget_after_ns) {
        forgotten = &slot;
      }
      if (stalest == nullptr || slot.refilled_ns < stalest->refilled_ns) stalest = &slot;
    }
    if (found == nullptr) {
      if (free_slot != nullptr) {
        found = free_slot;
        shard.used.fetch_add(1, std::memory_order_relaxed);
      } else if (forgotten != nullptr) {
        found = forgotten;
      } else {
        found = stalest;
        shard.evictions.fetch_add(1, std::memory_order_relaxed);
      }
      found->key = key;
      found->refilled_ns = now_ns;
      found->datagrams = limits.datagram_burst_per_source;
      found->bytes = limits.byte_burst_per_source;
    }
    Slot& slot = *found;
    // Workers' clocks are read at slightly different moments: never move a bucket backwards.
    const std::int64_t elapsed = now_ns - slot.refilled_ns;
    if (elapsed > 0) slot.refilled_ns = now_ns;
    slot.datagrams = refill(slot.datagrams, limits.datagrams_per_source,
                            limits.datagram_burst_per_source, elapsed);
    slot.bytes = refill(slot.bytes, limits.bytes_per_source, limits.byte_burst_per_source, elapsed);
    const auto bytes = static_cast<double>(requests[i].bytes);
    const bool datagram_ok = !count_datagrams || slot.datagrams >= 1.0;
    const bool bytes_ok = !count_bytes || slot.bytes >= bytes;
    if (datagram_ok && bytes_ok) {
      if (count_datagrams) slot.datagrams -= 1.0;
      if (count_bytes) slot.bytes -= bytes;
    } else {
      verdicts[i] = DropReason::kRateLimitedSource;
    }
  }
}

std::size_t RateTable::admit_global(std::size_t count, std::int64_t now_ns) {
  MutexLock lock(global_mutex_);
  const RateLimits limits = global_limits_;
  if (limits.datagrams_global <= 0) return count;
  if (!global_started_) {
    global_started_ = true;
    global_tokens_ = limits.datagram_burst_global;
    global_refilled_ns_ = now_ns;
  }
  const std::int64_t elapsed = now_ns - global_refilled_ns_;
  if (elapsed > 0) global_refilled_ns_ = now_ns;
  global_tokens_ =
      refill(global_tokens_, limits.datagrams_global, limits.datagram_burst_global, elapsed);
  // Compared as doubles: a burst configured beyond what size_t holds must not overflow the cast.
  const std::size_t allowed = global_tokens_ >= static_cast<double>(count)
                                  ? count
                                  : static_cast<std::size_t>(std::max(0.0, global_tokens_));
  global_tokens_ -= static_cast<double>(allowed);
  return allowed;
}

std::size_t RateTable::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShardCount; ++i) {
    total += shards_[i].used.load(std::memory_order_relaxed);
  }
  return total;
}

std::uint64_t RateTable::evictions() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kShardCount; ++i) {
    total += shards_[i].evictions.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace echod::udp
