#include "support/net_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace echod::test {
namespace {

constexpr std::size_t kChunk = 256 * 1024;
constexpr auto kTickInterval = std::chrono::milliseconds(20);

int poll_ms(Clock::duration left) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 1000));
}

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;

  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the socket API's sockaddr view.
  [[nodiscard]] const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
bool make_address(const std::string& host, std::uint16_t port, Address& address) {
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.length = sizeof(sockaddr_in);
    address.family = AF_INET;
    return true;
  }
  address.storage = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    address.length = sizeof(sockaddr_in6);
    address.family = AF_INET6;
    return true;
  }
  return false;
}
// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, poll_ms(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

UniqueFd connect_tcp(const std::string& host, std::uint16_t port, const ConnectOptions& options,
                     Clock::duration timeout, int* error) {
  return connect_tcp_from({}, host, port, options, timeout, error);
}

UniqueFd connect_tcp_from(const std::string& source_host, const std::string& host,
                          std::uint16_t port, const ConnectOptions& options,
                          Clock::duration timeout, int* error) {
  auto fail = [error](int e) {
    if (error != nullptr) *error = e;
    return UniqueFd();
  };
  Address address;
  if (!make_address(host, port, address)) return fail(EINVAL);
  UniqueFd fd(::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errno);
  set_buffer_sizes(fd.get(), options.receive_buffer, options.send_buffer);
  if (!source_host.empty()) {
    Address source;
    if (!make_address(source_host, 0, source) || source.family != address.family) {
      return fail(EINVAL);
    }
    // The port is chosen at connect(), by the whole 4-tuple: thousands of connections from one
    // source address do not run out of ports.
    int on = 1;
    ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
    if (::bind(fd.get(), source.data(), source.length) != 0) return fail(errno);
  }
  if (::connect(fd.get(), address.data(), address.length) != 0) {
    if (errno != EINPROGRESS) return fail(errno);
    if (!wait_for(fd.get(), POLLOUT, Clock::now() + timeout)) return fail(ETIMEDOUT);
    int so_error = 0;
    socklen_t length = sizeof(so_error);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &length) != 0) return fail(errno);
    if (so_error != 0) return fail(so_error);
  }
  if (error != nullptr) *error = 0;
  return fd;
}

UniqueFd listen_tcp(const std::string& host, std::uint16_t port, int* error, int backlog) {
  auto fail = [error](int e) {
    if (error != nullptr) *error = e;
    return UniqueFd();
  };
  Address address;
  if (!make_address(host, port, address)) return fail(EINVAL);
  UniqueFd fd(::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errno);
  if (::bind(fd.get(), address.data(), address.length) != 0) return fail(errno);
  if (::listen(fd.get(), backlog) != 0) return fail(errno);
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return 0;
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
}

void set_buffer_sizes(int fd, int receive_buffer, int send_buffer) {
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  if (send_buffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(send_buffer));
}

void set_reset_on_close(int fd) {
  linger option{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
}

bool EchoSession::complete() const noexcept {
  return error == 0 && received.size() >= payload.size() && (!shutdown_after_send || eof);
}

bool EchoSession::finished() const noexcept {
  return complete() || error != 0 || (eof && received.size() < payload.size()) ||
         received.size() > payload.size() ||
         (abandon_after > 0 && received.size() >= abandon_after);
}

bool run_echo_sessions(std::span<EchoSession> sessions, Clock::duration timeout,
                       const std::function<void()>& tick) {
  auto deadline = Clock::now() + timeout;
  auto next_tick = Clock::now();
  std::vector<char> buffer(kChunk);
  std::vector<pollfd> fds;
  std::vector<EchoSession*> active;
  for (EchoSession& session : sessions) session.received.reserve(session.payload.size());
  for (;;) {
    if (tick && Clock::now() >= next_tick) {
      tick();
      next_tick = Clock::now() + kTickInterval;
    }
    fds.clear();
    active.clear();
    for (EchoSession& session : sessions) {
      if (session.finished()) continue;
      auto events = static_cast<short>(POLLIN);
      if (session.sent < session.payload.size()) events = static_cast<short>(events | POLLOUT);
      fds.push_back(pollfd{session.fd, events, 0});
      active.push_back(&session);
    }
    if (active.empty()) break;
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) break;
    if (tick) left = std::min<Clock::duration>(left, kTickInterval);
    int n = ::poll(fds.data(), fds.size(), poll_ms(left));
    if (n < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size() && n > 0; ++i) {
      EchoSession& session = *active[i];
      short revents = fds[i].revents;
      if ((revents & POLLOUT) != 0 && session.sent < session.payload.size()) {
        std::size_t count = std::min(kChunk, session.payload.size() - session.sent);
        ssize_t w = ::send(session.fd, session.payload.data() + session.sent, count, MSG_NOSIGNAL);
        if (w > 0) {
          session.sent += static_cast<std::size_t>(w);
          if (session.sent == session.payload.size() && session.shutdown_after_send) {
            ::shutdown(session.fd, SHUT_WR);
          }
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          session.error = errno;
          continue;
        }
      }
      if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ssize_t r = ::recv(session.fd, buffer.data(), buffer.size(), 0);
        if (r > 0) {
          session.received.append(buffer.data(), static_cast<std::size_t>(r));
        } else if (r == 0) {
          session.eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          session.error = errno;
        }
      }
    }
  }
  return std::all_of(sessions.begin(), sessions.end(),
                     [](const EchoSession& s) { return s.complete(); });
}

std::string echo_exact(int fd, std::string_view data, Clock::duration timeout) {
  EchoSession session{fd, data};
  run_echo_sessions(std::span<EchoSession>(&session, 1), timeout);
  return std::move(session.received);
}

std::size_t send_until_stalled(int fd, std::string_view data, Clock::duration stall,
                               Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < data.size() && Clock::now() < deadline) {
    std::size_t count = std::min(kChunk, data.size() - sent);
    ssize_t w = ::send(fd, data.data() + sent, count, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      sent += static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    if (!wait_for(fd, POLLOUT, std::min(Clock::now() + stall, deadline))) break;
  }
  return sent;
}

bool send_all(int fd, std::string_view data, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t w = ::send(fd, data.data() + sent, std::min(kChunk, data.size() - sent),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      sent += static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (!wait_for(fd, POLLOUT, deadline)) return false;
  }
  return true;
}

namespace {

ReadResult read_until(int fd, std::size_t count, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  ReadResult result;
  std::vector<char> buffer(kChunk);
  while (result.data.size() < count) {
    std::size_t want = std::min(buffer.size(), count - result.data.size());
    ssize_t r = ::recv(fd, buffer.data(), want, MSG_DONTWAIT);
    if (r > 0) {
      result.data.append(buffer.data(), static_cast<std::size_t>(r));
      continue;
    }
    if (r == 0) {
      result.eof = true;
      break;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      result.error = errno;
      break;
    }
    if (!wait_for(fd, POLLIN, deadline)) break;
  }
  return result;
}

}  // namespace

ReadResult read_exact(int fd, std::size_t count, Clock::duration timeout) {
  return read_until(fd, count, timeout);
}

ReadResult read_until_eof(int fd, Clock::duration timeout) {
  return read_until(fd, std::string::npos, timeout);
}

bool quiet_and_open(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  int n = ::poll(&p, 1, 0);
  return n == 0;
}

bool address_available(const std::string& host) {
  int error = 0;
  return listen_tcp(host, 0, &error).valid();
}

}  // namespace echod::test
