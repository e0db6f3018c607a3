#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "sys/unique_fd.hpp"

namespace echod {

// The sd_notify protocol: READY=1, RELOADING=1 + MONOTONIC_USEC, STOPPING=1, STATUS=, WATCHDOG=1.
// A no-op when the service manager gave no NOTIFY_SOCKET.
//
// Why not libsystemd's sd_notify(): it reads NOTIFY_SOCKET from the environment on every call,
// but echod removes that variable before any thread starts (getenv/setenv are not thread-safe,
// and the variable must not leak into /proc/PID/environ or child processes). The protocol is one
// datagram to a known address; this class holds that address instead.
//
// Thread contract: used by the supervisor thread only.
class SystemdNotifier {
 public:
  SystemdNotifier() = default;  // disabled
  // `socket_path` as given in NOTIFY_SOCKET: a path, or "@name" for the abstract namespace.
  explicit SystemdNotifier(const std::optional<std::string>& socket_path);

  [[nodiscard]] bool enabled() const noexcept { return fd_.valid(); }

  void ready(std::string_view status);
  void reloading();  // RELOADING=1 with MONOTONIC_USEC, as systemd 253+ expects
  void stopping();
  void status(std::string_view status);
  void watchdog();

  // Sends raw "KEY=value\n..." text. Errors are logged once and otherwise ignored: the daemon
  // keeps serving even when the service manager is gone.
  void send(std::string_view message);

 private:
  UniqueFd fd_;
  std::string address_;  // sockaddr_un bytes
  bool error_logged_ = false;
};

}  // namespace echod
