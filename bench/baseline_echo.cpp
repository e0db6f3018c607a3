// baseline_echo: the textbook single-threaded epoll echo server, written correctly, as the
// yardstick for echod's benchmarks. Edge-triggered: each readiness edge is drained until EAGAIN,
// a partial write keeps the rest in a per-connection buffer until EPOLLOUT, and a full buffer
// stops reading (the kernel's buffers then push back on the client).
//
// With --oneshot it is the same loop with echod's registration instead: EPOLLONESHOT, a short
// read taken as "drained", and an EPOLL_CTL_MOD re-arm after each event, so that the benchmarks
// can tell what the one-shot design costs from what the rest of echod costs.
//
// Usage: baseline_echo [--oneshot] [PORT]   (0 or none: an ephemeral port). Listens on 127.0.0.1
// and prints "listening on 127.0.0.1:PORT" once it accepts connections.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace {

using echod::UniqueFd;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxPending = 1024 * 1024;  // stop reading past this much unsent echo
constexpr int kMaxEvents = 256;

struct Connection {
  UniqueFd fd;
  std::vector<char> pending;  // echo not yet written, from `sent` on
  std::size_t sent = 0;
  bool peer_closed = false;
};

enum class Mode : std::uint8_t { kEdgeTriggered, kOneShot };

class Server {
 public:
  Server(std::uint16_t port, Mode mode) : mode_(mode) {
    auto parsed = echod::SocketAddress::parse("127.0.0.1:" + std::to_string(port));
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listener_) echod::throw_errno("socket");
    int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(listener_.get(), parsed.address->data(), parsed.address->length()) != 0) {
      echod::throw_errno("bind " + parsed.address->to_string());
    }
    if (::listen(listener_.get(), SOMAXCONN) != 0) echod::throw_errno("listen");
    epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) echod::throw_errno("epoll_create1");
    // The listener is level-triggered: after EMFILE, the next epoll_wait reports it again.
    add(listener_.get(), EPOLLIN);
    // Spare descriptor, given up on EMFILE to accept and drop one connection (muduo's idleFd).
    spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    address_ = echod::SocketAddress::local_of(listener_.get()).to_string();
  }

  [[nodiscard]] const std::string& address() const { return address_; }

  void run() {
    std::array<epoll_event, kMaxEvents> events{};
    for (;;) {
      int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        echod::throw_errno("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == listener_.get()) {
          accept_all();
        } else {
          serve(fd);
        }
      }
    }
  }

 private:
  void add(int fd, std::uint32_t events) { control(EPOLL_CTL_ADD, fd, events); }

  void control(int op, int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), op, fd, &event) != 0) echod::throw_errno("epoll_ctl");
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          spare_.reset();
          UniqueFd dropped(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
          spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
          continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN: the queue is drained
      }
      auto index = static_cast<std::size_t>(fd);
      if (connections_.size() <= index) connections_.resize(index + 1);
      connections_[index] = std::make_unique<Connection>();
      connections_[index]->fd = UniqueFd(fd);
      add(fd, mode_ == Mode::kOneShot ? EPOLLIN | EPOLLONESHOT
                                      : EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    }
  }

  void serve(int fd) {
    auto& slot = connections_[static_cast<std::size_t>(fd)];
    if (!slot) return;
    Connection& c = *slot;
    bool alive = flush(c);
    while (alive && !c.peer_closed && c.pending.size() - c.sent < kMaxPending) {
      ssize_t n = ::read(fd, buffer_.data(), buffer_.size());
      if (n > 0) {
        alive = echo(c, static_cast<std::size_t>(n));
        // One-shot: a short read means the socket is empty; the re-arm reports what comes next.
        if (mode_ == Mode::kOneShot && static_cast<std::size_t>(n) < buffer_.size()) break;
      } else if (n == 0) {
        c.peer_closed = true;
      } else if (errno == EAGAIN) {
        break;
      } else if (errno != EINTR) {
        alive = false;
      }
    }
    if (!alive || (c.peer_closed && c.sent == c.pending.size())) {
      slot.reset();  // closes fd
      return;
    }
    if (mode_ == Mode::kOneShot) {
      std::size_t unsent = c.pending.size() - c.sent;
      std::uint32_t events = EPOLLONESHOT;
      if (!c.peer_closed && unsent < kMaxPending) events |= EPOLLIN;
      if (unsent > 0) events |= EPOLLOUT;
      control(EPOLL_CTL_MOD, fd, events);
    }
  }

  // Echoes the `n` bytes just read into buffer_: straight from there when nothing is pending
  // (the common case, no copy), else behind what is. False when the connection failed.
  bool echo(Connection& c, std::size_t n) {
    if (c.sent == c.pending.size()) {
      ssize_t written = ::send(c.fd.get(), buffer_.data(), n, MSG_NOSIGNAL);
      if (written < 0) {
        if (errno != EAGAIN && errno != EINTR) return false;
        written = 0;
      }
      if (static_cast<std::size_t>(written) == n) return true;
      c.pending.assign(buffer_.data() + written, buffer_.data() + n);
      c.sent = 0;
    } else {
      c.pending.insert(c.pending.end(), buffer_.data(), buffer_.data() + n);
    }
    return flush(c);
  }

  // Writes what is pending; false when the connection failed.
  static bool flush(Connection& c) {
    while (c.sent < c.pending.size()) {
      ssize_t n =
          ::send(c.fd.get(), c.pending.data() + c.sent, c.pending.size() - c.sent, MSG_NOSIGNAL);
      if (n >= 0) {
        c.sent += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN) {
        return true;  // EPOLLOUT (edge) resumes
      } else if (errno != EINTR) {
        return false;
      }
    }
    c.pending.clear();
    c.sent = 0;
    return true;
  }

  Mode mode_;
  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd spare_;
  std::string address_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::array<char, kReadChunk> buffer_{};
};

}  // namespace

int main(int argc, char** argv) {
  Mode mode = Mode::kEdgeTriggered;
  int first = 1;
  if (argc > 1 && std::string_view(argv[1]) == "--oneshot") {
    mode = Mode::kOneShot;
    first = 2;
  }
  std::uint16_t port = 0;
  if (argc > first + 1 ||
      (argc == first + 1 &&
       std::from_chars(argv[first], argv[first] + std::strlen(argv[first]), port).ec !=
           std::errc())) {
    std::fprintf(stderr, "usage: baseline_echo [--oneshot] [PORT]\n");
    return 64;
  }
  try {
    Server server(port, mode);
    std::printf("listening on %s\n", server.address().c_str());
    std::fflush(stdout);
    server.run();
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "baseline_echo: %s\n", e.what());
    return 1;
  }
}
