#pragma once

#include <optional>
#include <string>

namespace echod {

// Removes a variable from the environment and returns its value. Besides unsetenv(), the
// original "NAME=value" bytes are overwritten, so that /proc/PID/environ stops showing them too
// (unsetenv only unlinks the string). Must run before any other thread starts: the environment
// is not thread-safe.
std::optional<std::string> take_environment_variable(const char* name);

// The systemd protocol variables, taken out of the environment at startup.
struct SystemdEnvironment {
  std::optional<std::string> notify_socket;   // NOTIFY_SOCKET
  std::optional<std::string> watchdog_usec;   // WATCHDOG_USEC, only if WATCHDOG_PID is ours/unset
  std::optional<std::string> journal_stream;  // JOURNAL_STREAM (kept in the environment)
  // Socket activation: how many listening sockets systemd passed (as fds 3, 4, ...), when
  // LISTEN_PID names this process.
  unsigned listen_fds = 0;

  // Takes NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES.
  static SystemdEnvironment take();
};

}  // namespace echod
