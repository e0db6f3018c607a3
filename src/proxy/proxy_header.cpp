#include "proxy/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace echod {
namespace {

constexpr std::string_view kV1Signature = "PROXY ";
constexpr std::size_t kV2FixedLength = 16;
constexpr std::size_t kV2MaxUniqueId = 128;
constexpr unsigned kPp2TypeCrc32c = 0x03;
constexpr unsigned kPp2TypeUniqueId = 0x05;

unsigned byte_at(std::span<const std::byte> bytes, std::size_t index) {
  return std::to_integer<unsigned>(bytes[index]);
}

std::uint16_t be16(std::span<const std::byte> bytes, std::size_t index) {
  return static_cast<std::uint16_t>((byte_at(bytes, index) << 8U) | byte_at(bytes, index + 1));
}

std::uint32_t be32(std::span<const std::byte> bytes, std::size_t index) {
  return (std::uint32_t{be16(bytes, index)} << 16U) | be16(bytes, index + 2);
}

ProxyRejected reject(ProxyReject reason) { return ProxyRejected{reason}; }

// An IPv6 address, or the IPv4 address it maps (::ffff:a.b.c.d): behind a dual-stack balancer
// every IPv4 client would otherwise share one IPv6 /64 limit bucket.
SocketAddress ipv6_or_mapped(const std::array<std::uint8_t, 16>& bytes, std::uint16_t port) {
  constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin())) {
    const std::uint32_t v4 = (std::uint32_t{bytes[12]} << 24U) | (std::uint32_t{bytes[13]} << 16U) |
                             (std::uint32_t{bytes[14]} << 8U) | std::uint32_t{bytes[15]};
    return SocketAddress::from_ipv4(v4, port);
  }
  return SocketAddress::from_ipv6(bytes, port);
}

// ---- v1 -------------------------------------------------------------------------------------

// A decimal port: "0" or 1-5 digits without a leading zero, at most 65535.
std::optional<std::uint16_t> v1_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0')) {
    return std::nullopt;
  }
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// An address of the given family; inet_pton() refuses IPv4 octets with leading zeros.
std::optional<SocketAddress> v1_address(std::string_view text, int family, std::uint16_t port) {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (text.empty() || text.size() >= buffer.size()) return std::nullopt;
  std::copy(text.begin(), text.end(), buffer.begin());
  if (family == AF_INET) {
    in_addr address{};
    if (::inet_pton(AF_INET, buffer.data(), &address) != 1) return std::nullopt;
    return SocketAddress::from_ipv4(ntohl(address.s_addr), port);
  }
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET6, buffer.data(), bytes.data()) != 1) return std::nullopt;
  return ipv6_or_mapped(bytes, port);
}

// Splits on single spaces; an empty field (two spaces in a row, a leading or a trailing space)
// makes the line invalid. Returns the number of fields, or 0 when invalid or more than `max`.
template <std::size_t N>
std::size_t split_fields(std::string_view line, std::array<std::string_view, N>& fields) {
  std::size_t count = 0;
  while (true) {
    const auto space = line.find(' ');
    const auto field = line.substr(0, space);
    if (field.empty() || count == N) return 0;
    fields.at(count++) = field;
    if (space == std::string_view::npos) return count;
    line.remove_prefix(space + 1);
  }
}

ProxyParseResult parse_v1_line(std::string_view line, std::size_t header_length) {
  // `line` is what follows "PROXY " up to (excluding) the CRLF.
  constexpr std::string_view kUnknown = "UNKNOWN";
  if (line == kUnknown || line.starts_with("UNKNOWN ")) {
    // The specification: ignore the rest, use the connection's own endpoints.
    ProxyHeader header;
    header.version = 1;
    header.command = ProxyCommand::kLocal;
    header.header_length = header_length;
    return header;
  }
  std::array<std::string_view, 5> fields{};
  if (split_fields(line, fields) != fields.size()) return reject(ProxyReject::kV1Invalid);
  int family = 0;
  if (fields[0] == "TCP4") {
    family = AF_INET;
  } else if (fields[0] == "TCP6") {
    family = AF_INET6;
  } else {
    return reject(ProxyReject::kV1Invalid);
  }
  const auto source_port = v1_port(fields[3]);
  const auto destination_port = v1_port(fields[4]);
  if (!source_port || !destination_port) return reject(ProxyReject::kV1Invalid);
  auto source = v1_address(fields[1], family, *source_port);
  auto destination = v1_address(fields[2], family, *destination_port);
  if (!source || !destination) return reject(ProxyReject::kV1Invalid);
  ProxyHeader header;
  header.version = 1;
  header.command = ProxyCommand::kProxy;
  header.family = source->family();
  header.source = *source;
  header.destination = *destination;
  header.header_length = header_length;
  return header;
}

ProxyParseResult parse_v1(std::span<const std::byte> received, ProxyMode mode) {
  const std::size_t prefix = std::min(received.size(), kV1Signature.size());
  for (std::size_t i = 0; i < prefix; ++i) {
    if (byte_at(received, i) != static_cast<unsigned char>(kV1Signature[i])) {
      return reject(ProxyReject::kNotProxy);
    }
  }
  if (received.size() < kV1Signature.size()) return ProxyNeedMore{};
  if (mode == ProxyMode::kV2) return reject(ProxyReject::kVersion);

  const std::size_t limit = std::min(received.size(), kMaxProxyV1Length);
  for (std::size_t i = kV1Signature.size(); i < limit; ++i) {
    const unsigned c = byte_at(received, i);
    if (c == '\r') {
      if (i + 2 > kMaxProxyV1Length) return reject(ProxyReject::kV1TooLong);  // no room for LF
      if (i + 1 == received.size()) return ProxyNeedMore{};
      if (byte_at(received, i + 1) != '\n') return reject(ProxyReject::kV1Invalid);
      std::array<char, kMaxProxyV1Length> line{};
      const std::size_t line_length = i - kV1Signature.size();
      for (std::size_t j = 0; j < line_length; ++j) {
        line.at(j) = static_cast<char>(byte_at(received, kV1Signature.size() + j));
      }
      return parse_v1_line(std::string_view(line.data(), line_length), i + 2);
    }
    if (c < 0x20 || c > 0x7e) return reject(ProxyReject::kV1Invalid);  // lone LF, NUL, ...
  }
  if (received.size() >= kMaxProxyV1Length) return reject(ProxyReject::kV1TooLong);
  return ProxyNeedMore{};
}

// ---- v2 -------------------------------------------------------------------------------------

// Bytes of the address block of a v2 family/transport byte, or nullopt for a value the
// specification does not define.
std::optional<std::size_t> v2_address_length(unsigned family_byte) {
  switch (family_byte) {
    case 0x00:
      return 0;  // UNSPEC
    case 0x11:
    case 0x12:
      return 12;  // TCP4, UDP4
    case 0x21:
    case 0x22:
      return 36;  // TCP6, UDP6
    case 0x31:
    case 0x32:
      return 216;  // UNIX stream, UNIX datagram
    default:
      return std::nullopt;
  }
}

// Walks the TLVs in [begin, end) exactly: each must fit, and the last must end at `end`.
ProxyParseResult check_v2_tlvs(std::span<const std::byte> header, std::size_t begin) {
  const std::size_t end = header.size();
  std::optional<std::size_t> crc_offset;
  std::size_t position = begin;
  while (position < end) {
    if (end - position < 3) return reject(ProxyReject::kV2Tlv);
    const unsigned type = byte_at(header, position);
    const std::size_t length = be16(header, position + 1);
    const std::size_t value = position + 3;
    if (length > end - value) return reject(ProxyReject::kV2Tlv);
    if (type == kPp2TypeCrc32c) {
      if (length != 4 || crc_offset) return reject(ProxyReject::kV2Tlv);
      crc_offset = value;
    }
    if (type == kPp2TypeUniqueId && length > kV2MaxUniqueId) return reject(ProxyReject::kV2Tlv);
    position = value + length;
  }
  if (crc_offset) {
    constexpr std::array<std::byte, 4> kZero{};
    std::uint32_t crc = crc32c(header.first(*crc_offset));
    crc = crc32c(kZero, crc);
    crc = crc32c(header.subspan(*crc_offset + 4), crc);
    if (crc != be32(header, *crc_offset)) return reject(ProxyReject::kV2Checksum);
  }
  return ProxyNeedMore{};  // no objection
}

ProxyParseResult parse_v2(std::span<const std::byte> received, ProxyMode mode) {
  const std::size_t prefix = std::min(received.size(), kProxyV2Signature.size());
  if (!std::equal(received.begin(), received.begin() + static_cast<std::ptrdiff_t>(prefix),
                  kProxyV2Signature.begin())) {
    return reject(ProxyReject::kNotProxy);
  }
  if (received.size() < kProxyV2Signature.size()) return ProxyNeedMore{};
  if (mode == ProxyMode::kV1) return reject(ProxyReject::kVersion);

  if (received.size() < 13) return ProxyNeedMore{};
  const unsigned version_command = byte_at(received, 12);
  if ((version_command >> 4U) != 2) return reject(ProxyReject::kV2Version);
  const unsigned command = version_command & 0x0FU;
  if (command > 1) return reject(ProxyReject::kV2Command);

  if (received.size() < 14) return ProxyNeedMore{};
  const unsigned family_byte = byte_at(received, 13);
  const auto address_length = v2_address_length(family_byte);
  if (!address_length) return reject(ProxyReject::kV2Family);

  if (received.size() < kV2FixedLength) return ProxyNeedMore{};
  const std::size_t length = kV2FixedLength + be16(received, 14);
  if (length > kMaxProxyV2Length) return reject(ProxyReject::kV2TooLarge);
  if (received.size() < length) return ProxyNeedMore{};
  const auto header_bytes = received.first(length);  // nothing past this is looked at
  if (length - kV2FixedLength < *address_length) return reject(ProxyReject::kV2ShortAddress);
  if (auto tlvs = check_v2_tlvs(header_bytes, kV2FixedLength + *address_length);
      !std::holds_alternative<ProxyNeedMore>(tlvs)) {
    return tlvs;
  }

  ProxyHeader header;
  header.version = 2;
  header.command = command == 1 ? ProxyCommand::kProxy : ProxyCommand::kLocal;
  header.header_length = length;
  if (header.command == ProxyCommand::kProxy && family_byte == 0x11) {
    header.source = SocketAddress::from_ipv4(be32(header_bytes, 16), be16(header_bytes, 24));
    header.destination = SocketAddress::from_ipv4(be32(header_bytes, 20), be16(header_bytes, 26));
    header.family = AF_INET;
  } else if (header.command == ProxyCommand::kProxy && family_byte == 0x21) {
    std::array<std::uint8_t, 16> source{};
    std::array<std::uint8_t, 16> destination{};
    for (std::size_t i = 0; i < 16; ++i) {
      source.at(i) = static_cast<std::uint8_t>(byte_at(header_bytes, 16 + i));
      destination.at(i) = static_cast<std::uint8_t>(byte_at(header_bytes, 32 + i));
    }
    header.source = ipv6_or_mapped(source, be16(header_bytes, 48));
    header.destination = ipv6_or_mapped(destination, be16(header_bytes, 50));
    header.family = header.source.family();
  }
  return header;
}

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) != 0 ? (crc >> 1U) ^ 0x82F63B78U : crc >> 1U;
    table.at(i) = crc;
  }
  return table;
}

constexpr auto kCrc32cTable = make_crc32c_table();

}  // namespace

ProxyParseResult parse_proxy_header(std::span<const std::byte> received, ProxyMode mode) {
  if (received.empty()) return ProxyNeedMore{};
  if (byte_at(received, 0) == static_cast<unsigned char>(kV1Signature[0])) {
    return parse_v1(received, mode);
  }
  return parse_v2(received, mode);
}

std::vector<std::byte> make_proxy_header(std::uint8_t version, const SocketAddress& source,
                                         const SocketAddress& destination) {
  const bool ipv4 = source.family() == AF_INET && destination.family() == AF_INET;
  auto host = [ipv4](const SocketAddress& address) {
    return !ipv4 && address.family() == AF_INET ? "::ffff:" + address.host_string()
                                                : address.host_string();
  };
  std::vector<std::byte> out;
  auto append_text = [&out](std::string_view text) {
    for (const char c : text) out.push_back(static_cast<std::byte>(c));
  };
  if (version == 1) {
    append_text(std::string(ipv4 ? "PROXY TCP4 " : "PROXY TCP6 ") + host(source) + " " +
                host(destination) + " " + std::to_string(source.port()) + " " +
                std::to_string(destination.port()) + "\r\n");
    return out;
  }
  out.assign(kProxyV2Signature.begin(), kProxyV2Signature.end());
  const std::size_t address_bytes = ipv4 ? 4 : 16;
  out.push_back(std::byte{0x21});
  out.push_back(ipv4 ? std::byte{0x11} : std::byte{0x21});
  out.push_back(std::byte{0});
  out.push_back(static_cast<std::byte>(2 * address_bytes + 4));
  for (const SocketAddress* address : {&source, &destination}) {
    std::array<unsigned char, 16> bytes{};
    (void)::inet_pton(ipv4 ? AF_INET : AF_INET6, host(*address).c_str(), bytes.data());
    for (std::size_t i = 0; i < address_bytes; ++i) out.push_back(std::byte{bytes.at(i)});
  }
  for (const std::uint16_t port : {source.port(), destination.port()}) {
    out.push_back(static_cast<std::byte>(port >> 8U));
    out.push_back(static_cast<std::byte>(port & 0xFFU));
  }
  return out;
}

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) {
  crc = ~crc;
  for (const std::byte b : data) {
    crc = kCrc32cTable.at((crc ^ std::to_integer<std::uint32_t>(b)) & 0xFFU) ^ (crc >> 8U);
  }
  return ~crc;
}

std::string_view to_string(ProxyMode mode) {
  switch (mode) {
    case ProxyMode::kV1:
      return "v1";
    case ProxyMode::kV2:
      return "v2";
    case ProxyMode::kAny:
      return "any";
  }
  return "?";
}

}  // namespace echod
