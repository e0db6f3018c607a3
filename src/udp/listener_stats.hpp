#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "udp/drop_reason.hpp"
#include "udp/echo_pass.hpp"

namespace echod::udp {

// The counters of one UDP listener (one address, every worker's socket on it): what the
// metrics label by listener and `echod --status` lists. Each worker adds what one echo pass
// counted, once per pass (not per datagram), so that workers sharing a listener touch its
// cache line a few times per 256 datagrams at most.
//
// Thread contract: add() from any worker; the loads from any thread (relaxed: totals, no
// ordering between them is promised).
struct ListenerStats {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> received_bytes{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> sent_bytes{0};
  // Datagrams the kernel dropped before echod saw them: receive queue full (SO_RXQ_OVFL).
  std::atomic<std::uint64_t> kernel_drops{0};
  std::array<std::atomic<std::uint64_t>, kDropReasonCount> drops{};

  // Adds the counts of `pass` (the counters of one echo pass, started from zero).
  void add(const EchoPassCounters& pass) noexcept {
    constexpr auto kRelaxed = std::memory_order_relaxed;
    if (pass.received == 0) return;
    received.fetch_add(pass.received, kRelaxed);
    received_bytes.fetch_add(pass.received_bytes, kRelaxed);
    if (pass.sent > 0) {
      sent.fetch_add(pass.sent, kRelaxed);
      sent_bytes.fetch_add(pass.sent_bytes, kRelaxed);
    }
    for (std::size_t i = 0; i < kDropReasonCount; ++i) {
      if (std::uint64_t n = pass.drops.count(static_cast<DropReason>(i)); n > 0) {
        drops[i].fetch_add(n, kRelaxed);
      }
    }
  }

  [[nodiscard]] std::uint64_t dropped() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& count : drops) sum += count.load(std::memory_order_relaxed);
    return sum;
  }
};

}  // namespace echod::udp
