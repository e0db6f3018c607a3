#include "sys/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <random>

namespace echod {
namespace {

// The raw address bytes of an IPv4/IPv6 socket address (4 or 16 of them).
std::size_t address_bytes(const SocketAddress& address, std::array<std::uint8_t, 16>& out) {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr family views.
  if (address.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(address.data());
    std::memcpy(out.data(), &sin->sin_addr, 4);
    return 4;
  }
  if (address.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(address.data());
    std::memcpy(out.data(), &sin6->sin6_addr, 16);
    return 16;
  }
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  return 0;
}

}  // namespace

Cidr::ParseResult Cidr::parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return {std::nullopt, "a network must not contain a NUL byte"};
  }
  std::string address_text(text.substr(0, text.find('/')));
  Cidr cidr;
  if (::inet_pton(AF_INET, address_text.c_str(), cidr.bytes_.data()) == 1) {
    cidr.family_ = AF_INET;
  } else if (::inet_pton(AF_INET6, address_text.c_str(), cidr.bytes_.data()) == 1) {
    cidr.family_ = AF_INET6;
  } else {
    return {std::nullopt, "'" + std::string(text) + "' is not an IPv4 or IPv6 network " +
                              "(write e.g. 10.0.0.0/8 or 2001:db8::/32)"};
  }
  unsigned max_prefix = cidr.family_ == AF_INET ? 32 : 128;
  cidr.prefix_ = max_prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto prefix_text = text.substr(slash + 1);
    auto [end, ec] =
        std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), cidr.prefix_);
    if (ec != std::errc() || end != prefix_text.data() + prefix_text.size() ||
        prefix_text.empty() || cidr.prefix_ > max_prefix) {
      return {std::nullopt,
              "'" + std::string(text) + "': prefix length must be 0-" + std::to_string(max_prefix)};
    }
  }
  std::size_t length = max_prefix / 8;
  for (std::size_t i = 0; i < length; ++i) {
    unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= cidr.prefix_) {
      cidr.bytes_[i] = 0;
    } else if (cidr.prefix_ - bit < 8) {
      cidr.bytes_[i] &= static_cast<std::uint8_t>(0xff << (8 - (cidr.prefix_ - bit)));
    }
  }
  return {cidr, {}};
}

bool Cidr::contains(const SocketAddress& address) const noexcept {
  if (address.family() != family_) return false;
  std::array<std::uint8_t, 16> bytes{};
  address_bytes(address, bytes);
  unsigned full = prefix_ / 8;
  if (std::memcmp(bytes.data(), bytes_.data(), full) != 0) return false;
  unsigned rest = prefix_ % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == bytes_[full];
}

std::string Cidr::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family_, bytes_.data(), text, sizeof(text));
  return std::string(text) + "/" + std::to_string(prefix_);
}

PeerKey PeerKey::of(const SocketAddress& address) noexcept {
  PeerKey key;
  std::array<std::uint8_t, 16> bytes{};
  std::size_t length = address_bytes(address, bytes);
  key.bytes[0] = static_cast<std::uint8_t>(length);
  std::memcpy(key.bytes.data() + 1, bytes.data(), length == 16 ? 8 : length);
  return key;
}

std::string PeerKey::to_string() const {
  std::array<std::uint8_t, 16> address{};
  std::memcpy(address.data(), bytes.data() + 1, bytes.size() - 1);
  char text[INET6_ADDRSTRLEN] = {};
  if (bytes[0] == 4) {
    ::inet_ntop(AF_INET, address.data(), text, sizeof(text));
    return text;
  }
  ::inet_ntop(AF_INET6, address.data(), text, sizeof(text));
  return std::string(text) + "/64";
}

std::size_t PeerKeyHash::operator()(const PeerKey& key) const noexcept {
  // FNV-1a from a per-process random start: keys are chosen by clients, so the bucket a key
  // lands in must not be predictable from outside.
  static const std::uint64_t kSeed = std::random_device{}();
  std::uint64_t hash = 1469598103934665603ULL ^ kSeed;
  for (std::uint8_t byte : key.bytes) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(hash);
}

}  // namespace echod
