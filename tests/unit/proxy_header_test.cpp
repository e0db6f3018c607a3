#include "proxy/proxy_header.hpp"

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes_of(std::string_view text) {
  Bytes out;
  for (const char c : text) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
  return out;
}

void append(Bytes& out, std::initializer_list<unsigned> values) {
  for (const unsigned v : values) out.push_back(static_cast<std::byte>(v));
}

void append_be16(Bytes& out, std::size_t value) {
  append(out, {static_cast<unsigned>(value >> 8U) & 0xFFU, static_cast<unsigned>(value) & 0xFFU});
}

struct Tlv {
  unsigned type;
  Bytes value;
};

Tlv tlv(unsigned type, std::size_t length, unsigned fill = 'x') {
  return Tlv{type, Bytes(length, static_cast<std::byte>(fill))};
}

// A v2 header: signature, version/command and family bytes, the address block and the TLVs,
// with `len` computed unless `length_override` is given. `with_crc` appends a CRC32C TLV holding
// the right checksum (or `crc_delta` off it).
Bytes v2(unsigned version_command, unsigned family, const Bytes& addresses,
         const std::vector<Tlv>& tlvs = {}, bool with_crc = false, std::uint32_t crc_delta = 0) {
  Bytes out(kProxyV2Signature.begin(), kProxyV2Signature.end());
  append(out, {version_command, family, 0, 0});
  out.insert(out.end(), addresses.begin(), addresses.end());
  for (const Tlv& t : tlvs) {
    append(out, {t.type});
    append_be16(out, t.value.size());
    out.insert(out.end(), t.value.begin(), t.value.end());
  }
  std::size_t crc_at = 0;
  if (with_crc) {
    append(out, {0x03, 0, 4});
    crc_at = out.size();
    append(out, {0, 0, 0, 0});
  }
  const std::size_t len = out.size() - 16;
  out[14] = static_cast<std::byte>(len >> 8U);
  out[15] = static_cast<std::byte>(len & 0xFFU);
  if (with_crc) {
    const std::uint32_t crc = crc32c(out) + crc_delta;
    for (std::size_t i = 0; i < 4; ++i) {
      out[crc_at + i] = static_cast<std::byte>((crc >> (24 - 8 * i)) & 0xFFU);
    }
  }
  return out;
}

Bytes with_length(Bytes header, std::size_t len) {
  header[14] = static_cast<std::byte>(len >> 8U);
  header[15] = static_cast<std::byte>(len & 0xFFU);
  return header;
}

// 192.0.2.1:56324 -> 198.51.100.7:7
Bytes tcp4_addresses() {
  Bytes out;
  append(out, {192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0, 7});
  return out;
}

// [2001:db8::1]:1 -> [2001:db8::2]:65535, or the IPv4-mapped ::ffff:192.0.2.1 as source.
Bytes tcp6_addresses(bool mapped_source = false) {
  Bytes out;
  if (mapped_source) {
    append(out, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1});
  } else {
    append(out, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  }
  append(out, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  append(out, {0, 1, 0xff, 0xff});
  return out;
}

struct Valid {
  std::string name;
  Bytes header;
  std::uint8_t version;
  ProxyCommand command;
  std::string source;  // "" when the header carries no addresses
  std::string destination;
};

std::vector<Valid> valid_headers() {
  const std::string full_v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  std::vector<Valid> cases = {
      {"v1 tcp4", bytes_of("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 1,
       ProxyCommand::kProxy, "192.168.0.1:56324", "192.168.0.11:443"},
      {"v1 tcp4 port 0 and 65535", bytes_of("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), 1,
       ProxyCommand::kProxy, "0.0.0.0:0", "255.255.255.255:65535"},
      {"v1 tcp6", bytes_of("PROXY TCP6 2001:db8::1 ::1 1 7\r\n"), 1, ProxyCommand::kProxy,
       "[2001:db8::1]:1", "[::1]:7"},
      {"v1 tcp6 mapped", bytes_of("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:10.0.0.1 9 7\r\n"), 1,
       ProxyCommand::kProxy, "192.0.2.1:9", "10.0.0.1:7"},
      {"v1 tcp6 longest (104 bytes)",
       bytes_of("PROXY TCP6 " + full_v6 + " " + full_v6 + " 65535 65535\r\n"), 1,
       ProxyCommand::kProxy, "[" + full_v6 + "]:65535", "[" + full_v6 + "]:65535"},
      {"v1 unknown", bytes_of("PROXY UNKNOWN\r\n"), 1, ProxyCommand::kLocal, "", ""},
      {"v1 unknown longest (107 bytes)",
       bytes_of("PROXY UNKNOWN " + full_v6 + " " + full_v6 + " 65535 65535\r\n"), 1,
       ProxyCommand::kLocal, "", ""},
      {"v2 local unspec (health check)", v2(0x20, 0x00, {}), 2, ProxyCommand::kLocal, "", ""},
      {"v2 local with tcp4 block", v2(0x20, 0x11, tcp4_addresses()), 2, ProxyCommand::kLocal, "",
       ""},
      {"v2 proxy unspec", v2(0x21, 0x00, {}), 2, ProxyCommand::kProxy, "", ""},
      {"v2 tcp4", v2(0x21, 0x11, tcp4_addresses()), 2, ProxyCommand::kProxy, "192.0.2.1:56324",
       "198.51.100.7:7"},
      {"v2 tcp6", v2(0x21, 0x21, tcp6_addresses()), 2, ProxyCommand::kProxy, "[2001:db8::1]:1",
       "[2001:db8::2]:65535"},
      {"v2 tcp6 mapped", v2(0x21, 0x21, tcp6_addresses(true)), 2, ProxyCommand::kProxy,
       "192.0.2.1:1", "[2001:db8::2]:65535"},
      {"v2 udp4 skipped", v2(0x21, 0x12, tcp4_addresses()), 2, ProxyCommand::kProxy, "", ""},
      {"v2 udp6 skipped", v2(0x21, 0x22, tcp6_addresses()), 2, ProxyCommand::kProxy, "", ""},
      {"v2 unix stream 216", v2(0x21, 0x31, Bytes(216, std::byte{'u'})), 2, ProxyCommand::kProxy,
       "", ""},
      {"v2 unix dgram 216", v2(0x21, 0x32, Bytes(216, std::byte{'u'})), 2, ProxyCommand::kProxy, "",
       ""},
      {"v2 tlvs",
       v2(0x21, 0x11, tcp4_addresses(),
          {tlv(0x01, 2), tlv(0x02, 11), tlv(0x04, 0), tlv(0xEA, 22), tlv(0x20, 5)}),
       2, ProxyCommand::kProxy, "192.0.2.1:56324", "198.51.100.7:7"},
      {"v2 crc32c", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x05, 128)}, true), 2,
       ProxyCommand::kProxy, "192.0.2.1:56324", "198.51.100.7:7"},
      {"v2 local crc32c", v2(0x20, 0x00, {}, {}, true), 2, ProxyCommand::kLocal, "", ""},
      {"v2 4096 bytes", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x04, 4096 - 16 - 12 - 3)}), 2,
       ProxyCommand::kProxy, "192.0.2.1:56324", "198.51.100.7:7"},
  };
  return cases;
}

struct Invalid {
  std::string name;
  Bytes header;
  ProxyReject reason;
  ProxyMode mode = ProxyMode::kAny;
};

std::vector<Invalid> invalid_headers() {
  const std::string full_v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const Bytes tcp4 = v2(0x21, 0x11, tcp4_addresses());
  Bytes cr_lf_inside = bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  cr_lf_inside[10] = std::byte{0};
  return {
      {"http", bytes_of("GET / HTTP/1.0\r\n"), ProxyReject::kNotProxy},
      {"lower case", bytes_of("PROXy TCP4"), ProxyReject::kNotProxy},
      {"no space after PROXY", bytes_of("PROXYTCP4"), ProxyReject::kNotProxy},
      {"v2 signature typo", bytes_of(std::string("\r\n\r\n\0\r\nQUIX\n", 12)),
       ProxyReject::kNotProxy},
      {"CRLF then text", bytes_of("\r\nGET"), ProxyReject::kNotProxy},
      {"v1 on a v2 listener", bytes_of("PROXY "), ProxyReject::kVersion, ProxyMode::kV2},
      {"v2 on a v1 listener", Bytes(kProxyV2Signature.begin(), kProxyV2Signature.end()),
       ProxyReject::kVersion, ProxyMode::kV1},
      {"v1 leading zero", bytes_of("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 short ipv4", bytes_of("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 octet 256", bytes_of("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 double space", bytes_of("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 double space later", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 trailing space", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"),
       ProxyReject::kV1Invalid},
      {"v1 tab", bytes_of("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 port 65536", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 port 99999", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 port six digits", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 port leading zero", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 port 00", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n"), ProxyReject::kV1Invalid},
      {"v1 port plus", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 port minus", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 port hex", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 ipv4 in tcp6", bytes_of("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 ipv6 in tcp4", bytes_of("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 ipv6 scope", bytes_of("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), ProxyReject::kV1Invalid},
      {"v1 unknown protocol", bytes_of("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 lower case protocol", bytes_of("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"),
       ProxyReject::kV1Invalid},
      {"v1 missing port", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), ProxyReject::kV1Invalid},
      {"v1 extra field", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), ProxyReject::kV1Invalid},
      {"v1 empty", bytes_of("PROXY \r\n"), ProxyReject::kV1Invalid},
      {"v1 unknownx", bytes_of("PROXY UNKNOWNX\r\n"), ProxyReject::kV1Invalid},
      {"v1 lone LF", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), ProxyReject::kV1Invalid},
      {"v1 lone CR", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), ProxyReject::kV1Invalid},
      {"v1 CR CR LF", bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n"), ProxyReject::kV1Invalid},
      {"v1 NUL", cr_lf_inside, ProxyReject::kV1Invalid},
      {"v1 108 bytes", bytes_of("PROXY UNKNOWN " + full_v6 + " " + full_v6 + " 65535 655350\r\n"),
       ProxyReject::kV1TooLong},
      {"v1 107 bytes without CRLF", bytes_of("PROXY UNKNOWN " + std::string(93, 'a')),
       ProxyReject::kV1TooLong},
      {"v1 CR as byte 107", bytes_of("PROXY UNKNOWN " + std::string(92, 'a') + "\r"),
       ProxyReject::kV1TooLong},
      {"v2 version 1", v2(0x11, 0x11, tcp4_addresses()), ProxyReject::kV2Version},
      {"v2 version 3", v2(0x31, 0x11, tcp4_addresses()), ProxyReject::kV2Version},
      {"v2 version 0", v2(0x01, 0x11, tcp4_addresses()), ProxyReject::kV2Version},
      {"v2 command 2", v2(0x22, 0x11, tcp4_addresses()), ProxyReject::kV2Command},
      {"v2 command 15", v2(0x2F, 0x11, tcp4_addresses()), ProxyReject::kV2Command},
      {"v2 family 0x13", v2(0x21, 0x13, tcp4_addresses()), ProxyReject::kV2Family},
      {"v2 family 0x41", v2(0x21, 0x41, tcp4_addresses()), ProxyReject::kV2Family},
      {"v2 family 0x01", v2(0x21, 0x01, {}), ProxyReject::kV2Family},
      {"v2 family 0x10", v2(0x21, 0x10, tcp4_addresses()), ProxyReject::kV2Family},
      {"v2 4097 bytes", with_length(tcp4, 4097 - 16), ProxyReject::kV2TooLarge},
      {"v2 len 65535", with_length(tcp4, 65535), ProxyReject::kV2TooLarge},
      {"v2 tcp4 len 11", with_length(tcp4, 11), ProxyReject::kV2ShortAddress},
      {"v2 tcp6 len 35", with_length(v2(0x21, 0x21, tcp6_addresses()), 35),
       ProxyReject::kV2ShortAddress},
      {"v2 unix len 215", v2(0x21, 0x31, Bytes(215, std::byte{'u'})), ProxyReject::kV2ShortAddress},
      {"v2 local tcp4 len 0", v2(0x20, 0x11, {}), ProxyReject::kV2ShortAddress},
      {"v2 one stray byte",
       v2(0x21, 0x11,
          [] {
            Bytes b = tcp4_addresses();
            append(b, {0x04});
            return b;
          }()),
       ProxyReject::kV2Tlv},
      {"v2 two stray bytes",
       v2(0x21, 0x11,
          [] {
            Bytes b = tcp4_addresses();
            append(b, {0x04, 0});
            return b;
          }()),
       ProxyReject::kV2Tlv},
      {"v2 tlv over the end",
       v2(0x21, 0x11,
          [] {
            Bytes b = tcp4_addresses();
            append(b, {0x04, 0, 5, 'a', 'b', 'c', 'd'});
            return b;
          }()),
       ProxyReject::kV2Tlv},
      {"v2 crc32c wrong", v2(0x21, 0x11, tcp4_addresses(), {}, true, 1), ProxyReject::kV2Checksum},
      {"v2 crc32c 3 bytes", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x03, 3)}), ProxyReject::kV2Tlv},
      {"v2 crc32c 5 bytes", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x03, 5)}), ProxyReject::kV2Tlv},
      {"v2 two crc32c", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x03, 4, 0)}, true),
       ProxyReject::kV2Tlv},
      {"v2 unique id 129", v2(0x21, 0x11, tcp4_addresses(), {tlv(0x05, 129)}), ProxyReject::kV2Tlv},
  };
}

std::string describe(const ProxyParseResult& result) {
  if (std::holds_alternative<ProxyNeedMore>(result)) return "need more";
  if (const auto* rejected = std::get_if<ProxyRejected>(&result)) {
    return "rejected: " + std::string(info(rejected->reason).label);
  }
  return "complete";
}

TEST(ProxyHeaderTest, AcceptsValidHeaders) {
  for (const Valid& c : valid_headers()) {
    SCOPED_TRACE(c.name);
    const auto result = parse_proxy_header(c.header, ProxyMode::kAny);
    const auto* header = std::get_if<ProxyHeader>(&result);
    ASSERT_NE(header, nullptr) << describe(result);
    EXPECT_EQ(header->version, c.version);
    EXPECT_EQ(header->command, c.command);
    EXPECT_EQ(header->header_length, c.header.size());
    EXPECT_EQ(header->has_addresses(), !c.source.empty());
    if (!c.source.empty()) {
      EXPECT_EQ(header->source.to_string(), c.source);
      EXPECT_EQ(header->destination.to_string(), c.destination);
      EXPECT_EQ(header->family, header->source.family());
    }
    const ProxyMode own = c.version == 1 ? ProxyMode::kV1 : ProxyMode::kV2;
    EXPECT_TRUE(std::holds_alternative<ProxyHeader>(parse_proxy_header(c.header, own)));
  }
}

template <typename Case>
std::size_t size_of(const std::vector<Case>& cases, std::string_view name) {
  for (const Case& c : cases) {
    if (c.name == name) return c.header.size();
  }
  ADD_FAILURE() << "no case " << name;
  return 0;
}

TEST(ProxyHeaderTest, LengthEdgesAreExact) {
  EXPECT_EQ(size_of(valid_headers(), "v1 tcp6 longest (104 bytes)"), 104U);
  EXPECT_EQ(size_of(valid_headers(), "v1 unknown longest (107 bytes)"), kMaxProxyV1Length);
  EXPECT_EQ(size_of(valid_headers(), "v2 4096 bytes"), kMaxProxyV2Length);
  EXPECT_EQ(size_of(invalid_headers(), "v1 108 bytes"), kMaxProxyV1Length + 1);
  EXPECT_EQ(size_of(invalid_headers(), "v1 107 bytes without CRLF"), kMaxProxyV1Length);
  EXPECT_EQ(size_of(invalid_headers(), "v1 CR as byte 107"), kMaxProxyV1Length);
}

TEST(ProxyHeaderTest, RejectsInvalidHeaders) {
  for (const Invalid& c : invalid_headers()) {
    SCOPED_TRACE(c.name);
    const auto result = parse_proxy_header(c.header, c.mode);
    const auto* rejected = std::get_if<ProxyRejected>(&result);
    ASSERT_NE(rejected, nullptr) << describe(result);
    EXPECT_EQ(info(rejected->reason).label, info(c.reason).label);
  }
}

// A header that arrives a byte at a time, or in any two pieces, is the same header: every prefix
// asks for more, and never more than the header is needed.
TEST(ProxyHeaderTest, EveryPrefixOfAValidHeaderNeedsMore) {
  for (const Valid& c : valid_headers()) {
    SCOPED_TRACE(c.name);
    for (std::size_t split = 0; split < c.header.size(); ++split) {
      const auto result = parse_proxy_header(std::span(c.header).first(split), ProxyMode::kAny);
      ASSERT_TRUE(std::holds_alternative<ProxyNeedMore>(result))
          << "split at " << split << ": " << describe(result);
    }
  }
}

// No prefix of an invalid header is ever taken for a header, and the verdict on the whole input
// does not change when more bytes follow (the rejection is final).
TEST(ProxyHeaderTest, NoPrefixOfAnInvalidHeaderIsAccepted) {
  for (const Invalid& c : invalid_headers()) {
    SCOPED_TRACE(c.name);
    for (std::size_t split = 0; split <= c.header.size(); ++split) {
      const auto result = parse_proxy_header(std::span(c.header).first(split), c.mode);
      ASSERT_FALSE(std::holds_alternative<ProxyHeader>(result)) << "split at " << split;
    }
    Bytes longer = c.header;
    longer.insert(longer.end(), 64, std::byte{'z'});
    EXPECT_TRUE(std::holds_alternative<ProxyRejected>(parse_proxy_header(longer, c.mode)));
  }
}

// Payload in the same segment is not part of the header, whatever it looks like: a second
// header, bytes that would be a TLV, a CRLF.
TEST(ProxyHeaderTest, BytesAfterTheHeaderAreLeftAlone) {
  for (const Valid& c : valid_headers()) {
    SCOPED_TRACE(c.name);
    for (const std::string_view tail :
         {std::string_view("\x03\x00\x04zzzz", 7),
          std::string_view("PROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n"), std::string_view("\r\n")}) {
      Bytes fused = c.header;
      const Bytes t = bytes_of(tail);
      fused.insert(fused.end(), t.begin(), t.end());
      const auto result = parse_proxy_header(fused, ProxyMode::kAny);
      const auto* header = std::get_if<ProxyHeader>(&result);
      ASSERT_NE(header, nullptr) << describe(result);
      EXPECT_EQ(header->header_length, c.header.size());
    }
  }
}

TEST(ProxyHeaderTest, TooLargeIsDecidedFromTheFixedPart) {
  const Bytes header = with_length(v2(0x21, 0x11, tcp4_addresses()), 4097 - 16);
  const auto result = parse_proxy_header(std::span(header).first(16), ProxyMode::kAny);
  ASSERT_TRUE(std::holds_alternative<ProxyRejected>(result));
  EXPECT_EQ(std::get<ProxyRejected>(result).reason, ProxyReject::kV2TooLarge);
}

TEST(ProxyHeaderTest, Crc32cMatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283U);
  EXPECT_EQ(crc32c(bytes_of("")), 0U);
  const Bytes all = bytes_of("123456789");
  EXPECT_EQ(crc32c(std::span(all).subspan(4), crc32c(std::span(all).first(4))), 0xE3069283U);
}

// What a load generator sends is what the parser reads back.
TEST(ProxyHeaderTest, MadeHeadersParseBack) {
  const SocketAddress v4 = *SocketAddress::parse("192.0.2.1:40000").address;
  const SocketAddress v4_server = *SocketAddress::parse("127.0.0.1:7").address;
  const SocketAddress v6 = *SocketAddress::parse("[2001:db8::1]:1").address;
  struct Case {
    std::uint8_t version;
    SocketAddress source;
    SocketAddress destination;
    std::string destination_text;  // as parsed back (IPv4-mapped addresses become IPv4)
  };
  for (const Case& c :
       {Case{1, v4, v4_server, "127.0.0.1:7"}, Case{2, v4, v4_server, "127.0.0.1:7"},
        Case{1, v6, v4_server, "127.0.0.1:7"}, Case{2, v6, v4_server, "127.0.0.1:7"},
        Case{2, v4, v6, "[2001:db8::1]:1"}}) {
    const std::vector<std::byte> made = make_proxy_header(c.version, c.source, c.destination);
    const auto result = parse_proxy_header(made, ProxyMode::kAny);
    const auto* header = std::get_if<ProxyHeader>(&result);
    ASSERT_NE(header, nullptr) << describe(result);
    EXPECT_EQ(header->version, c.version);
    EXPECT_EQ(header->header_length, made.size());
    EXPECT_EQ(header->source, c.source);
    EXPECT_EQ(header->destination.to_string(), c.destination_text);
  }
}

TEST(ProxyHeaderTest, ReasonsHaveDistinctLabels) {
  const auto labels = labels_of<ProxyReject>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    EXPECT_FALSE(labels.at(i).empty());
    for (std::size_t j = i + 1; j < labels.size(); ++j) EXPECT_NE(labels.at(i), labels.at(j));
  }
  EXPECT_EQ(info(ProxyReject::kUntrusted).label, "untrusted");
  EXPECT_EQ(info(ProxyReject::kTimeout).label, "timeout");
  EXPECT_EQ(to_string(ProxyMode::kAny), "any");
}

}  // namespace
}  // namespace echod
