#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace echod {

// Throws std::system_error for the current errno. `what` names the call and its subject, e.g.
// "bind 127.0.0.1:7", so that the message alone tells an operator what failed.
[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

[[noreturn]] inline void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// strerror() for any thread (std::strerror may share one buffer between threads).
inline std::string errno_text(int error) {
  char buffer[128];
  return ::strerror_r(error, buffer, sizeof(buffer));  // GNU: returns the text's address
}

// Calls `fn` again while it fails with EINTR. For blocking calls on setup paths only; the event
// loop never blocks anywhere but in epoll_wait().
template <typename Fn>
auto retry_on_eintr(Fn&& fn) {
  for (;;) {
    auto result = fn();
    if (result != -1 || errno != EINTR) return result;
  }
}

}  // namespace echod
