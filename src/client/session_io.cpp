#include "client/session_io.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <fmt/format.h>

namespace echod::client {

int poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                    std::chrono::steady_clock::time_point now) {
  if (deadline <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
}

bool write_all(int fd, std::span<const unsigned char> bytes, int& error) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n >= 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN) {
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      error = errno;
      return false;
    }
  }
  return true;
}

std::string hex_byte(unsigned char byte) { return fmt::format("0x{:02x}", byte); }

}  // namespace echod::client
