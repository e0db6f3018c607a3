#pragma once

#include <vector>

#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace echod {

// A non-blocking, close-on-exec TCP listening socket with SO_REUSEPORT, so that every worker can
// have its own socket on the same address and the kernel spreads new connections among them.
class ListenSocket {
 public:
  static constexpr int kBacklog = 4096;  // the kernel caps it at net.core.somaxconn

  // socket + SO_REUSEADDR + SO_REUSEPORT (+ IPV6_V6ONLY) + bind + listen. Throws
  // std::system_error naming the call and the address, e.g. "bind 127.0.0.1:7".
  static ListenSocket open(const SocketAddress& address);

  // Takes over a listening socket passed by systemd (socket activation), after checking that it
  // is a listening TCP socket. Throws std::system_error.
  static ListenSocket adopt(UniqueFd fd);
  // Another handle on the same socket (dup), for another worker.
  [[nodiscard]] ListenSocket duplicate() const;

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  // Inherited sockets belong to the service manager: echod never shrinks their backlog, and
  // leaves what is queued on them for the next instance when it stops.
  [[nodiscard]] bool inherited() const noexcept { return inherited_; }
  // The bound address (with the kernel's port when port 0 was asked for).
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

  // Shrinks the accept queue to the minimum, so that few connections can still land on a socket
  // that is about to be closed (the kernel resets those still queued at close).
  void shrink_backlog() noexcept;

  // Steers the new connections of this socket's whole SO_REUSEPORT group to the group's first
  // `count` sockets (a classic BPF program, SO_ATTACH_REUSEPORT_CBPF, that the kernel runs for
  // each SYN only); 0 removes the program, so that every socket gets new connections again.
  //
  // The kernel keeps a group's sockets in an array: a socket joins at the end when it starts
  // listening, and a closing socket's slot is taken by the last one. So as long as every
  // socket that should stay is at an index below `count` and only sockets above it close, the
  // program keeps pointing at the right sockets. Throws std::system_error.
  void steer_to_first(unsigned count);

 private:
  ListenSocket(UniqueFd fd, SocketAddress address, bool inherited = false);

  UniqueFd fd_;
  SocketAddress address_;
  bool inherited_ = false;
};

// Opens `count` sockets on one address, all in the same SO_REUSEPORT group. Port 0 picks an
// ephemeral port once, and every other socket joins that port. A non-zero port is first checked
// with a socket *without* SO_REUSEPORT, so that a port held by another process (even another
// echod of the same user, which SO_REUSEPORT would otherwise let us silently share) is reported
// as "address in use" instead of being joined.
std::vector<ListenSocket> open_listen_group(const SocketAddress& address, unsigned count);

}  // namespace echod
