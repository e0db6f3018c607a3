#pragma once

#include <vector>

#include "net/reuseport_socket.hpp"

namespace echod {

// A UDP echo socket on the SO_REUSEPORT base: every worker has its own socket on the same
// address and the kernel spreads datagrams among them. It reports where each datagram arrived
// (IP_PKTINFO / IPV6_RECVPKTINFO, so that the reply leaves from that address) and how many the
// kernel dropped for want of queue space (SO_RXQ_OVFL).
class UdpSocket : public ReuseportSocket {
 public:
  // The base's bind + the receive options. Throws std::system_error naming the call and the
  // address, e.g. "bind 127.0.0.1:7".
  static UdpSocket open(const SocketAddress& address);

 private:
  explicit UdpSocket(ReuseportSocket socket) : ReuseportSocket(std::move(socket)) {}
};

// Opens `count` sockets on one address, all in the same SO_REUSEPORT group, as
// open_listen_group() does for TCP: port 0 picks one ephemeral port for the whole group, and a
// non-zero port held by another process is reported as "address in use" instead of joined.
std::vector<UdpSocket> open_udp_group(const SocketAddress& address, unsigned count);

}  // namespace echod
