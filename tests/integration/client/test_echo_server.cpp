#include "test_echo_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"

namespace echod::client::testing {
namespace {

constexpr std::size_t kMaxPending = 256 * 1024;

struct Connection {
  UniqueFd fd;
  std::vector<unsigned char> pending;
  std::uint64_t received = 0;  // stream offset of the next byte read
  bool peer_closed = false;
  std::vector<unsigned char> history;  // the last 64 bytes received (kDuplicate)
};

}  // namespace

TestEchoServer::TestEchoServer(Options options) : options_(options) {
  auto address = *SocketAddress::parse(options.ipv6 ? "[::1]:0" : "127.0.0.1:0").address;
  listener_ = UniqueFd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_) throw_errno("socket");
  if (::bind(listener_.get(), address.data(), address.length()) != 0) throw_errno("bind");
  if (::listen(listener_.get(), SOMAXCONN) != 0) throw_errno("listen");
  port_ = SocketAddress::local_of(listener_.get()).port();
  thread_.start([this] { run(); });
}

void TestEchoServer::run() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::array<unsigned char, 64 * 1024> buffer{};
  for (;;) {
    std::vector<pollfd> fds = {{thread_.stop_fd(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
    for (const auto& c : connections) {
      short events = 0;
      if (!c->peer_closed && c->pending.size() < kMaxPending) events |= POLLIN;
      if (!c->pending.empty()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        UniqueFd accepted(fd);
        if (options_.refuse_beyond && accepted_ >= *options_.refuse_beyond) {
          ++refused_;  // `accepted` closes it here
        } else {
          connections.push_back(std::make_unique<Connection>());
          connections.back()->fd = std::move(accepted);
        }
        ++accepted_;
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      Connection& c = *connections[i - 2];
      bool close = false;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(c.fd.get(), buffer.data(), buffer.size(), 0);
        if (n == 0) {
          c.peer_closed = true;
        } else if (n < 0) {
          close = errno != EAGAIN && errno != EINTR;
        } else {
          auto count = static_cast<std::uint64_t>(n);
          std::uint64_t begin = c.received;
          std::uint64_t fault = options_.fault_offset;
          c.received += count;
          bool fault_here = fault >= begin && fault < c.received;
          bool fault_after = fault > begin && fault <= c.received;  // kDuplicate: after byte f-1
          switch (options_.behaviour) {
            case Behaviour::kSilent:
              break;
            case Behaviour::kCloseAtFault:
              if (c.received >= fault) close = true;
              [[fallthrough]];
            case Behaviour::kEcho:
              if (!close) c.pending.insert(c.pending.end(), buffer.data(), buffer.data() + n);
              break;
            case Behaviour::kFlipByte:
              if (fault_here) buffer[fault - begin] ^= 0x20;
              c.pending.insert(c.pending.end(), buffer.data(), buffer.data() + n);
              break;
            case Behaviour::kDuplicate: {
              auto split = static_cast<std::ptrdiff_t>(fault_after ? fault - begin : count);
              c.pending.insert(c.pending.end(), buffer.data(), buffer.data() + split);
              if (fault_after) {
                std::vector<unsigned char> recent = c.history;
                recent.insert(recent.end(), buffer.data(), buffer.data() + split);
                auto keep = std::min<std::ptrdiff_t>(64, std::ssize(recent));
                c.pending.insert(c.pending.end(), recent.end() - keep, recent.end());
              }
              c.pending.insert(c.pending.end(), buffer.data() + split, buffer.data() + n);
              break;
            }
          }
          c.history.insert(c.history.end(), buffer.data(), buffer.data() + n);
          if (c.history.size() > 64) {
            c.history.erase(c.history.begin(), c.history.end() - 64);
          }
        }
      }
      if (!close && (fds[i].revents & POLLOUT) && !c.pending.empty()) {
        ssize_t n = ::send(c.fd.get(), c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
        if (n > 0) {
          c.pending.erase(c.pending.begin(), c.pending.begin() + n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          close = true;
        }
      }
      if (c.peer_closed && c.pending.empty()) close = true;
      if (close) c.fd.reset();
    }
    std::erase_if(connections, [](const auto& c) { return !c->fd; });
  }
}

}  // namespace echod::client::testing
