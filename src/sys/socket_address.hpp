#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace echod {

// An IPv4 or IPv6 socket address. Text form is "host:port" for IPv4 and "[host]:port" for IPv6;
// hosts are numeric addresses or "localhost" (which is resolved without DNS, to 127.0.0.1).
class SocketAddress {
 public:
  SocketAddress() = default;

  // What an address is for. Port 0 asks bind() for any free port, but is no port to connect to.
  enum class Use : std::uint8_t { kBind, kConnect };

  // Parses "1.2.3.4:7", "[::1]:7", "localhost:7", "*:7" (IPv4 any) or "[::]:7". Returns an
  // explanation on failure, suitable to follow "listen[0]: ".
  struct ParseResult;
  static ParseResult parse(std::string_view text, Use use = Use::kBind);

  static SocketAddress from_sockaddr(const sockaddr* addr, socklen_t length);
  // An IPv4 address from its 32-bit value in host byte order (0x7f000001 is 127.0.0.1).
  static SocketAddress from_ipv4(std::uint32_t host_order_address, std::uint16_t port);
  // An IPv6 address from its 16 bytes in network order.
  static SocketAddress from_ipv6(const std::array<std::uint8_t, 16>& bytes, std::uint16_t port);
  // The local address a socket is bound to (getsockname); throws std::system_error.
  static SocketAddress local_of(int fd);

  [[nodiscard]] int family() const;
  [[nodiscard]] std::uint16_t port() const;
  void set_port(std::uint16_t port);
  [[nodiscard]] bool is_wildcard() const;
  [[nodiscard]] bool is_loopback() const;

  [[nodiscard]] const sockaddr* data() const;
  [[nodiscard]] socklen_t length() const { return length_; }

  [[nodiscard]] std::string to_string() const;
  // Address without the port ("127.0.0.1", "::1"), for per-peer keys and logs.
  [[nodiscard]] std::string host_string() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b);

 private:
  // IPv4 or IPv6 only: 28 bytes (a sockaddr_in6 or a sockaddr_in, zeroed) instead of
  // sockaddr_storage's 128, since every connection keeps its client's address.
  alignas(sockaddr_in6) std::array<unsigned char, sizeof(sockaddr_in6)> storage_{};
  socklen_t length_ = 0;
};

struct SocketAddress::ParseResult {
  std::optional<SocketAddress> address;
  std::string error;  // set when address is empty
};

}  // namespace echod
