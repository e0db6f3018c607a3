// baseline_udp_echo: the textbook UDP echo server (RFC 862), single-threaded, one blocking
// recvfrom() and one sendto() per datagram: the yardstick for echod's UDP benchmarks. Written
// correctly, not naively: the buffer holds the largest UDP payload (65535 bytes) so that nothing
// is echoed cut, and a failed sendto() (ENOBUFS, EAGAIN) drops that reply and goes on. No
// guards, no rate limits, no batching: what xinetd's and inetutils' echo-dgram do, minus their
// truncation.
//
// Usage: baseline_udp_echo [PORT]   (0 or none: an ephemeral port). Listens on 127.0.0.1 and
// prints "listening on 127.0.0.1:PORT" once it receives.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <system_error>

#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace {

constexpr std::size_t kMaxPayload = 65535;

[[noreturn]] void run(std::uint16_t port) {
  auto address = *echod::SocketAddress::parse("127.0.0.1:" + std::to_string(port)).address;
  echod::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) echod::throw_errno("socket");
  if (::bind(fd.get(), address.data(), address.length()) != 0) {
    echod::throw_errno("bind " + address.to_string());
  }
  std::printf("listening on %s\n", echod::SocketAddress::local_of(fd.get()).to_string().c_str());
  std::fflush(stdout);
  static std::array<char, kMaxPayload> buffer{};
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    ssize_t n = ::recvfrom(fd.get(), buffer.data(), buffer.size(), 0,
                           reinterpret_cast<sockaddr*>(&peer), &peer_length);  // NOLINT
    if (n < 0) {
      if (errno == EINTR) continue;
      echod::throw_errno("recvfrom");
    }
    // A failed reply is dropped: UDP promises nothing, and queueing would only add latency.
    ::sendto(fd.get(), buffer.data(), static_cast<std::size_t>(n), 0,
             reinterpret_cast<const sockaddr*>(&peer), peer_length);  // NOLINT
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  if (argc > 2) {
    std::fprintf(stderr, "usage: baseline_udp_echo [PORT]\n");
    return 64;
  }
  if (argc == 2) {
    std::string_view text(argv[1]);  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size()) {
      std::fprintf(stderr, "baseline_udp_echo: '%s' is not a port\n", argv[1]);  // NOLINT
      return 64;
    }
  }
  try {
    run(port);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "baseline_udp_echo: %s\n", e.what());
    return 1;
  }
}
