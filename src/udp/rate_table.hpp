#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "sys/cidr.hpp"
#include "sys/mutex.hpp"
#include "udp/drop_reason.hpp"

namespace echod::udp {

// Rates in units per second, bursts in units. A rate of 0 switches that limit off.
struct RateLimits {
  double datagrams_per_source = 200;  // per IPv4 address or IPv6 /64
  double datagram_burst_per_source = 400;
  double bytes_per_source = 256 * 1024;
  double byte_burst_per_source = 512 * 1024;
  double datagrams_global = 20000;  // the whole process
  double datagram_burst_global = 40000;

  friend bool operator==(const RateLimits&, const RateLimits&) = default;
};

// The sources the rate limits do not apply to (udp.rate_limit_exempt). Default: loopback, which
// cannot be spoofed from off the host (the guard drops loopback sources arriving on any other
// interface) and which local probes and benchmarks use. Kept apart from the table, as TCP's
// limits.exempt is kept apart from Admission: the worker checks its own copy, no list is
// searched under a shared lock.
class RateExemption {
 public:
  RateExemption() : RateExemption(loopback()) {}
  explicit RateExemption(std::vector<Cidr> networks) : networks_(std::move(networks)) {}

  static std::vector<Cidr> loopback();  // 127.0.0.0/8 and ::1/128

  [[nodiscard]] bool covers(const sockaddr* source, socklen_t length) const;
  [[nodiscard]] bool empty() const { return networks_.empty(); }

 private:
  std::vector<Cidr> networks_;
};

// Per-source token buckets (datagrams and bytes; IPv4 address or IPv6 /64) and one global
// datagram bucket, shared by every worker, in memory fixed at construction.
//
// Why one table shared by the workers: SO_REUSEPORT hashes the 4-tuple, so one source sending
// from many source ports lands on every worker; per-worker tables would give it N times its
// limit. Steering every source to one worker with a reuseport BPF program would keep the table
// per worker and lock-free, but ties rate limiting to the steering program (which changes on
// every worker resize, and lets one heavy source pin one worker). Instead the table is split in
// kShardCount shards by a keyed hash of the source, each with its own mutex, and admit() takes
// a whole recvmmsg batch: it locks each shard the batch touches once (a batch from one source:
// one lock), never once per datagram. Two workers wait for each other only when their batches
// hit the same shard at the same moment, and then for a few probes per datagram: less than a
// microsecond per batch. bench/udp_rate_table_timing measures it.
//
// Memory is fixed: `capacity` slots (rounded up to a power of two, at least kProbeWindow per
// shard) allocated once. A new source is put in its home slot or one of the next
// kProbeWindow - 1; when all of them are taken, the slot whose bucket is already full again
// (idle long enough to have forgotten nothing) is reused, else the stalest slot is evicted and
// counted (NSD's rrl.c works the same way). A spray of spoofed sources can thus evict a real
// source's bucket, which then restarts full: a bounded gift of one burst, and the global bucket
// still caps the total. The hash is keyed per process, so which sources share a probe window
// cannot be chosen from outside.
//
// Thread contract: every method is safe to call from any thread.
class RateTable {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::size_t kShardCount = 64;
  static constexpr std::size_t kProbeWindow = 8;
  static constexpr std::size_t kDefaultCapacity = 65536;

  // One datagram to decide on.
  struct Request {
    const sockaddr* source = nullptr;
    socklen_t source_length = 0;
    std::size_t bytes = 0;  // payload length
    bool exempt = false;    // RateExemption::covers(source): passes, takes no token
  };

  explicit RateTable(std::size_t capacity = kDefaultCapacity, const RateLimits& limits = {});
  ~RateTable();
  RateTable(const RateTable&) = delete;
  RateTable& operator=(const RateTable&) = delete;

  // New limits apply from the next batch on; buckets keep their tokens (capped at the new
  // bursts).
  void set_limits(const RateLimits& limits);

  // Decides for requests[i], in order: verdicts[i] is empty to echo it, or kRateLimitedSource /
  // kRateLimitedGlobal. A datagram dropped by the global bucket has used its source's tokens.
  // `verdicts` must be as long as `requests`.
  void admit(std::span<const Request> requests, std::span<std::optional<DropReason>> verdicts,
             Clock::time_point now);

  [[nodiscard]] std::size_t capacity() const { return shard_slots_ * kShardCount; }
  // Sources tracked now (at most capacity()).
  [[nodiscard]] std::size_t size() const;
  // Sources pushed out of the table to make room for another.
  [[nodiscard]] std::uint64_t evictions() const;

 private:
  struct Slot;
  struct Shard;
  struct Key {
    std::uint64_t high;
    std::uint64_t low;
  };

  static Key key_of(const sockaddr* source, socklen_t length);
  [[nodiscard]] std::uint64_t hash(const Key& key) const;
  // Per-source verdicts for the requests whose hash falls in shard `shard_index`, under its lock.
  void admit_in_shard(Shard& shard, std::span<const Request> requests,
                      std::span<const std::uint64_t> hashes, std::span<const Key> keys,
                      std::span<std::optional<DropReason>> verdicts, std::uint64_t shard_index,
                      std::int64_t now_ns);
  std::size_t admit_global(std::size_t count, std::int64_t now_ns);

  std::size_t shard_slots_;  // slots per shard, a power of two
  std::uint64_t seed_;
  std::unique_ptr<Shard[]> shards_;  // NOLINT(cppcoreguidelines-avoid-c-arrays): fixed count
  Mutex global_mutex_;
  RateLimits global_limits_ ECHOD_GUARDED_BY(global_mutex_);
  double global_tokens_ ECHOD_GUARDED_BY(global_mutex_) = 0;
  std::int64_t global_refilled_ns_ ECHOD_GUARDED_BY(global_mutex_) = 0;
  bool global_started_ ECHOD_GUARDED_BY(global_mutex_) = false;
};

}  // namespace echod::udp
