#pragma once

#include <optional>

#include "sys/unique_fd.hpp"

namespace echod {

enum class Signal { kReload, kStop };

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and so in every thread it starts
// afterwards) and delivers them through a signalfd instead: no code ever runs in a signal
// handler. SIGPIPE is ignored process-wide as a second line of defence behind MSG_NOSIGNAL.
// Construct it in main() before any thread starts.
class SignalSet {
 public:
  SignalSet();  // throws std::system_error
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;
  ~SignalSet();  // restores the previous mask

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  // Returns the next pending signal, or nothing when none is pending (non-blocking).
  std::optional<Signal> read();

 private:
  UniqueFd fd_;
};

}  // namespace echod
