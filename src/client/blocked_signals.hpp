#pragma once

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <ctime>

namespace echod::client {

// Blocks SIGINT and SIGTERM while it lives, so that worker threads inherit the mask and the
// runner alone takes them, with sigtimedwait().
class BlockedSignals {
 public:
  BlockedSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockedSignals() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

  // Waits up to `timeout` for one of the signals; true when one came.
  bool wait(std::chrono::milliseconds timeout) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
    return ::sigtimedwait(&set_, nullptr, &ts) > 0;
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

}  // namespace echod::client
