#include "sys/socket_address.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "sys/unique_fd.hpp"

namespace echod {
namespace {

SocketAddress parse_ok(std::string_view text) {
  auto result = SocketAddress::parse(text);
  EXPECT_TRUE(result.address) << text << ": " << result.error;
  EXPECT_EQ(result.error, "");
  return result.address.value_or(SocketAddress{});
}

std::string parse_error(std::string_view text) {
  auto result = SocketAddress::parse(text);
  EXPECT_FALSE(result.address) << text << " parsed as " << result.address->to_string();
  return result.error;
}

TEST(SocketAddressTest, ParsesIpv4) {
  SocketAddress address = parse_ok("192.0.2.10:7007");
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_EQ(address.port(), 7007);
  EXPECT_EQ(address.length(), sizeof(sockaddr_in));
  EXPECT_EQ(address.host_string(), "192.0.2.10");
  EXPECT_EQ(address.to_string(), "192.0.2.10:7007");
}

TEST(SocketAddressTest, ParsesIpv6InBrackets) {
  SocketAddress address = parse_ok("[2001:db8::1]:7");
  EXPECT_EQ(address.family(), AF_INET6);
  EXPECT_EQ(address.port(), 7);
  EXPECT_EQ(address.length(), sizeof(sockaddr_in6));
  EXPECT_EQ(address.host_string(), "2001:db8::1");
  EXPECT_EQ(address.to_string(), "[2001:db8::1]:7");
}

TEST(SocketAddressTest, FormatsIpv6Canonically) {
  EXPECT_EQ(parse_ok("[0:0:0:0:0:0:0:1]:7").to_string(), "[::1]:7");
  EXPECT_EQ(parse_ok("[2001:DB8::A]:7").to_string(), "[2001:db8::a]:7");
}

TEST(SocketAddressTest, LocalhostIsIpv4LoopbackWithoutDns) {
  SocketAddress address = parse_ok("localhost:8");
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_EQ(address.to_string(), "127.0.0.1:8");
  EXPECT_EQ(address, parse_ok("127.0.0.1:8"));
}

TEST(SocketAddressTest, StarIsIpv4Wildcard) {
  SocketAddress address = parse_ok("*:7");
  EXPECT_EQ(address.to_string(), "0.0.0.0:7");
  EXPECT_TRUE(address.is_wildcard());
}

TEST(SocketAddressTest, PortZeroAndMaximum) {
  EXPECT_EQ(parse_ok("127.0.0.1:0").port(), 0);
  EXPECT_EQ(parse_ok("[::1]:0").port(), 0);
  EXPECT_EQ(parse_ok("127.0.0.1:65535").port(), 65535);
}

TEST(SocketAddressTest, PortZeroIsNoPortToConnectTo) {
  using Use = SocketAddress::Use;
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:0", Use::kConnect).error,
            "port 0 is out of range 1-65535");
  EXPECT_EQ(SocketAddress::parse("[::1]:70000", Use::kConnect).error,
            "port 70000 is out of range 1-65535");
  EXPECT_EQ(SocketAddress::parse("[::1]:1", Use::kConnect).address->port(), 1);
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:65535", Use::kConnect).address->port(), 65535);
}

TEST(SocketAddressTest, RoundTripsThroughText) {
  for (std::string_view text :
       {"127.0.0.1:7", "0.0.0.0:65535", "[::1]:7", "[::]:0", "[fe80::1:2]:9000", "10.255.0.1:1"}) {
    EXPECT_EQ(parse_ok(text).to_string(), text);
    EXPECT_EQ(parse_ok(parse_ok(text).to_string()), parse_ok(text));
  }
}

TEST(SocketAddressTest, RejectsMissingPort) {
  EXPECT_EQ(parse_error("127.0.0.1"),
            "'127.0.0.1': expected HOST:PORT, e.g. 127.0.0.1:7 or [::1]:7");
  EXPECT_EQ(parse_error("127.0.0.1:"), "missing port after ':'");
  EXPECT_EQ(parse_error("[::1]"), "'[::1]': expected ':PORT' after ']'");
  EXPECT_EQ(parse_error("[::1]:"), "missing port after ':'");
  EXPECT_EQ(parse_error(""), "'': expected HOST:PORT, e.g. 127.0.0.1:7 or [::1]:7");
}

TEST(SocketAddressTest, RejectsPortOutOfRange) {
  EXPECT_EQ(parse_error("127.0.0.1:70000"), "port 70000 is out of range 0-65535");
  EXPECT_EQ(parse_error("127.0.0.1:65536"), "port 65536 is out of range 0-65535");
  EXPECT_EQ(parse_error("[::1]:99999999999999999999999"),
            "port 99999999999999999999999 is out of range 0-65535");
}

TEST(SocketAddressTest, RejectsNonNumericPort) {
  EXPECT_EQ(parse_error("127.0.0.1:echo"), "port 'echo' is not a number");
  EXPECT_EQ(parse_error("127.0.0.1:-1"), "port '-1' is not a number");
  EXPECT_EQ(parse_error("127.0.0.1:7x"), "port '7x' is not a number");
  EXPECT_EQ(parse_error("127.0.0.1: 7"), "port ' 7' is not a number");
}

TEST(SocketAddressTest, RejectsBadHosts) {
  EXPECT_EQ(parse_error("example.com:7"),
            "'example.com' is not a valid IPv4 address (host names other than localhost are not "
            "resolved)");
  EXPECT_EQ(parse_error("256.0.0.1:7"),
            "'256.0.0.1' is not a valid IPv4 address (host names other than localhost are not "
            "resolved)");
  EXPECT_EQ(parse_error("[::g]:7"), "'::g' is not a valid IPv6 address");
  EXPECT_EQ(parse_error("[127.0.0.1]:7"), "'127.0.0.1' is not a valid IPv6 address");
  EXPECT_EQ(parse_error(":7"), "':7': missing host before ':'");
  EXPECT_EQ(parse_error("[::1:7"), "'[::1:7': missing ']'");
}

TEST(SocketAddressTest, RejectsIpv6WithoutBrackets) {
  EXPECT_EQ(parse_error("::1:7"), "'::1:7': an IPv6 address with a port must be written [::1]:7");
  EXPECT_EQ(parse_error("2001:db8::1:7"),
            "'2001:db8::1:7': an IPv6 address with a port must be written [2001:db8::1]:7");
  // Split at the last ':', "::1" would be port 1 of ":", no address: no such advice then.
  EXPECT_EQ(parse_error("::1"), "'::1': write IPv6 addresses in brackets, e.g. [::1]:7");
  EXPECT_EQ(parse_error("fe80::a:b:c:d:e:f:1:7"),
            "'fe80::a:b:c:d:e:f:1:7': write IPv6 addresses in brackets, e.g. [::1]:7");
}

TEST(SocketAddressTest, RejectsEmbeddedNul) {
  using namespace std::string_view_literals;
  EXPECT_EQ(parse_error("127.0.0.1\0junk:7"sv), "address contains a NUL byte");
  EXPECT_EQ(parse_error("[::1\0]:7"sv), "address contains a NUL byte");
}

TEST(SocketAddressTest, DetectsWildcards) {
  EXPECT_TRUE(parse_ok("0.0.0.0:7").is_wildcard());
  EXPECT_TRUE(parse_ok("[::]:7").is_wildcard());
  EXPECT_FALSE(parse_ok("127.0.0.1:7").is_wildcard());
  EXPECT_FALSE(parse_ok("[::1]:7").is_wildcard());
  EXPECT_FALSE(parse_ok("192.0.2.1:7").is_wildcard());
  EXPECT_FALSE(SocketAddress{}.is_wildcard());
}

TEST(SocketAddressTest, DetectsLoopback) {
  EXPECT_TRUE(parse_ok("127.0.0.1:7").is_loopback());
  EXPECT_TRUE(parse_ok("127.255.0.9:7").is_loopback());
  EXPECT_TRUE(parse_ok("localhost:7").is_loopback());
  EXPECT_TRUE(parse_ok("[::1]:7").is_loopback());
  EXPECT_FALSE(parse_ok("128.0.0.1:7").is_loopback());
  EXPECT_FALSE(parse_ok("0.0.0.0:7").is_loopback());
  EXPECT_FALSE(parse_ok("[::]:7").is_loopback());
  EXPECT_FALSE(parse_ok("[::2]:7").is_loopback());
  EXPECT_FALSE(SocketAddress{}.is_loopback());
}

TEST(SocketAddressTest, EqualityComparesFamilyAddressAndPort) {
  EXPECT_EQ(parse_ok("127.0.0.1:7"), parse_ok("127.0.0.1:7"));
  EXPECT_NE(parse_ok("127.0.0.1:7"), parse_ok("127.0.0.1:8"));
  EXPECT_NE(parse_ok("127.0.0.1:7"), parse_ok("127.0.0.2:7"));
  EXPECT_NE(parse_ok("0.0.0.0:7"), parse_ok("[::]:7"));
}

TEST(SocketAddressTest, SetPortChangesOnlyThePort) {
  SocketAddress address = parse_ok("[::1]:0");
  address.set_port(4242);
  EXPECT_EQ(address.to_string(), "[::1]:4242");
  EXPECT_EQ(address, parse_ok("[::1]:4242"));
}

TEST(SocketAddressTest, FromSockaddrCopiesTheAddress) {
  SocketAddress original = parse_ok("[2001:db8::7]:77");
  SocketAddress copy = SocketAddress::from_sockaddr(original.data(), original.length());
  EXPECT_EQ(copy, original);
  EXPECT_EQ(copy.to_string(), "[2001:db8::7]:77");
}

TEST(SocketAddressTest, FromIpv4TakesHostByteOrder) {
  SocketAddress address = SocketAddress::from_ipv4(0x7f000001, 7);
  EXPECT_EQ(address, parse_ok("127.0.0.1:7"));
  EXPECT_EQ(SocketAddress::from_ipv4(0xc0a80aff, 0).to_string(), "192.168.10.255:0");
}

TEST(SocketAddressTest, LocalOfReportsTheBoundPort) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  SocketAddress any_port = parse_ok("127.0.0.1:0");
  ASSERT_EQ(::bind(fd.get(), any_port.data(), any_port.length()), 0);
  SocketAddress bound = SocketAddress::local_of(fd.get());
  EXPECT_EQ(bound.family(), AF_INET);
  EXPECT_EQ(bound.host_string(), "127.0.0.1");
  EXPECT_NE(bound.port(), 0);
}

TEST(SocketAddressTest, LocalOfThrowsForABadFd) {
  EXPECT_THROW(SocketAddress::local_of(-1), std::system_error);
}

}  // namespace
}  // namespace echod
