#include "supervisor/systemd_notifier.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "sys/system_error.hpp"

namespace echod {

SystemdNotifier::SystemdNotifier(const std::optional<std::string>& socket_path) {
  if (!socket_path || socket_path->empty()) return;
  const std::string& path = *socket_path;
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
    spdlog::warn("NOTIFY_SOCKET '{}' is not a usable socket path; not notifying systemd", path);
    return;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  std::size_t length = offsetof(sockaddr_un, sun_path) + path.size();
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockaddr as bytes
  address_.assign(reinterpret_cast<const char*>(&addr), length);
  fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw_errno("socket(AF_UNIX) for NOTIFY_SOCKET");
}

void SystemdNotifier::send(std::string_view message) {
  if (!enabled()) return;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr bytes.
  const auto* addr = reinterpret_cast<const sockaddr*>(address_.data());
  auto length = static_cast<socklen_t>(address_.size());
  ssize_t sent = -1;
  do {
    sent = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL, addr, length);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && !error_logged_) {
    error_logged_ = true;
    spdlog::warn("cannot notify systemd: {}", errno_text(errno));
  }
}

void SystemdNotifier::ready(std::string_view status) {
  send("READY=1\nSTATUS=" + std::string(status));
}

void SystemdNotifier::reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
              static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::stopping() { send("STOPPING=1"); }

void SystemdNotifier::status(std::string_view status) { send("STATUS=" + std::string(status)); }

void SystemdNotifier::watchdog() { send("WATCHDOG=1"); }

}  // namespace echod
