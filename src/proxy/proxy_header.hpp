#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "log/reason_info.hpp"
#include "sys/socket_address.hpp"

namespace echod {

// The PROXY protocol (HAProxy's doc/proxy-protocol.txt): a load balancer that proxies a TCP
// connection sends, as the very first bytes, a header naming the client it proxies for. This file
// is the parser only: bytes in, a verdict out, no sockets, no clock and no allocation. Whom to
// trust, how long to wait and what to do with the verdict is the caller's business.

// Which header versions a listener accepts.
enum class ProxyMode : std::uint8_t { kV1, kV2, kAny };

// Why a PROXY listener closed a connection before echoing anything. The parser returns the
// header reasons; the worker decides kUntrusted, kTimeout and kClosed.
enum class ProxyReject : std::uint8_t {
  kUntrusted,       // the peer is not in the listener's `trusted` networks
  kTimeout,         // no complete header within header_timeout
  kClosed,          // the peer closed (or reset) before its header was complete
  kNotProxy,        // the first bytes are neither a v1 nor a v2 signature
  kVersion,         // a valid signature of a version this listener does not accept
  kV1TooLong,       // no CRLF within the first 107 bytes
  kV1Invalid,       // a v1 line that breaks the grammar
  kV2Version,       // v2 signature with a version nibble other than 2
  kV2Command,       // v2 command other than LOCAL or PROXY
  kV2Family,        // v2 family/transport byte outside the specification
  kV2TooLarge,      // v2 header longer than kMaxProxyV2Length
  kV2ShortAddress,  // v2 length shorter than the address block of its family
  kV2Tlv,           // v2 TLVs that do not tile the rest of the header exactly, or a bad TLV length
  kV2Checksum,      // v2 CRC32C TLV that does not match the header
};

template <>
struct ReasonTable<ProxyReject> {
  static constexpr std::array kInfo{
      ReasonInfo{"peer not in trusted networks", "untrusted"},
      ReasonInfo{"no PROXY header within header_timeout", "timeout"},
      ReasonInfo{"closed before the PROXY header was complete", "closed"},
      ReasonInfo{"not a PROXY protocol header", "not_proxy"},
      ReasonInfo{"PROXY header version not accepted on this listener", "version"},
      ReasonInfo{"PROXY v1 line without CRLF within 107 bytes", "v1_too_long"},
      ReasonInfo{"malformed PROXY v1 line", "v1_invalid"},
      ReasonInfo{"PROXY v2 header with an unknown version", "v2_version"},
      ReasonInfo{"PROXY v2 header with an unknown command", "v2_command"},
      ReasonInfo{"PROXY v2 header with an unknown address family", "v2_family"},
      ReasonInfo{"PROXY v2 header longer than 4096 bytes", "v2_too_large"},
      ReasonInfo{"PROXY v2 header shorter than its address block", "v2_short_address"},
      ReasonInfo{"PROXY v2 header with malformed TLVs", "v2_tlv"},
      ReasonInfo{"PROXY v2 header with a wrong CRC32C", "v2_checksum"},
  };
};
inline constexpr std::size_t kProxyRejectCount = kReasonCount<ProxyReject>;

// v1: "PROXY UNKNOWN" with two full IPv6 addresses and ports, CRLF included.
inline constexpr std::size_t kMaxProxyV1Length = 107;
// v2: the 16 fixed bytes plus `len`. The format allows 65551; real senders stay far below (a few
// TLVs), and a cap keeps the per-connection buffer bounded.
inline constexpr std::size_t kMaxProxyV2Length = 4096;
// The most bytes a caller must buffer before the parser reaches a verdict.
inline constexpr std::size_t kMaxProxyHeaderLength = kMaxProxyV2Length;

inline constexpr std::array<std::byte, 12> kProxyV2Signature{
    std::byte{0x0D}, std::byte{0x0A}, std::byte{0x0D}, std::byte{0x0A},
    std::byte{0x00}, std::byte{0x0D}, std::byte{0x0A}, std::byte{0x51},
    std::byte{0x55}, std::byte{0x49}, std::byte{0x54}, std::byte{0x0A}};

enum class ProxyCommand : std::uint8_t {
  kLocal,  // v2 LOCAL (the balancer's own connection, e.g. a health check) or v1 UNKNOWN
  kProxy,  // relayed for a client; source/destination may still be absent (see has_addresses)
};

// What a complete header was, for counting: v1 with addresses, v2 PROXY with addresses, or a
// header that names no client (v2 LOCAL, v1 UNKNOWN, v2 families without TCP addresses).
enum class ProxyHeaderKind : std::uint8_t { kV1, kV2, kLocal };

template <>
struct ReasonTable<ProxyHeaderKind> {
  static constexpr std::array kInfo{ReasonInfo{"PROXY v1", "v1"}, ReasonInfo{"PROXY v2", "v2"},
                                    ReasonInfo{"PROXY without a client address", "local"}};
};
inline constexpr std::size_t kProxyHeaderKindCount = kReasonCount<ProxyHeaderKind>;

// A complete, valid header.
struct ProxyHeader {
  std::uint8_t version = 0;  // 1 or 2
  ProxyCommand command = ProxyCommand::kLocal;
  // AF_INET or AF_INET6 when the header carries TCP addresses (after IPv4-mapped IPv6 addresses
  // were turned into IPv4 ones), AF_UNSPEC otherwise: LOCAL, v1 UNKNOWN, and v2 families this
  // parser only skips (UDP, UNIX, UNSPEC).
  int family = 0;
  SocketAddress source;
  SocketAddress destination;
  // Bytes the header takes at the start of the stream; everything after them is payload.
  std::size_t header_length = 0;

  // True when source and destination name the client and the address it connected to; false
  // when the connection's own endpoints are to be used.
  [[nodiscard]] bool has_addresses() const { return family != 0; }
  [[nodiscard]] ProxyHeaderKind kind() const {
    if (!has_addresses()) return ProxyHeaderKind::kLocal;
    return version == 1 ? ProxyHeaderKind::kV1 : ProxyHeaderKind::kV2;
  }
};

struct ProxyNeedMore {};  // a valid prefix so far: read more (within the caller's timeout)
struct ProxyRejected {
  ProxyReject reason;
};

using ProxyParseResult = std::variant<ProxyNeedMore, ProxyHeader, ProxyRejected>;

// Parses the first bytes a connection has received so far (always from byte 0; `received` may
// extend past the header). Reaches a verdict as soon as the prefix can no longer start an
// acceptable header, and never asks for more than kMaxProxyHeaderLength bytes. Reads no byte of
// `received` beyond the header it returns.
ProxyParseResult parse_proxy_header(std::span<const std::byte> received, ProxyMode mode);

// A header a balancer would send (for load generators and tests): v1 "PROXY TCP4|TCP6 ..." or
// a v2 PROXY header without TLVs. When the two addresses are of different families, both are
// written as IPv6 (an IPv4 one as ::ffff:a.b.c.d). `version` is 1 or 2.
std::vector<std::byte> make_proxy_header(std::uint8_t version, const SocketAddress& source,
                                         const SocketAddress& destination);

// CRC32C (Castagnoli), as used by the PP2_TYPE_CRC32C TLV.
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0);

std::string_view to_string(ProxyMode mode);

}  // namespace echod
