#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace echod::udp {

// Why a datagram got no echo. Every reason has one metric label (the `reason` label of
// echod_udp_datagrams_dropped_total) and one text for the rate-limited log line, both in
// kDropReasons below, so that a new reason cannot be counted without being named.
enum class DropReason : std::uint8_t {
  kSrcPortZero,        // source port 0: no client sends from it
  kPrivilegedSrcPort,  // source port below min_source_port (1024): another service's port
  kDeniedSrcPort,      // source port on deny_source_ports (NFS, SSDP, mDNS, memcached, ...)
  kOwnPort,            // source port is one echod itself serves UDP on: an echo loop
  kBadSrcAddr,         // a source no client can have (0/8, multicast, broadcast, ::, mapped)
  kLoopbackSrcOffLo,   // a loopback source that arrived on another interface: spoofed
  kNonUnicastDst,      // sent to a broadcast or multicast address that reached a wildcard bind
  kAccessDenied,       // refused by the access list
  kOversize,           // longer than max_datagram, or truncated by the kernel (MSG_TRUNC)
  kRateLimitedSource,  // over its source's datagram or byte rate
  kRateLimitedGlobal,  // over the process-wide datagram rate
  kTxDropped,          // the reply could not be queued (EAGAIN, ENOBUFS): never retried
  kTxFailed,           // the reply was refused by the kernel (EACCES, EPERM, unreachable...)
};

inline constexpr std::size_t kDropReasonCount = 13;

struct DropReasonInfo {
  DropReason reason;
  std::string_view label;     // metric label, snake_case
  std::string_view log_text;  // completes "UDP datagram from ADDR:PORT dropped: ..."
};

inline constexpr std::array<DropReasonInfo, kDropReasonCount> kDropReasons = {{
    {DropReason::kSrcPortZero, "src_port_zero", "source port 0"},
    {DropReason::kPrivilegedSrcPort, "privileged_src_port",
     "source port below min_source_port (a service port, possible echo loop)"},
    {DropReason::kDeniedSrcPort, "denied_src_port",
     "source port on deny_source_ports (a known reflector or service port)"},
    {DropReason::kOwnPort, "own_port",
     "source port is a port echod serves UDP echo on (possible echo loop)"},
    {DropReason::kBadSrcAddr, "bad_src_addr",
     "source address cannot be a client (unspecified, multicast, broadcast, reserved or "
     "IPv4-mapped): spoofed"},
    {DropReason::kLoopbackSrcOffLo, "loopback_src_off_lo",
     "loopback source address arrived on a non-loopback interface: spoofed"},
    {DropReason::kNonUnicastDst, "non_unicast_dst", "sent to a broadcast or multicast address"},
    {DropReason::kAccessDenied, "access_denied", "source refused by udp.access"},
    {DropReason::kOversize, "oversize", "longer than max_datagram"},
    {DropReason::kRateLimitedSource, "rate_limited_source",
     "source over its datagram or byte rate"},
    {DropReason::kRateLimitedGlobal, "rate_limited_global", "over the global datagram rate"},
    {DropReason::kTxDropped, "tx_dropped", "reply not sent: socket send buffer full"},
    {DropReason::kTxFailed, "tx_failed", "reply refused by the kernel"},
}};

constexpr const DropReasonInfo& info(DropReason reason) {
  return kDropReasons[static_cast<std::size_t>(reason)];
}

constexpr std::string_view to_label(DropReason reason) { return info(reason).label; }

// The table is in enum order: info(r).reason == r for every r.
constexpr bool drop_reasons_in_order() {
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    if (static_cast<std::size_t>(kDropReasons[i].reason) != i) return false;
  }
  return true;
}
static_assert(drop_reasons_in_order(), "kDropReasons must list the reasons in enum order");
static_assert(static_cast<std::size_t>(DropReason::kTxFailed) + 1 == kDropReasonCount);

// One counter per reason. Single-threaded: each worker owns its own and the metrics collector
// sums them (as for TCP's per-worker counters).
class DropCounts {
 public:
  void add(DropReason reason, std::uint64_t n = 1) {
    counts_[static_cast<std::size_t>(reason)] += n;
  }
  [[nodiscard]] std::uint64_t count(DropReason reason) const {
    return counts_[static_cast<std::size_t>(reason)];
  }
  [[nodiscard]] std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (auto n : counts_) sum += n;
    return sum;
  }

 private:
  std::array<std::uint64_t, kDropReasonCount> counts_{};
};

}  // namespace echod::udp
