#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace echod::client::testing {

struct ProcessResult {
  int exit_code = -1;      // the exit status, or 128 + signal number
  bool timed_out = false;  // killed (SIGKILL) at the deadline
  std::string out;
  std::string err;
  // From the child's exec (posix_spawn returns after it) until its exit was seen: at least as long
  // as the child ran, longer on a busy machine. Good for lower bounds that must not be missed.
  std::chrono::nanoseconds wall{0};
};

// Runs `argv` with `input` on its standard input (then EOF) and collects both outputs, waiting on
// the pipes and a pidfd (no sleeping). Kills the child if it outlives `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds timeout);

}  // namespace echod::client::testing
