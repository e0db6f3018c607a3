#include "net/listen_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include "sys/system_error.hpp"

namespace echod {
namespace {

UniqueFd make_socket(const SocketAddress& address) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket " + address.to_string());
  return fd;
}

void set_option(int fd, int level, int name, const std::string& what) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof(one)) != 0) throw_errno(what);
}

void bind_to(int fd, const SocketAddress& address) {
  if (::bind(fd, address.data(), address.length()) != 0) {
    throw_errno("bind " + address.to_string());
  }
}

// Fails with EADDRINUSE when any socket, from any process, is already bound to the address.
void check_address_free(const SocketAddress& address) {
  UniqueFd probe = make_socket(address);
  set_option(probe.get(), SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
  if (address.family() == AF_INET6) {
    set_option(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)");
  }
  bind_to(probe.get(), address);
}

}  // namespace

ListenSocket::ListenSocket(UniqueFd fd, SocketAddress address)
    : fd_(std::move(fd)), address_(address) {}

ListenSocket ListenSocket::open(const SocketAddress& address) {
  UniqueFd fd = make_socket(address);
  set_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
  set_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, "setsockopt(SO_REUSEPORT)");
  if (address.family() == AF_INET6) {
    // [::]:7 means IPv6 only; IPv4 is listed separately. This keeps 0.0.0.0:7 and [::]:7 from
    // colliding and makes the configuration say exactly what is served.
    set_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)");
  }
  bind_to(fd.get(), address);
  if (::listen(fd.get(), kBacklog) != 0) throw_errno("listen " + address.to_string());
  SocketAddress bound = SocketAddress::local_of(fd.get());
  return ListenSocket(std::move(fd), bound);
}

void ListenSocket::shrink_backlog() noexcept { ::listen(fd_.get(), 0); }

std::vector<ListenSocket> open_listen_group(const SocketAddress& address, unsigned count) {
  if (address.port() != 0) check_address_free(address);
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
