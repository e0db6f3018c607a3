#include "net/listen_socket.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include <systemd/sd-daemon.h>

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

ListenSocket::ListenSocket(UniqueFd fd, SocketAddress address, bool inherited)
    : fd_(std::move(fd)), address_(address), inherited_(inherited) {}

ListenSocket ListenSocket::adopt(UniqueFd fd) {
  int fd_number = fd.get();
  if (::sd_is_socket(fd_number, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
    throw_errno(ENOTSOCK, "socket passed by systemd (fd " + std::to_string(fd_number) +
                              ") is not a listening stream socket");
  }
  SocketAddress address = SocketAddress::local_of(fd_number);
  if (address.family() != AF_INET && address.family() != AF_INET6) {
    throw_errno(EAFNOSUPPORT, "socket passed by systemd (fd " + std::to_string(fd_number) + ")");
  }
  int flags = ::fcntl(fd_number, F_GETFL);
  if (flags < 0 || ::fcntl(fd_number, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd_number, F_SETFD, FD_CLOEXEC) != 0) {
    throw_errno("fcntl " + address.to_string());
  }
  return {std::move(fd), address, true};
}

ListenSocket ListenSocket::duplicate() const {
  UniqueFd copy(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy) throw_errno("dup " + address_.to_string());
  return {std::move(copy), address_, inherited_};
}

ListenSocket ListenSocket::open(const SocketAddress& address) {
  UniqueFd fd = make_socket(address);
  set_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
  set_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, "setsockopt(SO_REUSEPORT)");
  if (address.family() == AF_INET6) {
    // [::]:7 means IPv6 only; IPv4 is listed separately. This keeps 0.0.0.0:7 and [::]:7 from
    // colliding and makes the configuration say exactly what is served.
    set_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)");
  }
  // Accepted sockets inherit TCP_NODELAY from the listener. Without it, an echo longer than one
  // read leaves a short tail that Nagle holds back until the client's delayed ACK (~40 ms).
  set_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, "setsockopt(TCP_NODELAY)");
  bind_to(fd.get(), address);
  if (::listen(fd.get(), kBacklog) != 0) throw_errno("listen " + address.to_string());
  SocketAddress bound = SocketAddress::local_of(fd.get());
  return {std::move(fd), bound};
}

void ListenSocket::shrink_backlog() noexcept {
  if (!inherited_) ::listen(fd_.get(), 0);
}

void ListenSocket::steer_to_first(unsigned count) {
  if (count == 0) {
    int unused = 0;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused)) ==
            0 ||
        errno == ENOENT) {
      return;
    }
    if (errno != ENOPROTOOPT)
      throw_errno("setsockopt(SO_DETACH_REUSEPORT_BPF) " + address_.to_string());
    // Before Linux 5.3 a program cannot be detached. One that returns an index past the end of
    // the group does the same: the kernel then picks a socket by hash, as without a program.
  }
  // A = random(); A %= count; return A: the index of the socket to take the connection.
  std::array<sock_filter, 3> steer{{
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, count},
      {BPF_RET | BPF_A, 0, 0, 0},
  }};
  std::array<sock_filter, 1> by_hash{{{BPF_RET | BPF_K, 0, 0, 0xffffffffU}}};
  sock_fprog program = count == 0
                           ? sock_fprog{static_cast<unsigned short>(by_hash.size()), by_hash.data()}
                           : sock_fprog{static_cast<unsigned short>(steer.size()), steer.data()};
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof(program)) !=
      0) {
    throw_errno("setsockopt(SO_ATTACH_REUSEPORT_CBPF) " + address_.to_string());
  }
}

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
