#pragma once

#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace echod {

// A non-blocking, close-on-exec socket bound with SO_REUSEPORT, so that every worker can have its
// own socket on the same address and the kernel spreads the traffic among them: what every
// listener type shares, whatever its protocol. ListenSocket (TCP) is built on it; a datagram
// socket would be too. `type` is SOCK_STREAM or SOCK_DGRAM.
class ReuseportSocket {
 public:
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  // Inherited sockets belong to the service manager: echod never shrinks their backlog, and
  // leaves what is queued on them for the next instance when it stops.
  [[nodiscard]] bool inherited() const noexcept { return inherited_; }
  // The bound address (with the kernel's port when port 0 was asked for).
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

  // Steers the new connections of this socket's whole SO_REUSEPORT group to the group's first
  // `count` sockets (a classic BPF program, SO_ATTACH_REUSEPORT_CBPF, that the kernel runs for
  // each SYN only); 0 removes the program, so that every socket gets new connections again.
  //
  // The kernel keeps a group's sockets in an array: a socket joins at the end when it starts
  // listening, and a closing socket's slot is taken by the last one. So as long as every
  // socket that should stay is at an index below `count` and only sockets above it close, the
  // program keeps pointing at the right sockets. Throws std::system_error.
  void steer_to_first(unsigned count);

  // Fails with EADDRINUSE when any socket of `type`, from any process, is already bound to
  // the address: a socket *without* SO_REUSEPORT, which would otherwise let us silently join a
  // port another process holds (even another echod of the same user). Throws std::system_error.
  static void check_address_free(const SocketAddress& address, int type);

 protected:
  ReuseportSocket(UniqueFd fd, SocketAddress address, bool inherited = false);

  // socket + SO_REUSEADDR + SO_REUSEPORT (+ IPV6_V6ONLY) + bind; address() is then the bound
  // address. Throws std::system_error naming the call and the address, e.g. "bind 127.0.0.1:7".
  static ReuseportSocket bind(const SocketAddress& address, int type);
  // Takes over a socket passed by systemd (socket activation), after checking that it is an
  // IPv4 or IPv6 socket of `type` (listening, for SOCK_STREAM). Throws std::system_error.
  static ReuseportSocket adopt(UniqueFd fd, int type);
  // Another handle on the same socket (dup), for another worker.
  [[nodiscard]] ReuseportSocket duplicate() const;

 private:
  UniqueFd fd_;
  SocketAddress address_;
  bool inherited_ = false;
};

// Sets an int socket option to 1; throws std::system_error with `what` on failure.
void enable_socket_option(int fd, int level, int name, const char* what);

}  // namespace echod
