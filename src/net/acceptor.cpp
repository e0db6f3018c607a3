#include "net/acceptor.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

namespace echod {

Acceptor::Attempt Acceptor::accept_one(int listen_fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the socket API's sockaddr view.
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  int fd = -1;
  do {
    fd = ::accept4(listen_fd, address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0) {
    return AcceptedConnection{UniqueFd(fd), SocketAddress::from_sockaddr(address, length)};
  }
  int error = errno;
  if (error == EAGAIN || error == EWOULDBLOCK) return std::monostate{};
  AcceptFailure failure{classify_accept_error(error), error, false};
  if (failure.error_class == AcceptErrorClass::kFdLimit ||
      failure.error_class == AcceptErrorClass::kMemory) {
    paused_ = true;
    paused_until_ = Clock::now() + kPause;
    failure.paused = true;
  }
  return failure;
}

}  // namespace echod
