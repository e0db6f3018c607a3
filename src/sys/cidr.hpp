#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sys/socket_address.hpp"

namespace echod {

// An IPv4 or IPv6 network, "10.0.0.0/8", "2001:db8::/32", or a single address ("127.0.0.1",
// "::1") meaning /32 or /128.
class Cidr {
 public:
  struct ParseResult;
  static ParseResult parse(std::string_view text);

  [[nodiscard]] bool contains(const SocketAddress& address) const noexcept;
  [[nodiscard]] std::string to_string() const;
  // 0 for "0.0.0.0/0" and "::/0": every address of the family.
  [[nodiscard]] unsigned prefix_length() const noexcept { return prefix_; }

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  int family_ = 0;
  std::array<std::uint8_t, 16> bytes_{};  // network address, host bits cleared
  unsigned prefix_ = 0;
};

struct Cidr::ParseResult {
  std::optional<Cidr> cidr;
  std::string error;  // set when cidr is empty
};

// The part of a client's address that per-address limits count by: the whole IPv4 address, or
// the /64 prefix of an IPv6 address (one IPv6 host usually owns a whole /64).
struct PeerKey {
  std::array<std::uint8_t, 9> bytes{};  // [0] = family tag, then 4 or 8 address bytes

  static PeerKey of(const SocketAddress& address) noexcept;
  // "192.0.2.1", or an IPv6 prefix: "2001:db8:1:2::/64".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const PeerKey&, const PeerKey&) = default;
};

struct PeerKeyHash {
  std::size_t operator()(const PeerKey& key) const noexcept;
};

}  // namespace echod
