#include "test_udp_echo_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <optional>
#include <vector>

#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"

namespace echod::client::testing {
namespace {

struct Held {
  std::vector<unsigned char> payload;
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
};

constexpr int kReorderQuietMs = 50;

}  // namespace

TestUdpEchoServer::TestUdpEchoServer(Options options) : options_(options) {
  auto address = *SocketAddress::parse(options.ipv6 ? "[::1]:0" : "127.0.0.1:0").address;
  socket_ = UniqueFd(::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_) throw_errno("socket");
  if (::bind(socket_.get(), address.data(), address.length()) != 0) throw_errno("bind");
  port_ = SocketAddress::local_of(socket_.get()).port();
  thread_.start([this] { run(); });
}

void TestUdpEchoServer::run() {
  std::vector<unsigned char> buffer(70000);
  std::optional<Held> held;
  auto send = [this](const unsigned char* data, std::size_t size, const sockaddr_storage& peer,
                     socklen_t length) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    ::sendto(socket_.get(), data, size, 0, reinterpret_cast<const sockaddr*>(&peer), length);
  };
  for (;;) {
    pollfd fds[2] = {{thread_.stop_fd(), POLLIN, 0}, {socket_.get(), POLLIN, 0}};
    int ready = ::poll(fds, 2, held ? kReorderQuietMs : -1);
    if (ready < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (ready == 0 && held) {  // quiet: release what was held back
      send(held->payload.data(), held->payload.size(), held->peer, held->peer_length);
      held.reset();
      continue;
    }
    if ((fds[1].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    ssize_t n = ::recvfrom(socket_.get(), buffer.data(), buffer.size(), 0,
                           reinterpret_cast<sockaddr*>(&peer), &peer_length);  // NOLINT
    if (n < 0) continue;
    auto size = static_cast<std::size_t>(n);
    std::uint64_t number = ++received_;
    bool fault = options_.nth > 0 && number % options_.nth == 0;
    switch (options_.behaviour) {
      case Behaviour::kSilent:
        break;
      case Behaviour::kEcho:
        send(buffer.data(), size, peer, peer_length);
        break;
      case Behaviour::kDrop:
        if (!fault) send(buffer.data(), size, peer, peer_length);
        break;
      case Behaviour::kDuplicate:
        send(buffer.data(), size, peer, peer_length);
        if (fault) send(buffer.data(), size, peer, peer_length);
        break;
      case Behaviour::kCorrupt:
        if (fault && size > 0) buffer[size / 2] ^= 0x20;
        send(buffer.data(), size, peer, peer_length);
        break;
      case Behaviour::kReorder:
        if (fault && !held) {
          held = Held{{buffer.begin(), buffer.begin() + n}, peer, peer_length};
          break;
        }
        send(buffer.data(), size, peer, peer_length);
        if (held) {
          send(held->payload.data(), held->payload.size(), held->peer, held->peer_length);
          held.reset();
        }
        break;
    }
  }
}

}  // namespace echod::client::testing
