#include "net/udp_socket.hpp"

#include <sys/socket.h>

#include "udp/echo_pass.hpp"

namespace echod {

UdpSocket UdpSocket::open(const SocketAddress& address) {
  ReuseportSocket socket = ReuseportSocket::bind(address, SOCK_DGRAM);
  udp::enable_receive_options(socket.fd(), address.family());
  return UdpSocket(std::move(socket));
}

std::vector<UdpSocket> open_udp_group(const SocketAddress& address, unsigned count) {
  if (address.port() != 0) UdpSocket::check_address_free(address, SOCK_DGRAM);
  std::vector<UdpSocket> group;
  group.reserve(count);
  SocketAddress target = address;
  for (unsigned i = 0; i < count; ++i) {
    group.push_back(UdpSocket::open(target));
    target = group.front().address();  // port 0: the rest join the port the first one got
  }
  return group;
}

}  // namespace echod
