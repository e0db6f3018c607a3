#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>

#include "sys/unique_fd.hpp"

namespace echod {

// One epoll instance. Every registration is EPOLLONESHOT: after an event is delivered the fd is
// disarmed until rearm() states what its owner wants next. Each registration carries a 64-bit
// token chosen by the caller (never a pointer), so a stale event can be recognised.
//
// Thread contract: owned by one worker; all methods must be called on that worker's thread.
class Epoll {
 public:
  Epoll();  // throws std::system_error

  // add/rearm return false with errno set on failure; remove() ignores errors (the fd may be
  // gone). `events` must not contain EPOLLONESHOT; it is added here.
  [[nodiscard]] bool add(int fd, std::uint32_t events, std::uint64_t token);
  [[nodiscard]] bool rearm(int fd, std::uint32_t events, std::uint64_t token);
  void remove(int fd);

  // Waits up to timeout_ms (-1: forever). Returns the events delivered; EINTR gives none.
  std::span<const epoll_event> wait(std::span<epoll_event> buffer, int timeout_ms);

 private:
  UniqueFd fd_;
};

}  // namespace echod
