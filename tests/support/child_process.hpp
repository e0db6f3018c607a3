#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sys/unique_fd.hpp"

namespace echod::test {

using Clock = std::chrono::steady_clock;

// A child process started with fork + execve. Its stdin is /dev/null; stdout and stderr go to
// files. The destructor kills (SIGKILL) and reaps a child that is still running, so a failing
// test never leaves a process behind.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // `argv[0]` is the path of the program; `env` holds "NAME=value" entries (the whole
  // environment). Throws std::system_error when the process cannot be created.
  static ChildProcess spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env, const std::string& stdout_path,
                            const std::string& stderr_path);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool started() const noexcept { return pid_ > 0; }

  // Waits at most `timeout` for the process to end. Returns its exit code, or 128 + the signal
  // number when a signal ended it; nullopt when it is still running.
  std::optional<int> wait(Clock::duration timeout);
  // Reaps the process if it has ended, without waiting. True while it runs.
  bool running();
  // The status recorded once the process was reaped.
  [[nodiscard]] std::optional<int> exit_status() const noexcept { return status_; }

  // A pidfd that becomes readable when the process ends; -1 when the kernel has none.
  [[nodiscard]] int exit_fd() const noexcept { return pidfd_.get(); }

  void kill_and_reap();

 private:
  bool try_reap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::optional<int> status_;
};

// Every variable of the test's own environment, minus the ones that would change how echod
// behaves (systemd's NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*, JOURNAL_STREAM).
std::vector<std::string> clean_environment();

struct CommandResult {
  std::optional<int> exit_code;  // nullopt: did not finish in time (and was killed)
  std::string out;
  std::string err;
  Clock::duration elapsed{};
};

// The path of program `name` in $PATH (then /usr/sbin, /usr/bin, /sbin, /bin); empty if none.
std::string find_program(const std::string& name);

// Runs `argv` to completion (at most `timeout`) with `env` and captures its output.
CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          Clock::duration timeout);

}  // namespace echod::test
