#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "udp/datagram_batch.hpp"
#include "udp/drop_reason.hpp"
#include "udp/guard.hpp"
#include "udp/rate_table.hpp"

namespace echod::udp {

// Sets what a UDP echo socket needs to receive: PKTINFO (the arrival address and interface, for
// the guard and the reply's source) and SO_RXQ_OVFL (the kernel's drop count). `family` is the
// socket's. Throws std::system_error.
void enable_receive_options(int fd, int family);

// What one echo pass needs besides the socket and the batch.
struct EchoPassContext {
  const Guard* guard = nullptr;
  RateTable* rates = nullptr;             // nullptr: no rate limits
  const RateExemption* exempt = nullptr;  // nullptr: nobody exempt
  unsigned loopback_ifindex = 1;          // the interface whose arrivals count as loopback
  std::size_t max_batches = 8;            // recvmmsg() calls per pass at the most
};

// Counters a worker keeps per UDP socket and adds to after every pass.
struct EchoPassCounters {
  std::uint64_t received = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  DropCounts drops;
  // The socket's cumulative SO_RXQ_OVFL count, as last reported (wraps at 2^32).
  std::optional<std::uint32_t> receive_queue_drops;
  std::uint64_t receive_calls = 0;
  std::uint64_t send_calls = 0;
};

enum class EchoPassEnd : std::uint8_t {
  kDrained,      // the socket's queue was empty (or a batch came back short)
  kBudgetSpent,  // max_batches full batches: more may wait; re-arm and let others run
  kError,        // recvmmsg() failed with `error`
};

struct EchoPassResult {
  EchoPassEnd end = EchoPassEnd::kDrained;
  int error = 0;
};

// One wake-up of a non-blocking UDP echo socket: up to max_batches rounds of recvmmsg() with
// MSG_DONTWAIT, the guard, the size check and the rate limits for every datagram, then one
// sendmmsg() for those that pass. Never waits for a batch to fill. A datagram longer than the
// batch's max_datagram (or truncated) is dropped as kOversize; a 0-byte one is echoed. Replies
// the kernel will not queue (EAGAIN, ENOBUFS) are dropped and counted, not retried. Every
// datagram received ends in exactly one of `sent` and `drops`.
EchoPassResult run_echo_pass(int fd, DatagramBatch& batch, const EchoPassContext& context,
                             EchoPassCounters& counters, RateTable::Clock::time_point now);

}  // namespace echod::udp
