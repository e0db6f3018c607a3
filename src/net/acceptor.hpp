#pragma once

#include <chrono>
#include <utility>
#include <variant>

#include "net/accept_error.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace echod {

// A connection taken off a listening socket's queue: its fd (non-blocking, close-on-exec) and
// the address it came from.
struct AcceptedConnection {
  UniqueFd fd;
  SocketAddress peer;
};

// An accept() that failed, by errno. `paused`: the acceptor paused itself (out of fds or memory).
struct AcceptFailure {
  AcceptErrorClass error_class = AcceptErrorClass::kOther;
  int error = 0;
  bool paused = false;
};

// Takes connections off one listening socket with accept4(), drained up to a cap per readiness
// event, and applies the errno policy: EAGAIN ends the drain; EINTR and ECONNABORTED are
// retried; running out of fds or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses the acceptor
// for kPause, since the listener would otherwise stay readable and the loop spin; any other
// error ends the drain. It logs and counts nothing: every connection and every failure goes to
// its owner, which decides what to count and log.
//
// While paused the owner leaves the listener disarmed; it resumes the acceptor when the pause is
// over, or earlier when it freed an fd (a closed connection), and re-arms the listener.
//
// Thread contract: owned by one worker, beside the listener it accepts from.
class Acceptor {
 public:
  using Clock = std::chrono::steady_clock;

  // Accept attempts per readiness event before the other ready fds get their turn.
  static constexpr int kBatch = 64;
  // How long an acceptor rests after the process or system ran out of fds or memory.
  static constexpr std::chrono::milliseconds kPause{200};

  // Accepts from `listen_fd` until its queue is empty, `limit` attempts were made or a failure
  // ends the drain. Calls on_accepted(AcceptedConnection&&) for each connection and
  // on_failure(const AcceptFailure&) for each failure.
  template <typename OnAccepted, typename OnFailure>
  void drain(int listen_fd, int limit, OnAccepted&& on_accepted, OnFailure&& on_failure) {
    for (int attempt = 0; attempt < limit; ++attempt) {
      Attempt result = accept_one(listen_fd);
      if (auto* accepted = std::get_if<AcceptedConnection>(&result)) {
        on_accepted(std::move(*accepted));
      } else if (auto* failure = std::get_if<AcceptFailure>(&result)) {
        on_failure(*failure);
        if (failure->error_class != AcceptErrorClass::kAborted) return;
      } else {
        return;  // nothing queued
      }
    }
  }

  [[nodiscard]] bool paused() const noexcept { return paused_; }
  [[nodiscard]] Clock::time_point paused_until() const noexcept { return paused_until_; }
  [[nodiscard]] bool pause_over(Clock::time_point now) const noexcept {
    return paused_ && paused_until_ <= now;
  }
  void resume() noexcept { paused_ = false; }

 private:
  // Nothing queued, a connection, or a failure.
  using Attempt = std::variant<std::monostate, AcceptedConnection, AcceptFailure>;

  Attempt accept_one(int listen_fd);

  bool paused_ = false;
  Clock::time_point paused_until_{};
};

}  // namespace echod
