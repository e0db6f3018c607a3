#include "integration/limits_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "support/test_data.hpp"

namespace echod::test {
namespace {

int poll_ms(Clock::duration left) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 1000));
}

constexpr short kClosedEvents = POLLRDHUP | POLLHUP | POLLERR;

}  // namespace

bool echoes(int fd, std::size_t size, std::uint64_t seed, Clock::duration timeout) {
  std::string payload = random_bytes(size, seed);
  return same_bytes(payload, echo_exact(fd, payload, timeout));
}

std::size_t count_echoing(const std::vector<int>& fds, std::uint64_t seed) {
  std::string payload = random_bytes(1000, seed);
  std::vector<EchoSession> sessions;
  sessions.reserve(fds.size());
  for (int fd : fds) sessions.emplace_back(fd, payload);
  run_echo_sessions(sessions, std::chrono::seconds(10));
  return static_cast<std::size_t>(std::count_if(
      sessions.begin(), sessions.end(),
      [&payload](const EchoSession& s) { return s.complete() && s.received == payload; }));
}

testing::AssertionResult refused(int fd, Clock::duration timeout) {
  std::string probe = "are you there?";
  // The send may fail: the connection can be gone already.
  send_all(fd, probe, timeout);
  ReadResult r = read_until_eof(fd, timeout);
  if (!r.data.empty()) {
    return testing::AssertionFailure() << "echod sent " << r.data.size() << " byte(s) back";
  }
  if (!r.eof && r.error == 0) return testing::AssertionFailure() << "connection still open";
  return testing::AssertionSuccess();
}

UniqueFd connect_from(const DaemonProcess& daemon, const std::string& source,
                      const ConnectOptions& options) {
  if (daemon.endpoints().empty()) {
    ADD_FAILURE() << "no listen address known";
    return UniqueFd();
  }
  const Endpoint& to = daemon.endpoints().front();
  int error = 0;
  UniqueFd fd =
      connect_tcp_from(source, to.host, to.port, options, std::chrono::seconds(5), &error);
  if (!fd) {
    ADD_FAILURE() << "connect from " << source << " to " << to.to_string() << ": "
                  << std::strerror(error);
  }
  return fd;
}

UniqueFd connect_with_mss(const DaemonProcess& daemon, int mss, const ConnectOptions& options) {
  if (daemon.endpoints().empty()) {
    ADD_FAILURE() << "no listen address known";
    return UniqueFd();
  }
  const Endpoint& to = daemon.endpoints().front();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(to.port);
  if (::inet_pton(AF_INET, to.host.c_str(), &address.sin_addr) != 1) {
    ADD_FAILURE() << to.host << " is not an IPv4 address";
    return UniqueFd();
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return UniqueFd();
  }
  set_buffer_sizes(fd.get(), options.receive_buffer, options.send_buffer);
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)) != 0) {
    ADD_FAILURE() << "setsockopt(TCP_MAXSEG): " << std::strerror(errno);
    return UniqueFd();
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the socket API's sockaddr view.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
      errno != EINPROGRESS) {
    ADD_FAILURE() << "connect to " << to.to_string() << ": " << std::strerror(errno);
    return UniqueFd();
  }
  pollfd p{fd.get(), POLLOUT, 0};
  int so_error = 0;
  socklen_t length = sizeof(so_error);
  if (::poll(&p, 1, 5000) != 1 ||
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &length) != 0 || so_error != 0) {
    ADD_FAILURE() << "connect to " << to.to_string() << ": " << std::strerror(so_error);
    return UniqueFd();
  }
  return fd;
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & kClosedEvents) != 0;
}

std::optional<Clock::time_point> wait_peer_closed(int fd, Clock::time_point deadline) {
  std::array<char, 4096> buffer{};
  for (;;) {
    pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
    int n = ::poll(&p, 1, poll_ms(deadline - Clock::now()));
    auto now = Clock::now();
    if (n > 0 && (p.revents & kClosedEvents) != 0) return now;
    if (n > 0 && (p.revents & POLLIN) != 0) {
      ssize_t r = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return now;
    }
    if (now >= deadline) return std::nullopt;
  }
}

std::vector<SortedConnection> connect_and_sort(const DaemonProcess& daemon,
                                               const std::string& source, std::size_t count,
                                               Clock::duration timeout) {
  std::vector<SortedConnection> connections;
  connections.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    UniqueFd fd = connect_from(daemon, source);
    if (!fd) break;
    connections.push_back(SortedConnection{std::move(fd), Admission::kUndecided});
  }
  sort_out(connections, timeout);
  return connections;
}

void sort_out(std::vector<SortedConnection>& connections, Clock::duration timeout) {
  for (SortedConnection& c : connections) {
    // Fails when echod has closed it already; the end is seen below.
    if (c.admission == Admission::kUndecided) ::send(c.fd.get(), "x", 1, MSG_NOSIGNAL);
  }
  std::vector<pollfd> fds;
  std::vector<SortedConnection*> undecided;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    fds.clear();
    undecided.clear();
    for (SortedConnection& c : connections) {
      if (c.admission != Admission::kUndecided) continue;
      fds.push_back(pollfd{c.fd.get(), static_cast<short>(POLLIN | POLLRDHUP), 0});
      undecided.push_back(&c);
    }
    if (fds.empty() || Clock::now() >= deadline) return;
    if (::poll(fds.data(), fds.size(), poll_ms(deadline - Clock::now())) <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char byte = 0;
      ssize_t r = ::recv(fds[i].fd, &byte, 1, MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      undecided[i]->admission = r == 1 && byte == 'x' ? Admission::kServed : Admission::kRefused;
    }
  }
}

std::size_t count_of(const std::vector<SortedConnection>& connections, Admission admission) {
  return static_cast<std::size_t>(
      std::count_if(connections.begin(), connections.end(),
                    [admission](const SortedConnection& c) { return c.admission == admission; }));
}

std::vector<int> fds_of(const std::vector<SortedConnection>& connections, Admission admission) {
  std::vector<int> fds;
  for (const SortedConnection& c : connections) {
    if (c.admission == admission) fds.push_back(c.fd.get());
  }
  return fds;
}

std::vector<Clock::duration> ping_pong(int fd, std::size_t count, std::size_t size,
                                       Clock::duration timeout) {
  std::vector<Clock::duration> samples;
  samples.reserve(count);
  std::string payload = random_bytes(size, 7);
  std::vector<char> buffer(size);
  auto deadline = Clock::now() + timeout;
  for (std::size_t i = 0; i < count; ++i) {
    auto start = Clock::now();
    if (::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(payload.size())) {
      return samples;  // a small payload on an idle connection always fits the send buffer
    }
    std::size_t received = 0;
    while (received < size) {
      ssize_t r = ::recv(fd, buffer.data() + received, size - received, MSG_DONTWAIT);
      if (r > 0) {
        received += static_cast<std::size_t>(r);
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) return samples;
      pollfd p{fd, POLLIN, 0};
      if (Clock::now() >= deadline || ::poll(&p, 1, poll_ms(deadline - Clock::now())) < 0) {
        return samples;
      }
    }
    auto elapsed = Clock::now() - start;
    if (std::memcmp(buffer.data(), payload.data(), size) != 0) return samples;
    samples.push_back(elapsed);
  }
  return samples;
}

std::string to_ms(Clock::duration duration) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.3f ms",
                std::chrono::duration<double, std::milli>(duration).count());
  return text.data();
}

}  // namespace echod::test
