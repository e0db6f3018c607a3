#include "supervisor/environment.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace echod {

std::optional<std::string> take_environment_variable(const char* name) {
  char* value = ::getenv(name);  // NOLINT(concurrency-mt-unsafe): runs before threads start
  if (value == nullptr) return std::nullopt;
  std::string result(value);
  std::size_t name_length = std::strlen(name);
  char* entry = value - name_length - 1;  // getenv() points just past "NAME="
  ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe): runs before threads start
  std::memset(entry, 0, name_length + 1 + result.size());
  return result;
}

SystemdEnvironment SystemdEnvironment::take() {
  SystemdEnvironment env;
  env.notify_socket = take_environment_variable("NOTIFY_SOCKET");
  auto watchdog_usec = take_environment_variable("WATCHDOG_USEC");
  auto watchdog_pid = take_environment_variable("WATCHDOG_PID");
  if (watchdog_usec && (!watchdog_pid || *watchdog_pid == std::to_string(::getpid()))) {
    env.watchdog_usec = watchdog_usec;
  }
  // Socket activation (sd_listen_fds(3)): the fds are meant for us only if LISTEN_PID is our pid.
  auto listen_pid = take_environment_variable("LISTEN_PID");
  auto listen_fds = take_environment_variable("LISTEN_FDS");
  take_environment_variable("LISTEN_FDNAMES");
  if (listen_pid && listen_fds && *listen_pid == std::to_string(::getpid())) {
    unsigned count = 0;
    auto [end, ec] =
        std::from_chars(listen_fds->data(), listen_fds->data() + listen_fds->size(), count);
    if (ec == std::errc() && end == listen_fds->data() + listen_fds->size() && count <= 64) {
      env.listen_fds = count;
    }
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): runs before threads start
  if (const char* journal = ::getenv("JOURNAL_STREAM")) {
    env.journal_stream = journal;
  }
  return env;
}

}  // namespace echod
