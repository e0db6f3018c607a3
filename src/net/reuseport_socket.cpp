#include "net/reuseport_socket.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>

#include <systemd/sd-daemon.h>

#include "sys/system_error.hpp"

namespace echod {
namespace {

UniqueFd make_socket(const SocketAddress& address, int type) {
  UniqueFd fd(::socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket " + address.to_string());
  return fd;
}

void bind_to(int fd, const SocketAddress& address) {
  if (::bind(fd, address.data(), address.length()) != 0) {
    throw_errno("bind " + address.to_string());
  }
}

}  // namespace

void enable_socket_option(int fd, int level, int name, const char* what) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof(one)) != 0) throw_errno(what);
}

ReuseportSocket::ReuseportSocket(UniqueFd fd, SocketAddress address, bool inherited)
    : fd_(std::move(fd)), address_(address), inherited_(inherited) {}

void ReuseportSocket::check_address_free(const SocketAddress& address, int type) {
  UniqueFd probe = make_socket(address, type);
  enable_socket_option(probe.get(), SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
  if (address.family() == AF_INET6) {
    enable_socket_option(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)");
  }
  bind_to(probe.get(), address);
}

ReuseportSocket ReuseportSocket::bind(const SocketAddress& address, int type) {
  UniqueFd fd = make_socket(address, type);
  enable_socket_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
  enable_socket_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, "setsockopt(SO_REUSEPORT)");
  if (address.family() == AF_INET6) {
    // [::]:7 means IPv6 only; IPv4 is listed separately. This keeps 0.0.0.0:7 and [::]:7 from
    // colliding and makes the configuration say exactly what is served.
    enable_socket_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)");
  }
  bind_to(fd.get(), address);
  SocketAddress bound = SocketAddress::local_of(fd.get());
  return {std::move(fd), bound};
}

ReuseportSocket ReuseportSocket::adopt(UniqueFd fd, int type) {
  int fd_number = fd.get();
  const bool stream = type == SOCK_STREAM;
  if (::sd_is_socket(fd_number, AF_UNSPEC, type, stream ? 1 : -1) <= 0) {
    throw_errno(ENOTSOCK, "socket passed by systemd (fd " + std::to_string(fd_number) +
                              ") is not " +
                              (stream ? "a listening stream socket" : "a datagram socket"));
  }
  if (::sd_is_socket_inet(fd_number, AF_UNSPEC, type, stream ? 1 : -1, 0) <= 0) {
    throw_errno(EAFNOSUPPORT, "socket passed by systemd (fd " + std::to_string(fd_number) + ")");
  }
  SocketAddress address = SocketAddress::local_of(fd_number);
  int flags = ::fcntl(fd_number, F_GETFL);
  if (flags < 0 || ::fcntl(fd_number, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd_number, F_SETFD, FD_CLOEXEC) != 0) {
    throw_errno("fcntl " + address.to_string());
  }
  return {std::move(fd), address, true};
}

ReuseportSocket ReuseportSocket::duplicate() const {
  UniqueFd copy(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy) throw_errno("dup " + address_.to_string());
  return {std::move(copy), address_, inherited_};
}

void ReuseportSocket::steer_to_first(unsigned count) {
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

}  // namespace echod
