#include "control/control_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "sys/system_error.hpp"

namespace echod {
namespace {

constexpr std::size_t kMaxRequest = 256;
constexpr int kRequestWaitMs = 200;
constexpr std::size_t kMaxReply = 1 << 20;

sockaddr_un make_address(const std::string& path) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    throw_errno(ENAMETOOLONG, "control socket " + path);
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the socket API's sockaddr view.
bool connect_to(int fd, const sockaddr_un& address) {
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

void bind_to(int fd, const sockaddr_un& address, const std::string& path) {
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw_errno("bind " + path);
  }
}
// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

bool wait_for(int fd, short events, int timeout_ms) {
  pollfd entry{fd, events, 0};
  int n = retry_on_eintr([&] { return ::poll(&entry, 1, timeout_ms); });
  return n > 0;
}

}  // namespace

ControlSocket::ControlSocket(std::string path) : path_(std::move(path)) {
  sockaddr_un address = make_address(path_);
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);

  // A socket file left by a crashed daemon is replaced; one that still answers is not.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe && connect_to(probe.get(), address)) {
    throw_errno(EADDRINUSE, "control socket " + path_ + " (another echod is running)");
  }
  ::unlink(path_.c_str());

  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_) throw_errno("socket(AF_UNIX)");
  // Only the daemon's user (and root) may reload it or read its status.
  mode_t old_mask = ::umask(0077);
  try {
    bind_to(fd_.get(), address, path_);
  } catch (...) {
    ::umask(old_mask);
    throw;
  }
  ::umask(old_mask);
  if (::listen(fd_.get(), 16) != 0) throw_errno("listen " + path_);
}

ControlSocket::~ControlSocket() {
  if (fd_) ::unlink(path_.c_str());
}

std::optional<ControlSocket::Request> ControlSocket::accept_request() {
  UniqueFd client(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!client) return std::nullopt;
  std::string line;
  char buffer[kMaxRequest];
  while (line.find('\n') == std::string::npos && line.size() < kMaxRequest) {
    if (!wait_for(client.get(), POLLIN, kRequestWaitMs)) return std::nullopt;
    ssize_t n = ::recv(client.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n <= 0) break;
    line.append(buffer, static_cast<std::size_t>(n));
  }
  auto end = line.find_first_of("\r\n");
  if (end == std::string::npos) return std::nullopt;
  line.resize(end);
  return Request{std::move(client), std::move(line)};
}

void ControlSocket::reply(Request& request, const std::string& body) {
  std::size_t sent = 0;
  while (sent < body.size()) {
    if (!wait_for(request.client.get(), POLLOUT, kRequestWaitMs)) return;
    ssize_t n = ::send(request.client.get(), body.data() + sent, body.size() - sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
}

std::string control_request(const std::string& path, const std::string& command, int timeout_ms) {
  sockaddr_un address = make_address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket(AF_UNIX)");
  if (!connect_to(fd.get(), address)) throw_errno("connect " + path);
  std::string request = command + "\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    throw_errno("send " + path);
  }
  std::string reply;
  char buffer[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (reply.size() < kMaxReply) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_for(fd.get(), POLLIN, static_cast<int>(left.count()))) {
      throw_errno(ETIMEDOUT, "waiting for the daemon's answer on " + path);
    }
    ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("recv " + path);
    }
    reply.append(buffer, static_cast<std::size_t>(n));
  }
  return reply;
}

}  // namespace echod
