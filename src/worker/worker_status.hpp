#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "net/accept_error.hpp"
#include "net/close_reason.hpp"
#include "proxy/proxy_header.hpp"
#include "worker/reject_reason.hpp"

namespace echod {

// Every reason table has one row per value of its enum.
static_assert(kCloseReasonCount == static_cast<std::size_t>(CloseReason::kSendStall) + 1);
static_assert(kRejectReasonCount == static_cast<std::size_t>(RejectReason::kAccessDenied) + 1);
static_assert(kAcceptErrorClassCount == static_cast<std::size_t>(AcceptErrorClass::kOther) + 1);

// What a worker publishes about itself: the one set of counters behind `echod --status`,
// STATUS= and the Prometheus metrics. Written only by the worker's thread (plain relaxed
// stores: one writer, no read-modify-write needed), read by the supervisor at any time. Each
// worker has its own, on its own cache line, so counting costs the hot path no shared writes.
struct alignas(64) WorkerStatus {
  std::atomic<bool> running{false};   // in its loop, listeners registered
  std::atomic<bool> finished{false};  // its loop has ended
  std::atomic<bool> failed{false};    // ended by an unexpected error (logged)
  std::atomic<std::uint64_t> processed_commands{0};
  std::atomic<std::uint32_t> listeners{0};    // listening sockets still open
  std::atomic<std::uint32_t> udp_sockets{0};  // UDP echo sockets still open
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> accepted_total{0};
  std::atomic<std::uint64_t> closed_total{0};
  // Connections moved to another worker (when retiring, or after a growth).
  std::atomic<std::uint64_t> handed_over{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  // Indexed by CloseReason.
  std::array<std::atomic<std::uint64_t>, kCloseReasonCount> closed_by_reason{};
  // Connections refused right after accept, indexed by RejectReason.
  std::array<std::atomic<std::uint64_t>, kRejectReasonCount> rejected_by_reason{};
  // Indexed by AcceptErrorClass.
  std::array<std::atomic<std::uint64_t>, kAcceptErrorClassCount> accept_errors{};
  std::atomic<std::uint64_t> accept_pauses{0};  // fd/memory exhaustion pauses
  // PROXY listeners: complete headers, indexed by ProxyHeaderKind; connections closed before
  // their header was accepted, indexed by ProxyReject.
  std::array<std::atomic<std::uint64_t>, kProxyHeaderKindCount> proxy_headers{};
  std::array<std::atomic<std::uint64_t>, kProxyRejectCount> proxy_rejected{};

  // For the owning worker: adds without a locked instruction (single writer).
  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t delta) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
};

// A sum of workers' counters, in plain numbers: what the supervisor keeps of the workers that
// retired (so that totals never go back), and what a scrape adds up.
struct WorkerTotals {
  std::uint64_t accepted = 0;
  std::uint64_t closed = 0;
  std::uint64_t handed_over = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t accept_pauses = 0;
  std::array<std::uint64_t, kCloseReasonCount> closed_by_reason{};
  std::array<std::uint64_t, kRejectReasonCount> rejected_by_reason{};
  std::array<std::uint64_t, kAcceptErrorClassCount> accept_errors{};
  std::array<std::uint64_t, kProxyHeaderKindCount> proxy_headers{};
  std::array<std::uint64_t, kProxyRejectCount> proxy_rejected{};

  void add(const WorkerStatus& status) noexcept {
    constexpr auto kRelaxed = std::memory_order_relaxed;
    accepted += status.accepted_total.load(kRelaxed);
    closed += status.closed_total.load(kRelaxed);
    handed_over += status.handed_over.load(kRelaxed);
    bytes_received += status.bytes_received.load(kRelaxed);
    bytes_sent += status.bytes_sent.load(kRelaxed);
    accept_pauses += status.accept_pauses.load(kRelaxed);
    for (std::size_t i = 0; i < kCloseReasonCount; ++i) {
      closed_by_reason[i] += status.closed_by_reason[i].load(kRelaxed);
    }
    for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
      rejected_by_reason[i] += status.rejected_by_reason[i].load(kRelaxed);
    }
    for (std::size_t i = 0; i < kAcceptErrorClassCount; ++i) {
      accept_errors[i] += status.accept_errors[i].load(kRelaxed);
    }
    for (std::size_t i = 0; i < kProxyHeaderKindCount; ++i) {
      proxy_headers[i] += status.proxy_headers[i].load(kRelaxed);
    }
    for (std::size_t i = 0; i < kProxyRejectCount; ++i) {
      proxy_rejected[i] += status.proxy_rejected[i].load(kRelaxed);
    }
  }

  [[nodiscard]] std::uint64_t rejected() const noexcept {
    std::uint64_t sum = 0;
    for (std::uint64_t count : rejected_by_reason) sum += count;
    return sum;
  }
};

// The counters' indexes by name, for `echod --status` and the metrics' `reason`/`class` labels:
// the `label` column of each reason's table.
inline constexpr auto kCloseReasonLabels = labels_of<CloseReason>();
inline constexpr auto kRejectReasonLabels = labels_of<RejectReason>();
inline constexpr auto kAcceptErrorLabels = labels_of<AcceptErrorClass>();
inline constexpr auto kProxyHeaderKindLabels = labels_of<ProxyHeaderKind>();
inline constexpr auto kProxyRejectLabels = labels_of<ProxyReject>();

}  // namespace echod
