#pragma once

#include <vector>

#include "net/reuseport_socket.hpp"

namespace echod {

// A TCP listening socket on the SO_REUSEPORT base: every worker has its own socket on the same
// address and the kernel spreads new connections among them. Accepted sockets inherit
// TCP_NODELAY.
class ListenSocket : public ReuseportSocket {
 public:
  static constexpr int kBacklog = 4096;  // the kernel caps it at net.core.somaxconn

  // The base's bind + TCP_NODELAY + listen. Throws std::system_error naming the call and the
  // address, e.g. "bind 127.0.0.1:7".
  static ListenSocket open(const SocketAddress& address);

  // Takes over a listening socket passed by systemd (socket activation), after checking that it
  // is a listening TCP socket. Throws std::system_error.
  static ListenSocket adopt(UniqueFd fd);
  // Another handle on the same socket (dup), for another worker.
  [[nodiscard]] ListenSocket duplicate() const;

  // Shrinks the accept queue to the minimum, so that few connections can still land on a socket
  // that is about to be closed (the kernel resets those still queued at close).
  void shrink_backlog() noexcept;

 private:
  explicit ListenSocket(ReuseportSocket socket) : ReuseportSocket(std::move(socket)) {}
};

// Opens `count` sockets on one address, all in the same SO_REUSEPORT group. Port 0 picks an
// ephemeral port once, and every other socket joins that port. A non-zero port is first checked
// with a socket *without* SO_REUSEPORT, so that a port held by another process (even another
// echod of the same user, which SO_REUSEPORT would otherwise let us silently share) is reported
// as "address in use" instead of being joined.
std::vector<ListenSocket> open_listen_group(const SocketAddress& address, unsigned count);

}  // namespace echod
