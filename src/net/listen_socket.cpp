#include "net/listen_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "sys/system_error.hpp"

namespace echod {

ListenSocket ListenSocket::open(const SocketAddress& address) {
  ReuseportSocket socket = ReuseportSocket::bind(address, SOCK_STREAM);
  // Accepted sockets inherit TCP_NODELAY from the listener. Without it, an echo longer than one
  // read leaves a short tail that Nagle holds back until the client's delayed ACK (~40 ms).
  enable_socket_option(socket.fd(), IPPROTO_TCP, TCP_NODELAY, "setsockopt(TCP_NODELAY)");
  if (::listen(socket.fd(), kBacklog) != 0) throw_errno("listen " + address.to_string());
  return ListenSocket(std::move(socket));
}

ListenSocket ListenSocket::adopt(UniqueFd fd) {
  return ListenSocket(ReuseportSocket::adopt(std::move(fd), SOCK_STREAM));
}

ListenSocket ListenSocket::duplicate() const { return ListenSocket(ReuseportSocket::duplicate()); }

void ListenSocket::shrink_backlog() noexcept {
  if (!inherited()) ::listen(fd(), 0);
}

std::vector<ListenSocket> open_listen_group(const SocketAddress& address, unsigned count) {
  if (address.port() != 0) ListenSocket::check_address_free(address, SOCK_STREAM);
  std::vector<ListenSocket> group;
  group.reserve(count);
  SocketAddress target = address;
  for (unsigned i = 0; i < count; ++i) {
    group.push_back(ListenSocket::open(target));
    target = group.front().address();  // port 0: the rest join the port the first one got
  }
  return group;
}

}  // namespace echod
