#include <arpa/inet.h>

#include <string>

#include <gtest/gtest.h>

#include "sys/socket_address.hpp"
#include "udp/guard.hpp"

namespace echod::udp {
namespace {

SocketAddress address(const std::string& text) { return *SocketAddress::parse(text).address; }

PacketInfo destination(const std::string& host) {
  PacketInfo info;
  if (::inet_pton(AF_INET, host.c_str(), &info.v4) == 1) {
    info.family = AF_INET;
  } else if (::inet_pton(AF_INET6, host.c_str(), &info.v6) == 1) {
    info.family = AF_INET6;
  }
  return info;
}

// The guard's verdict for a datagram from `source` to `to`, arriving on lo or not.
std::optional<DropReason> check(const Guard& guard, const std::string& source,
                                const std::string& to, bool on_loopback) {
  auto from = address(source);
  auto info = destination(to);
  return guard.check({from.data(), from.length(), &info, on_loopback});
}

std::optional<DropReason> check_public(const Guard& guard, const std::string& source) {
  bool v6 = source.starts_with('[');
  return check(guard, source, v6 ? "2001:db8::7" : "192.0.2.7", false);
}

GuardConfig default_config() {
  GuardConfig config;
  config.own_ports = {7, 40007};
  in_addr broadcast{};
  ::inet_pton(AF_INET, "192.0.2.255", &broadcast);
  config.broadcast_addresses = {broadcast};
  return config;
}

TEST(UdpGuardTest, ClientPortsPass) {
  Guard guard(default_config());
  EXPECT_EQ(check_public(guard, "198.51.100.1:1024"), std::nullopt);
  EXPECT_EQ(check_public(guard, "198.51.100.1:40000"), std::nullopt);
  EXPECT_EQ(check_public(guard, "198.51.100.1:65535"), std::nullopt);
  EXPECT_EQ(check_public(guard, "[2001:db8::1]:50000"), std::nullopt);
}

TEST(UdpGuardTest, ServicePortsAreRefusedWithTheirOwnReasons) {
  Guard guard(default_config());
  EXPECT_EQ(check_public(guard, "198.51.100.1:0"), DropReason::kSrcPortZero);
  for (const char* port : {"1", "7", "9", "13", "19", "37", "53", "123", "1023"}) {
    EXPECT_EQ(check_public(guard, std::string("198.51.100.1:") + port),
              DropReason::kPrivilegedSrcPort)
        << port;
  }
  for (auto port : GuardConfig::default_deny_source_ports()) {
    EXPECT_EQ(check_public(guard, "198.51.100.1:" + std::to_string(port)),
              DropReason::kDeniedSrcPort)
        << port;
  }
  EXPECT_EQ(check_public(guard, "[2001:db8::1]:11211"), DropReason::kDeniedSrcPort);
  // Two echods on the same high port must not echo each other.
  EXPECT_EQ(check_public(guard, "198.51.100.1:40007"), DropReason::kOwnPort);
  EXPECT_EQ(check_public(guard, "[2001:db8::1]:40007"), DropReason::kOwnPort);
}

TEST(UdpGuardTest, PortRulesFollowTheConfiguration) {
  GuardConfig config;
  config.min_source_port = 1;
  config.deny_source_ports = {};
  Guard guard(config);
  EXPECT_EQ(check_public(guard, "198.51.100.1:53"), std::nullopt);
  EXPECT_EQ(check_public(guard, "198.51.100.1:2049"), std::nullopt);
  EXPECT_EQ(check_public(guard, "198.51.100.1:0"), DropReason::kSrcPortZero);
}

TEST(UdpGuardTest, ImpossibleIpv4SourcesAreRefused) {
  Guard guard(default_config());
  for (const char* host : {"0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "240.0.0.1",
                           "255.255.255.255", "192.0.2.255"}) {
    EXPECT_EQ(check_public(guard, std::string(host) + ":40000"), DropReason::kBadSrcAddr) << host;
  }
  EXPECT_EQ(check_public(guard, "192.0.2.254:40000"), std::nullopt) << "not the broadcast";
}

TEST(UdpGuardTest, ImpossibleIpv6SourcesAreRefused) {
  Guard guard(default_config());
  for (const char* host : {"[::]", "[ff02::1]", "[ff05::2]", "[::ffff:127.0.0.1]",
                           "[::ffff:198.51.100.1]", "[::198.51.100.1]"}) {
    EXPECT_EQ(check_public(guard, std::string(host) + ":40000"), DropReason::kBadSrcAddr) << host;
  }
  EXPECT_EQ(check_public(guard, "[fe80::1]:40000"), std::nullopt) << "link-local is a client";
}

TEST(UdpGuardTest, LoopbackSourcesOnlyFromTheLoopbackInterface) {
  Guard guard(default_config());
  EXPECT_EQ(check(guard, "127.0.0.1:40000", "127.0.0.1", true), std::nullopt);
  EXPECT_EQ(check(guard, "127.8.9.10:40000", "127.0.0.1", true), std::nullopt);
  EXPECT_EQ(check(guard, "[::1]:40000", "::1", true), std::nullopt);
  EXPECT_EQ(check(guard, "127.0.0.1:40000", "192.0.2.7", false), DropReason::kLoopbackSrcOffLo);
  EXPECT_EQ(check(guard, "[::1]:40000", "2001:db8::7", false), DropReason::kLoopbackSrcOffLo);
}

TEST(UdpGuardTest, OnlyUnicastDestinationsAreAnswered) {
  Guard guard(default_config());
  for (const char* to : {"255.255.255.255", "192.0.2.255", "224.0.0.1", "239.1.2.3"}) {
    EXPECT_EQ(check(guard, "198.51.100.1:40000", to, false), DropReason::kNonUnicastDst) << to;
  }
  EXPECT_EQ(check(guard, "[2001:db8::1]:40000", "ff02::1", false), DropReason::kNonUnicastDst);
  EXPECT_EQ(check(guard, "198.51.100.1:40000", "192.0.2.7", false), std::nullopt);
  // Without PKTINFO there is no destination to judge: the rule is skipped, not failed.
  auto from = address("198.51.100.1:40000");
  EXPECT_EQ(guard.check({from.data(), from.length(), nullptr, false}), std::nullopt);
}

TEST(UdpGuardTest, AccessListHasTcpSemantics) {
  GuardConfig config = default_config();
  config.allow = {*Cidr::parse("198.51.100.0/24").cidr, *Cidr::parse("2001:db8::/32").cidr};
  config.deny = {*Cidr::parse("198.51.100.66").cidr};
  Guard guard(config);
  EXPECT_EQ(check_public(guard, "198.51.100.1:40000"), std::nullopt);
  EXPECT_EQ(check_public(guard, "198.51.100.66:40000"), DropReason::kAccessDenied) << "deny wins";
  EXPECT_EQ(check_public(guard, "203.0.113.1:40000"), DropReason::kAccessDenied) << "not allowed";
  EXPECT_EQ(check_public(guard, "[2001:db8::1]:40000"), std::nullopt);

  GuardConfig deny_only = default_config();
  deny_only.deny = {*Cidr::parse("203.0.113.0/24").cidr};
  Guard open(deny_only);
  EXPECT_EQ(check_public(open, "198.51.100.1:40000"), std::nullopt) << "empty allow: everyone";
  EXPECT_EQ(check_public(open, "203.0.113.9:40000"), DropReason::kAccessDenied);
}

TEST(UdpGuardTest, PortRulesComeBeforeAddressRules) {
  Guard guard(default_config());
  // A spoofed broadcast source on a service port: the cheaper port rule names it.
  EXPECT_EQ(check_public(guard, "255.255.255.255:19"), DropReason::kPrivilegedSrcPort);
}

TEST(UdpGuardTest, UnknownFamiliesAndMissingSourcesAreRefused) {
  Guard guard(default_config());
  sockaddr_storage storage{};
  storage.ss_family = AF_UNIX;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  const auto* source = reinterpret_cast<const sockaddr*>(&storage);
  EXPECT_EQ(guard.check({source, sizeof(storage), nullptr, false}), DropReason::kBadSrcAddr);
  EXPECT_EQ(guard.check({nullptr, 0, nullptr, false}), DropReason::kBadSrcAddr);
  // An IPv4 family with a short length: not trusted.
  auto from = address("198.51.100.1:40000");
  EXPECT_EQ(guard.check({from.data(), 4, nullptr, false}), DropReason::kBadSrcAddr);
}

TEST(UdpGuardTest, EveryReasonHasADistinctLabel) {
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    EXPECT_FALSE(kDropReasons[i].label.empty());
    EXPECT_FALSE(kDropReasons[i].log_text.empty());
    for (std::size_t j = i + 1; j < kDropReasonCount; ++j) {
      EXPECT_NE(kDropReasons[i].label, kDropReasons[j].label);
    }
  }
  EXPECT_EQ(to_label(DropReason::kOwnPort), "own_port");
}

}  // namespace
}  // namespace echod::udp
