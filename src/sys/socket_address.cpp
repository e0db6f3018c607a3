#include "sys/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include "sys/system_error.hpp"

// This file is the one place where sockaddr_storage is viewed as sockaddr_in/sockaddr_in6: the
// socket API is defined in terms of those casts.
// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views, see above.

namespace echod {
namespace {

SocketAddress::ParseResult fail(std::string message) { return {std::nullopt, std::move(message)}; }

std::optional<std::uint16_t> parse_port(std::string_view text, SocketAddress::Use use,
                                        std::string& error) {
  if (text.empty()) {
    error = "missing port after ':'";
    return std::nullopt;
  }
  const unsigned long lowest = use == SocketAddress::Use::kConnect ? 1 : 0;
  unsigned long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool whole = end == text.data() + text.size();
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && whole && (value > 65535 || value < lowest))) {
    error = "port " + std::string(text) + " is out of range " + std::to_string(lowest) + "-65535";
    return std::nullopt;
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    error = "port '" + std::string(text) + "' is not a number";
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

SocketAddress::ParseResult SocketAddress::parse(std::string_view text, Use use) {
  // inet_pton() reads C strings: "127.0.0.1\0junk" must not pass as 127.0.0.1.
  if (text.find('\0') != std::string_view::npos) return fail("address contains a NUL byte");
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("'" + std::string(text) + "': missing ']'");
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return fail("'" + std::string(text) + "': expected ':PORT' after ']'");
    }
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail("'" + std::string(text) + "': expected HOST:PORT, e.g. 127.0.0.1:7 or [::1]:7");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      in6_addr probe{};
      if (::inet_pton(AF_INET6, std::string(host).c_str(), &probe) == 1) {
        return fail("'" + std::string(text) + "': an IPv6 address with a port must be written [" +
                    std::string(host) + "]:" + std::string(port_text));
      }
      return fail("'" + std::string(text) + "': write IPv6 addresses in brackets, e.g. [::1]:7");
    }
  }
  std::string error;
  auto port = parse_port(port_text, use, error);
  if (!port) return fail(error);
  if (host.empty()) return fail("'" + std::string(text) + "': missing host before ':'");

  SocketAddress result;
  std::string host_str(host);
  if (!bracketed && (host_str == "localhost" || host_str == "*")) {
    host_str = host_str == "*" ? "0.0.0.0" : "127.0.0.1";
  }
  if (bracketed) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
    if (::inet_pton(AF_INET6, host_str.c_str(), &sin6->sin6_addr) != 1) {
      return fail("'" + host_str + "' is not a valid IPv6 address");
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(*port);
    result.length_ = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&result.storage_);
    if (::inet_pton(AF_INET, host_str.c_str(), &sin->sin_addr) != 1) {
      return fail("'" + host_str + "' is not a valid IPv4 address (host names other than " +
                  "localhost are not resolved)");
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(*port);
    result.length_ = sizeof(sockaddr_in);
  }
  return {result, {}};
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* addr, socklen_t length) {
  SocketAddress result;
  if (length > sizeof(result.storage_)) length = sizeof(result.storage_);
  std::memcpy(&result.storage_, addr, length);
  result.length_ = length;
  return result;
}

SocketAddress SocketAddress::from_ipv4(std::uint32_t host_order_address, std::uint16_t port) {
  SocketAddress result;
  auto* sin = reinterpret_cast<sockaddr_in*>(&result.storage_);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(host_order_address);
  sin->sin_port = htons(port);
  result.length_ = sizeof(sockaddr_in);
  return result;
}

SocketAddress SocketAddress::from_ipv6(const std::array<std::uint8_t, 16>& bytes,
                                       std::uint16_t port) {
  SocketAddress result;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
  sin6->sin6_family = AF_INET6;
  std::memcpy(&sin6->sin6_addr, bytes.data(), bytes.size());
  sin6->sin6_port = htons(port);
  result.length_ = sizeof(sockaddr_in6);
  return result;
}

SocketAddress SocketAddress::local_of(int fd) {
  SocketAddress result;
  result.length_ = sizeof(result.storage_);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&result.storage_), &result.length_) != 0) {
    throw_errno("getsockname");
  }
  if (result.length_ > sizeof(result.storage_)) {  // not an IPv4 or IPv6 socket
    throw std::system_error(std::make_error_code(std::errc::address_family_not_supported),
                            "getsockname");
  }
  return result;
}

int SocketAddress::family() const { return data()->sa_family; }

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  return 0;
}

void SocketAddress::set_port(std::uint16_t port) {
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
}

bool SocketAddress::is_wildcard() const {
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  return false;
}

bool SocketAddress::is_loopback() const {
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  if (family() == AF_INET) {
    auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
    return (addr >> 24) == 127;
  }
  return false;
}

const sockaddr* SocketAddress::data() const { return reinterpret_cast<const sockaddr*>(&storage_); }

std::string SocketAddress::host_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                sizeof(text));
  } else if (family() == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                sizeof(text));
  } else {
    return "?";
  }
  return text;
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET6) return "[" + host_string() + "]:" + std::to_string(port());
  return host_string() + ":" + std::to_string(port());
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

}  // namespace echod
// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
