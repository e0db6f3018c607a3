#include "event/epoll.hpp"

#include <cerrno>

#include "sys/system_error.hpp"

namespace echod {

Epoll::Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!fd_) throw_errno("epoll_create1");
}

bool Epoll::add(int fd, std::uint32_t events, std::uint64_t token) {
  epoll_event event{};
  event.events = events | EPOLLONESHOT;
  event.data.u64 = token;
  return ::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &event) == 0;
}

bool Epoll::rearm(int fd, std::uint32_t events, std::uint64_t token) {
  epoll_event event{};
  event.events = events | EPOLLONESHOT;
  event.data.u64 = token;
  return ::epoll_ctl(fd_.get(), EPOLL_CTL_MOD, fd, &event) == 0;
}

void Epoll::remove(int fd) { ::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

std::span<const epoll_event> Epoll::wait(std::span<epoll_event> buffer, int timeout_ms) {
  int n = ::epoll_wait(fd_.get(), buffer.data(), static_cast<int>(buffer.size()), timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return {};
    throw_errno("epoll_wait");
  }
  return buffer.first(static_cast<std::size_t>(n));
}

}  // namespace echod
