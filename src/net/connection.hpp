#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "net/close_reason.hpp"
#include "net/echo_buffer.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"
#include "worker/admission_ticket.hpp"

namespace echod {

// Per-worker resources lent to a connection for the duration of one on_ready() call.
struct IoContext {
  std::span<std::byte> scratch;        // one read() at most this many bytes
  std::size_t max_pending_output = 0;  // stop reading while more than this is unsent
  unsigned max_reads_per_wakeup = 16;  // fairness cap; level-triggered re-arm fires again
  std::uint64_t bytes_received = 0;    // added to by on_ready()
  std::uint64_t bytes_sent = 0;        // added to by on_ready()
  std::uint32_t now = 0;               // the worker's coarse clock (Connection::Ticks)
};

// One client. Reads, echoes byte-exact and in order, and keeps what a partial write left over.
// Never throws and never logs: the worker decides what to log from the returned CloseReason.
//
// Thread contract: owned by the worker that accepted it; every method runs on that thread.
class Connection {
 public:
  enum class State : std::uint8_t {
    kEchoing,   // reading and echoing
    kFlushing,  // the client sent FIN: write what is pending, then close
    kDraining,  // the daemon is stopping: echo what has arrived, then send FIN
    kFinSent,   // our FIN is sent: discard input until the client closes
  };

  // A coarse clock, in ticks of 100 ms since the worker started: enough for timeouts measured
  // in seconds, and 4 bytes per timestamp.
  using Ticks = std::uint32_t;
  static constexpr std::chrono::milliseconds kTick{100};
  // While stopping, how long a connection must have received nothing before it gets its FIN.
  static constexpr Ticks kDrainQuiet = 2;

  // `admission`: the client's share of the admission budget (with the client's per-address
  // key), given back when the connection is destroyed (an empty ticket for a connection not
  // admitted yet). The full client address is not kept: every idle connection would pay for it
  // (the logs name the peer from the accept path).
  Connection(UniqueFd fd, AdmissionTicket admission, Ticks now) noexcept
      : fd_(std::move(fd)), admission_(std::move(admission)), last_active_(now) {}

  // Handles one readiness event. Returns kNone when the connection stays open; the caller then
  // re-arms it with wanted_events(). `error` receives the errno behind kReset/kError.
  CloseReason on_ready(std::uint32_t events, IoContext& io, int& error);

  // The events to re-arm with: the single place that states what the connection waits for,
  // and so where backpressure lives.
  [[nodiscard]] std::uint32_t wanted_events(std::size_t max_pending_output) const noexcept;

  // Starts the graceful-stop sequence; the caller re-arms so that on_ready() runs soon, and
  // again every tick while waiting_for_quiet().
  void begin_drain() noexcept;
  // Draining, nothing left to write, and waiting for the client to be quiet before the FIN.
  [[nodiscard]] bool waiting_for_quiet() const noexcept {
    return state_ == State::kDraining && pending_.empty();
  }

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return pending_.readable(); }
  [[nodiscard]] std::size_t pending_capacity() const noexcept { return pending_.capacity(); }
  [[nodiscard]] const AdmissionTicket& admission() const noexcept { return admission_; }
  // When a byte last moved in either direction.
  [[nodiscard]] Ticks last_active() const noexcept { return last_active_; }
  // Since when pending output has made no progress; 0 when nothing is pending.
  [[nodiscard]] Ticks stalled_since() const noexcept { return stalled_since_; }

 private:
  enum class ReadResult : std::uint8_t { kDrained, kCapped, kBackpressure, kEof, kFailed };

  CloseReason handle(std::uint32_t events, IoContext& io, int& error);
  CloseReason flush(IoContext& io, int& error);
  ReadResult read_and_echo(IoContext& io, int& error);
  ReadResult read_and_discard(int& error);
  CloseReason after_read(ReadResult result, int error);
  void set_state(State next) noexcept;

  UniqueFd fd_;
  State state_ = State::kEchoing;
  AdmissionTicket admission_;
  Ticks last_active_ = 0;
  Ticks stalled_since_ = 0;
  EchoBuffer pending_;
};

}  // namespace echod
