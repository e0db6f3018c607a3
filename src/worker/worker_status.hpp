#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace echod {

enum class RejectReason : std::uint8_t { kMaxConnections, kMaxPerIp, kAcceptRate, kAccessDenied };
inline constexpr std::size_t kRejectReasonCount = 4;

// What a worker publishes about itself. Written only by the worker's thread (plain relaxed
// stores: one writer, no read-modify-write needed), read by the supervisor at any time. Each
// worker has its own, on its own cache line, so counting costs the hot path no shared writes.
struct alignas(64) WorkerStatus {
  std::atomic<bool> running{false};   // in its loop, listeners registered
  std::atomic<bool> finished{false};  // its loop has ended
  std::atomic<bool> failed{false};    // ended by an unexpected error (logged)
  std::atomic<std::uint64_t> processed_commands{0};
  std::atomic<std::uint32_t> listeners{0};  // listening sockets still open
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> accepted_total{0};
  std::atomic<std::uint64_t> closed_total{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  // Indexed by CloseReason.
  std::array<std::atomic<std::uint64_t>, 9> closed_by_reason{};
  // Connections refused right after accept, indexed by RejectReason.
  std::array<std::atomic<std::uint64_t>, 4> rejected_by_reason{};
  std::atomic<std::uint64_t> accept_pauses{0};  // fd/memory exhaustion pauses

  // For the owning worker: adds without a locked instruction (single writer).
  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t delta) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
};

}  // namespace echod
